"""Waiting for a job as `wfs run`, `wfs jobs watch` and `wfs jobs rerun --wait` do: progress on stderr, the
output on stdout, and the exit code that says how the job ended."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wfs_client.cli.formats import Format
from wfs_client.cli.progress import display_for
from wfs_client.cli.state import emit, err
from wfs_client.client import Client
from wfs_client.follow import FollowTimeout, follow

COMPLETED, FAILED, TIMED_OUT, CANCELED, INTERRUPTED = 0, 1, 3, 4, 130
"""Exit codes: how the job ended, or that `wfs` stopped waiting."""


@dataclass(frozen=True)
class Waiting:
    """How to wait and where the output goes."""

    timeout_s: float | None
    timeout_text: str | None
    fmt: Format
    out_file: Path | None
    quiet: bool


def wait_for(client: Client, job_id: str, how: Waiting) -> int:
    """Follow the job to its end and report it; the exit code."""
    try:
        with display_for(job_id, how.quiet) as display:
            job = follow(client, job_id, timeout_s=how.timeout_s, on_event=display.event)
            display.finished(job)
    except FollowTimeout as exc:
        print(job_id, flush=True)
        err(
            f"wfs: job {job_id} is still {exc.job.get('status')} after {how.timeout_text}; "
            f"follow it on with: wfs jobs watch {job_id}"
        )
        return TIMED_OUT
    except KeyboardInterrupt:
        err(f"wfs: stopped waiting; job {job_id} keeps running. Cancel it with: wfs jobs cancel {job_id}")
        return INTERRUPTED
    return conclude(job, how)


def conclude(job: dict[str, Any], how: Waiting) -> int:
    """Print the output of a completed job, or why it did not complete; the exit code."""
    status = job["status"]
    if status == "completed":
        emit(job.get("output"), how.fmt, how.out_file)
        return COMPLETED
    if status == "canceled":
        err(f"wfs: job {job['id']} was canceled")
        return CANCELED
    error = job.get("error") or {}
    step = error.get("step")
    where = f" at step {step}" if step else ""
    message = f": {error['message']}" if error.get("message") else ""
    err(f"wfs: job {job['id']} failed{where}: {error.get('code') or 'error'}{message}")
    return FAILED
