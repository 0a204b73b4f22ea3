"""The monitor of a deployed workflow: its figures over a window with a time series, its runs, its model calls.

Every job runs a deployed version (a job is locked to a `workflow_version` row at submission, and a draft
cannot run: there is no test-run path), so every run of the workflow counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.engine.definition import PlanCache
from workflow_service.engine.steps.llm import LlmConfig
from workflow_service.errors import NotFound
from workflow_service.jobs import views
from workflow_service.jobs.states import StepStatus
from workflow_service.monitor import paging, stats, window
from workflow_service.monitor import repository as repo
from workflow_service.monitor.schemas import (
    ModelRunPage,
    ModelRunRead,
    ModelRunsQuery,
    ModelRunSummary,
    MonitorQuery,
    MonitorRead,
    PageQuery,
    QueueWait,
    ResponseTime,
    RunPage,
    RunRead,
    RunsQuery,
    SeriesPoint,
    WindowQuery,
)
from workflow_service.monitor.schemas import RunFigures as RunFiguresRead
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows import service as workflows
from workflow_service.workflows.refs import ScopedRef
from workflow_service.workflows.schemas import WorkflowRef

SECONDS_DIGITS = 6
"""Durations are shown to the microsecond, the resolution of the times they are computed from."""
CALL_STATUSES = (StepStatus.RUNNING.value, StepStatus.COMPLETED.value, StepStatus.FAILED.value)


def _s(value: float | None) -> float | None:
    return None if value is None else round(value, SECONDS_DIGITS)


def _between(later: datetime | None, earlier: datetime | None) -> float | None:
    return None if later is None or earlier is None else _s((later - earlier).total_seconds())


async def _workflow(conn: AsyncConnection, ref: ScopedRef) -> AnyRow:
    row = await workflow_repo.get(conn, ref)
    if row is None:
        raise NotFound(f"workflow {ref!r} does not exist")
    return row


def _scope(
    workflow: AnyRow, query: WindowQuery, span: window.Window, statuses: Sequence[str] | None = None
) -> repo.RunScope:
    return repo.RunScope(
        workflow_id=workflow.id,
        start=span.start,
        end=span.end,
        versions=window.versions(query.version, workflow.current_version),
        origins=window.origins(query.origin),
        statuses=statuses,
    )


def _run_figures(figures: stats.RunFigures) -> dict[str, Any]:
    p50, p90, p99 = figures.response.percentiles
    w50, w90 = figures.wait.percentiles
    return {
        "total": figures.total,
        "completed": figures.completed,
        "failed": figures.failed,
        "canceled": figures.canceled,
        "in_progress": figures.in_progress,
        "failure_rate": stats.failure_rate(figures.failed, figures.completed + figures.failed + figures.canceled),
        "response_time": ResponseTime(p50=_s(p50), p90=_s(p90), p99=_s(p99), max=_s(figures.response.max)),
        "queue_wait": QueueWait(p50=_s(w50), p90=_s(w90), max=_s(figures.wait.max)),
    }


async def monitor(conn: AsyncConnection, ref: ScopedRef, query: MonitorQuery, now: datetime) -> MonitorRead:
    """The workflow's runs submitted in the window: counted by outcome, their failure rate, response time and
    queue wait percentiles, over the window and in each bucket of its series."""
    workflow = await _workflow(conn, ref)
    span = window.window(query.from_, query.to, query.bucket, now)
    found = await repo.run_figures(conn, _scope(workflow, query, span), span.bucket_s)
    nothing = stats.run_figures([])
    return MonitorRead(
        workflow=WorkflowRef(id=workflow.id, slug=workflow.slug),
        from_=span.start,
        to=span.end,
        bucket_s=span.bucket_s,
        summary=RunFiguresRead(**_run_figures(found.get(None, nothing))),
        series=[
            SeriesPoint(start=b.start, end=b.end, **_run_figures(found.get(b.index, nothing))) for b in span.buckets()
        ],
    )


def _page_window(query: PageQuery, cursor: paging.Cursor | None, now: datetime) -> window.Window:
    """The window of a page: as asked, else the first page's (carried by its cursor)."""
    start, end = query.from_, query.to
    if cursor is not None:
        start, end = start or cursor.start, end or cursor.end
    return window.window(start, end, None, now)


