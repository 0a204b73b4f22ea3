"""The service's Prometheus metrics: what each process counts as it works (docs/metrics.md lists them).

`configure(settings)` chooses, once per process, where they are kept: in this process's memory, or (with
WFS_METRICS_DIR) in the files the processes of one host share (observability/multiprocess.py). Every
process's Context opens with it (startup.py); `release` is its pair, and the last release of a process in
multiprocess mode folds its files. Code that counts asks `instruments()` for the current set.

Labels are bounded: a workflow's slug, a status, an origin, a pool, a model, a route template; never a job
id or a raw path. What is read from the database (jobs by status, agents) is not kept here: it is read
when scraped (observability/gauges.py).
"""

from __future__ import annotations

import threading
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector

from workflow_service.observability import multiprocess

JOB_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)
"""Buckets of the job histograms: from a fast transform job to a long multi-model job."""
HTTP_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
STEP_SECONDS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)


class Instruments:
    """One process's metrics. `registry` holds them in single-process mode; in multiprocess mode (`directory`)
    they are written to files and a scrape reads the directory instead."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.registry = None if directory is not None else CollectorRegistry()
        if self.registry is not None:
            ProcessCollector(registry=self.registry)
        r = self.registry
        self.jobs_submitted = Counter(
            "wfs_jobs_submitted",
            "Jobs created (the one way in), by workflow and origin.",
            ["workflow", "origin"],
            registry=r,
        )
        self.jobs_ended = Counter(
            "wfs_jobs_ended",
            "Jobs that reached a terminal status, by workflow, status and origin.",
            ["workflow", "status", "origin"],
            registry=r,
        )
        self.job_duration = Histogram(
            "wfs_job_duration_seconds",
            "From a job's submission to its end, by workflow and terminal status.",
            ["workflow", "status"],
            buckets=JOB_SECONDS,
            registry=r,
        )
        self.job_queue_wait = Histogram(
            "wfs_job_queue_wait_seconds",
            "From a job's submission to its first start, observed when it ends (jobs that never started: none).",
            ["workflow"],
            buckets=JOB_SECONDS,
            registry=r,
        )
        self.steps = Histogram(
            "wfs_step_duration_seconds",
            "Steps run, by step type and status.",
            ["type", "status"],
            buckets=STEP_SECONDS,
            registry=r,
        )
        self.llm_tokens = Counter(
            "wfs_llm_tokens",
            "Tokens of model calls, by model and direction (input, output).",
            ["model", "direction"],
            registry=r,
        )
        self.llm_cost = Counter(
            "wfs_llm_cost_credits", "Credits spent on model calls (WFS_PRICING), by model.", ["model"], registry=r
        )
        self.delivery_attempts = Counter(
            "wfs_delivery_attempts",
            "Push callback attempts, by outcome (succeeded, rejected, redirected, gone, unreachable) and trigger.",
            ["outcome", "trigger"],
            registry=r,
        )
        self.http_requests = Histogram(
            "wfs_http_request_duration_seconds",
            "API requests, by method, route template and status class.",
            ["method", "route", "status_class"],
            buckets=HTTP_SECONDS,
            registry=r,
        )
        self.heartbeats = Counter(
            "wfs_worker_heartbeats", "Worker heartbeats, by outcome (ok, failed).", ["outcome"], registry=r
        )


_lock = threading.Lock()
_current: Instruments | None = None
_users = 0


def instruments() -> Instruments:
    """The process's metrics (in memory until `configure` says otherwise)."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = Instruments()
    return _current


def configure(directory: Path | None) -> Instruments:
    """The process's metrics kept as `directory` says (WFS_METRICS_DIR). A process's Contexts share them: the
    same directory keeps the metrics counted so far; another one starts a new set."""
    global _current, _users
    with _lock:
        current = _current
        if current is None or current.directory != directory:
            if current is not None and current.directory is not None:
                multiprocess.retire(current.directory)
            if directory is not None:
                multiprocess.enable(directory)
            else:
                multiprocess.disable()
            _current = Instruments(directory)
        _users += 1
        assert _current is not None
        return _current


def release() -> None:
    """A Context of the process closed; after the last one, a multiprocess process's files are folded."""
    global _current, _users
    with _lock:
        _users = max(0, _users - 1)
        if _users == 0 and _current is not None and _current.directory is not None:
            multiprocess.retire(_current.directory)
            _current = None
