"""Reading what a downloaded output shows: the job as its reader may see it (jobs/service.get, so its inputs are
withheld exactly as in the job view), its workflow's name, and the step asked for; then the file in the format
asked for."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.errors import NoOutput, NotFound
from workflow_service.jobs import service as jobs
from workflow_service.jobs.schemas import JobRead, StepRead
from workflow_service.jobs.states import is_terminal
from workflow_service.jobs.views import Viewer
from workflow_service.outputs import document, filenames, render_pdf, render_text
from workflow_service.workflows import repository as workflows


class OutputFormat(StrEnum):
    """The formats of a downloaded output."""

    JSON = "json"
    TXT = "txt"
    MD = "md"
    PDF = "pdf"


MEDIA_TYPES = {
    OutputFormat.JSON: "application/json",
    OutputFormat.TXT: "text/plain; charset=utf-8",
    OutputFormat.MD: "text/markdown; charset=utf-8",
    OutputFormat.PDF: "application/pdf",
}


@dataclass(frozen=True)
class File:
    """A rendered output: its bytes, media type and `Content-Disposition`."""

    content: bytes
    media_type: str
    disposition: str


async def _workflow_name(conn: AsyncConnection, job: JobRead) -> str:
    row = await workflows.get_by_id(conn, job.workflow.id)
    return str(row.name) if row is not None else job.workflow.slug


async def _ended(conn: AsyncConnection, job_id: str, viewer: Viewer, *, with_steps: bool) -> JobRead:
    job = await jobs.get(conn, job_id, viewer=viewer, with_steps=with_steps)
    if not is_terminal(job.status):
        raise NoOutput(
            f"job {job.id} has not ended: it is {job.status.value}; its output can be downloaded once it ends",
            job_status=job.status.value,
        )
    return job


async def job_file(conn: AsyncConnection, job_id: str, viewer: Viewer, fmt: OutputFormat, *, with_steps: bool) -> File:
    """A job's output as a file: 404 for a job the reader may not see, 409 `no_output` until it has ended. A job
    that failed or was canceled gives a file too, saying why it has no output (its `json` is `null`)."""
    job = await _ended(conn, job_id, viewer, with_steps=with_steps)
    doc = document.of_job(job, await _workflow_name(conn, job), with_steps=with_steps)
    stem = filenames.stem(job.name, job.workflow.slug, job.id)
    json_value: Any = job.output
    if with_steps:
        json_value = {"output": job.output, "steps": [_step_json(s) for s in job.steps or []]}
    return await _file(doc, json_value, fmt, stem)


async def step_file(conn: AsyncConnection, job_id: str, step_id: str, viewer: Viewer, fmt: OutputFormat) -> File:
    """One step's output as a file: 404 for a step the job's version does not have, 409 `no_output` for one that
    has not completed (not run yet, running, failed or skipped)."""
    job = await jobs.get(conn, job_id, viewer=viewer, with_steps=True)
    step = next((s for s in job.steps or [] if s.id == step_id), None)
    if step is None:
        version = await workflows.get_version(conn, job.workflow.id, job.version)
        known = {s.get("id") for s in (version.definition.get("steps") or [])} if version is not None else set()
        if step_id not in known:
            raise NotFound(f"job {job.id} has no step {step_id!r}: its version {job.version} has no such step")
        raise NoOutput(
            f"step {step_id!r} of job {job.id} has not run: the job is {job.status.value}",
            job_status=job.status.value,
        )
    if step.status != "completed":
        raise NoOutput(
            f"step {step_id!r} of job {job.id} is {step.status}, so it has no output",
            job_status=job.status.value,
            step_status=step.status,
        )
    doc = document.of_step(job, await _workflow_name(conn, job), step)
    return await _file(doc, step.output, fmt, filenames.stem(job.name, job.workflow.slug, job.id, step.id))


def _step_json(step: StepRead) -> dict[str, Any]:
    shown = step.model_dump(mode="json", include={"id", "type", "status", "model", "started_at", "finished_at"})
    return {**shown, "latency_ms": step.latency_ms, "output": step.output, "error": step.error}


async def _file(doc: document.Document, json_value: Any, fmt: OutputFormat, stem: str) -> File:
    if fmt is OutputFormat.JSON:
        content = orjson.dumps(json_value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    elif fmt is OutputFormat.TXT:
        content = render_text.text_document(doc).encode()
    elif fmt is OutputFormat.MD:
        content = render_text.markdown_document(doc).encode()
    else:  # laying out a long output takes a while: off the event loop, so other requests keep being served
        content = await asyncio.to_thread(render_pdf.render, doc)
    return File(content, MEDIA_TYPES[fmt], filenames.content_disposition(stem, fmt.value))