async def runs(conn: AsyncConnection, ref: ScopedRef, query: RunsQuery, now: datetime) -> RunPage:
    """The workflow's runs submitted in the window, newest first: ids, times, outcome, origin, creator and the
    number of steps each ran."""
    workflow = await _workflow(conn, ref)
    cursor = paging.decode(query.cursor, paging.JOB_KEY_BYTES)
    span = _page_window(query, cursor, now)
    scope = _scope(workflow, query, span, window.run_statuses(query.status))
    before = cursor.job_id if cursor is not None else None
    rows = await repo.runs_page(conn, scope, before=before, limit=query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = paging.encode(paging.job_key(rows[-1].id), span.start, span.end) if more else None
    return RunPage(from_=span.start, to=span.end, items=[_run(row) for row in rows], next_cursor=next_cursor)


def _run(row: AnyRow) -> RunRead:
    return RunRead(
        id=row.id,
        status=row.status,
        version=row.version_number,
        origin=row.origin,
        source=views.creator(row.caller, row.creator_email or row.creator_key_name),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        response_time=_between(row.finished_at, row.created_at),
        queue_wait=_between(row.started_at, row.created_at),
        steps_executed=row.steps_executed,
        error_code=row.error_code,
    )


async def _configured_models(
    conn: AsyncConnection, plans: PlanCache, workflow_id: uuid.UUID
) -> dict[tuple[uuid.UUID, str], str]:
    """The model (`provider/name`) each `llm` step of each of the workflow's versions is configured with, by
    (version id, step id)."""
    found: dict[tuple[uuid.UUID, str], str] = {}
    for version_id in await repo.version_ids(conn, workflow_id):
        plan = await workflows.plan_for(conn, plans, version_id)
        for planned in plan.steps:
            config = planned.config
            if isinstance(config, LlmConfig) and config.model is not None:
                found[(version_id, config.id)] = f"{config.model.provider}/{config.model.name}"
    return found


async def model_runs(
    conn: AsyncConnection, plans: PlanCache, ref: ScopedRef, query: ModelRunsQuery, now: datetime
) -> ModelRunPage:
    """The model calls of the workflow's runs submitted in the window (one per `llm` step that ran), those of the
    newest run first, with the figures of all those the query selects."""
    workflow = await _workflow(conn, ref)
    cursor = paging.decode(query.cursor, paging.CALL_KEY_BYTES)
    span = _page_window(query, cursor, now)
    models = window.names(query.model, "model", 200)
    configured: dict[tuple[uuid.UUID, str], str] | None = None
    if models is not None:
        configured = await _configured_models(conn, plans, workflow.id)
    scope = repo.CallScope(
        runs=_scope(workflow, query, span),
        steps=window.names(query.step, "step", 64),
        statuses=window.step_statuses(query.status, CALL_STATUSES),
        models=models,
        configured=[pair for pair, model in (configured or {}).items() if models and model in models],
    )
    rows = await repo.calls_page(conn, scope, before=cursor.call if cursor else None, limit=query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    if configured is None and any(row.model is None for row in rows):
        configured = await _configured_models(conn, plans, workflow.id)
    items = [_call(row, configured or {}) for row in rows]
    figures = await repo.call_figures(conn, scope)
    next_cursor = paging.encode(paging.call_key(rows[-1].job_id, rows[-1].id), span.start, span.end) if more else None
    return ModelRunPage(from_=span.start, to=span.end, summary=_summary(figures), items=items, next_cursor=next_cursor)


def _call(row: AnyRow, configured: dict[tuple[uuid.UUID, str], str]) -> ModelRunRead:
    model = row.model or configured.get((row.version_id, row.step_id))
    return ModelRunRead(
        id=row.id,
        request_id=row.request_id,
        job_id=row.job_id,
        version=row.version_number,
        step=row.step_id,
        model=model,
        provider=model.partition("/")[0] if model else None,
        status=row.status,
        response_time=_between(row.finished_at, row.started_at),
        latency_ms=row.latency_ms,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost=row.cost,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error_code=row.error_code,
    )


def _summary(figures: stats.CallFigures) -> ModelRunSummary:
    p50, p90, p99 = figures.response.percentiles
    return ModelRunSummary(
        total=figures.total,
        completed=figures.completed,
        failed=figures.failed,
        in_progress=figures.in_progress,
        failure_rate=stats.failure_rate(figures.failed, figures.completed + figures.failed),
        response_time=ResponseTime(p50=_s(p50), p90=_s(p90), p99=_s(p99), max=_s(figures.response.max)),
        input_tokens=figures.input_tokens,
        output_tokens=figures.output_tokens,
        cost=figures.cost,
    )
