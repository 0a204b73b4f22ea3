"""The monitor's queries: a workflow's runs in a window (its jobs submitted in it), their figures, and its model
calls (the `llm` step records of those runs).

The window is read through the (workflow_id, id) index every job already has, so that submitting a job pays
for no new index: job ids are UUIDv7, made by the clock that then stamps `created_at` (core/ids.py, jobs/intake),
so the jobs created in [start, end) have ids in [floor(start - ID_MARGIN), floor(end + ID_MARGIN)), an index
range; each row's `created_at` is then checked exactly. docs/benchmarks.md measures it on 1,000,000 jobs.

On PostgreSQL the query computes the figures itself: exact `percentile_cont` and counts in one pass, grouped by
`ROLLUP(bucket)` (a row per bucket of the series and one for the whole window). SQLite has no percentile
function: there the query reads each run's times and stats.py computes the same figures, by the same definition.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.core.ids import uuid7_floor
from workflow_service.jobs.repository import with_creator
from workflow_service.jobs.states import TERMINAL, StepStatus, values
from workflow_service.jobs.usage import COPY_MARKERS
from workflow_service.jobs.views import MODEL_STEP
from workflow_service.models import ApiKey, Job, JobStep, User, WorkflowVersion
from workflow_service.monitor import stats
from workflow_service.monitor.window import EPOCH, bucket_of

job_t: sa.Table = Job.__table__  # type: ignore[assignment]
step_t: sa.Table = JobStep.__table__  # type: ignore[assignment]
user_t: sa.Table = User.__table__  # type: ignore[assignment]
key_t: sa.Table = ApiKey.__table__  # type: ignore[assignment]
version_t: sa.Table = WorkflowVersion.__table__  # type: ignore[assignment]

ID_MARGIN = timedelta(minutes=1)
"""How far beyond the window the id range reaches: far more than the milliseconds between a job's id and its
`created_at`, both taken from the same clock one after the other."""
LOWEST = EPOCH
HIGHEST = datetime(9999, 12, 31, tzinfo=UTC)
ENDED = values(TERMINAL)
CALL_ENDED = (StepStatus.COMPLETED.value, StepStatus.FAILED.value)


def _is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunScope:
    """The runs of one workflow submitted in [start, end), of these versions, origins and statuses (None: any;
    empty: none)."""

    workflow_id: uuid.UUID
    start: datetime
    end: datetime
    versions: Sequence[int] | None = None
    origins: Sequence[str] | None = None
    statuses: Sequence[str] | None = None


def _id_bound(at: datetime, margin: timedelta) -> uuid.UUID:
    """The first id of the millisecond `at + margin`, kept within the times a UUIDv7 and a datetime can hold (a
    window may be asked for at the ends of the calendar: it holds no job, and must not overflow)."""
    moved = at + margin if LOWEST - margin <= at <= HIGHEST - margin else at
    return uuid7_floor(min(max(moved, LOWEST), HIGHEST))


def _runs(scope: RunScope) -> list[sa.ColumnElement[bool]]:
    where = [
        job_t.c.workflow_id == scope.workflow_id,
        job_t.c.id >= _id_bound(scope.start, -ID_MARGIN),
        job_t.c.id < _id_bound(scope.end, ID_MARGIN),
        job_t.c.created_at >= scope.start,
        job_t.c.created_at < scope.end,
    ]
    if scope.versions is not None:
        where.append(job_t.c.version_number.in_(scope.versions))
    if scope.origins is not None:
        where.append(job_t.c.origin.in_(scope.origins))
    if scope.statuses is not None:
        where.append(job_t.c.status.in_(scope.statuses))
    return where


def _seconds(later: sa.ColumnElement[Any], earlier: sa.ColumnElement[Any]) -> sa.ColumnElement[float]:
    """PostgreSQL: `later - earlier` in seconds, a double, as stats.seconds_between computes it: `date_part`, not
    `extract` (whose exact numeric, then cast to a double, made the 24-hour figures query three times slower)."""
    return sa.func.date_part("epoch", later - earlier, type_=sa.Float)


def _percentiles(qs: Sequence[float], value: sa.ColumnElement[float], where: sa.ColumnElement[bool]) -> Any:
    """PostgreSQL: `percentile_cont(ARRAY[qs]) WITHIN GROUP (ORDER BY value) FILTER (WHERE where)`."""
    array = sa.literal(list(qs), postgresql.ARRAY(sa.Float))
    return sa.func.percentile_cont(array).within_group(value).filter(where)


def _durations(percentiles: Sequence[float | None] | None, largest: float | None, count: int) -> stats.Durations:
    return stats.Durations(tuple(percentiles) if percentiles else (None,) * count, largest)


def _ran() -> list[sa.ColumnElement[bool]]:
    """Step records of steps that ran in their job: not skipped, not copied from another job (jobs/usage.py)."""
    not_copied = [step_t.c.detail[marker].as_string().is_(None) for marker in COPY_MARKERS]
    return [step_t.c.status != StepStatus.SKIPPED.value, *not_copied]


# --- runs -----------------------------------------------------------------------------------------------------


def run_figures_statement(scope: RunScope, bucket_s: int) -> sa.Select[Any]:
    """PostgreSQL's query of `run_figures`: a row per bucket with runs, and one (`whole`) for the window. Each run's
    bucket and durations are computed once, in the subquery, however many aggregates read them."""
    runs = (
        sa.select(
            sa.cast(sa.func.div(sa.extract("epoch", job_t.c.created_at), bucket_s), sa.BigInteger).label("bucket"),
            job_t.c.status,
            job_t.c.status.in_(ENDED).label("ended"),
            _seconds(job_t.c.finished_at, job_t.c.created_at).label("response"),
            _seconds(job_t.c.started_at, job_t.c.created_at).label("wait"),
        )
        .where(*_runs(scope))
        .subquery("runs")
    )
    ended = runs.c.ended
    counted = [sa.func.count().filter(runs.c.status == s).label(s) for s in ("completed", "failed", "canceled")]
    return sa.select(
        runs.c.bucket,
        sa.func.grouping(runs.c.bucket).label("whole"),
        sa.func.count().label("total"),
        *counted,
        _percentiles(stats.RESPONSE_QUANTILES, runs.c.response, ended).label("response"),
        sa.func.max(runs.c.response).filter(ended).label("response_max"),
        _percentiles(stats.WAIT_QUANTILES, runs.c.wait, ended).label("wait"),
        sa.func.max(runs.c.wait).filter(ended).label("wait_max"),
    ).group_by(sa.func.rollup(runs.c.bucket))


async def run_figures(conn: AsyncConnection, scope: RunScope, bucket_s: int) -> dict[int | None, stats.RunFigures]:
    """The figures of the runs in `scope`: by bucket of `bucket_s` seconds (window.bucket_of; buckets without
    runs are left out) and, under None, of them all."""
    if not _is_postgres(conn):
        return await _run_figures_portable(conn, scope, bucket_s)
    stmt = run_figures_statement(scope, bucket_s)
    found: dict[int | None, stats.RunFigures] = {}
    for row in await conn.execute(stmt):
        ended_count = row.completed + row.failed + row.canceled
        found[None if row.whole else row.bucket] = stats.RunFigures(
            total=row.total,
            completed=row.completed,
            failed=row.failed,
            canceled=row.canceled,
            in_progress=row.total - ended_count,
            response=_durations(row.response, row.response_max, len(stats.RESPONSE_QUANTILES)),
            wait=_durations(row.wait, row.wait_max, len(stats.WAIT_QUANTILES)),
        )
    return found


async def _run_figures_portable(
    conn: AsyncConnection, scope: RunScope, bucket_s: int
) -> dict[int | None, stats.RunFigures]:
    columns = (job_t.c.created_at, job_t.c.status, job_t.c.started_at, job_t.c.finished_at)
    by_bucket: dict[int, list[stats.RunTimes]] = defaultdict(list)
    for row in await conn.execute(sa.select(*columns).where(*_runs(scope))):
        ended = row.status in ENDED
        response = stats.seconds_between(row.finished_at, row.created_at) if ended else None
        wait = stats.seconds_between(row.started_at, row.created_at) if ended else None
        by_bucket[bucket_of(row.created_at, bucket_s)].append(stats.RunTimes(row.status, response, wait))
    found: dict[int | None, stats.RunFigures] = {b: stats.run_figures(runs) for b, runs in by_bucket.items()}
    if found:
        found[None] = stats.run_figures([run for runs in by_bucket.values() for run in runs])
    return found


async def runs_page(conn: AsyncConnection, scope: RunScope, *, before: uuid.UUID | None, limit: int) -> list[AnyRow]:
    """The runs in `scope`, newest first, from before the run `before`: their ids, times, outcome, creator (with
    the user's email or the key's name) and how many steps they ran. Never their inputs or output."""
    steps = sa.select(sa.func.count()).where(step_t.c.job_id == job_t.c.id, *_ran()).scalar_subquery()
    stmt = (
        sa.select(
            job_t.c.id,
            job_t.c.status,
            job_t.c.version_number,
            job_t.c.origin,
            job_t.c.caller,
            job_t.c.created_at,
            job_t.c.started_at,
            job_t.c.finished_at,
            job_t.c.error["code"].as_string().label("error_code"),
            user_t.c.email.label("creator_email"),
            key_t.c.name.label("creator_key_name"),
            steps.label("steps_executed"),
        )
        .select_from(with_creator(conn, job_t))
        .where(*_runs(scope))
    )
    if before is not None:
        stmt = stmt.where(job_t.c.id < before)
    return list((await conn.execute(stmt.order_by(job_t.c.id.desc()).limit(limit))).all())


# --- model calls ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallScope:
    """The model calls (`llm` step records that ran) of the runs in `runs`, of these steps and statuses, and
    these models: answered by one of `models`, or made by a step that `configured` names ((version id, step id):
    a call that failed before an answer records no model). None: any."""

    runs: RunScope
    steps: Sequence[str] | None = None
    statuses: Sequence[str] | None = None
    models: Sequence[str] | None = None
    configured: Sequence[tuple[uuid.UUID, str]] = ()


def _calls(scope: CallScope) -> list[sa.ColumnElement[bool]]:
    where = [*_runs(scope.runs), step_t.c.type == MODEL_STEP, *_ran()]
    if scope.steps is not None:
        where.append(step_t.c.step_id.in_(scope.steps))
    if scope.statuses is not None:
        where.append(step_t.c.status.in_(scope.statuses))
    if scope.models is not None:
        by_step = [sa.and_(job_t.c.version_id == v, step_t.c.step_id == s) for v, s in scope.configured]
        where.append(sa.or_(step_t.c.model.in_(scope.models), *by_step))
    return where


_CALLS_FROM = step_t.join(job_t, job_t.c.id == step_t.c.job_id)


async def calls_page(
    conn: AsyncConnection, scope: CallScope, *, before: tuple[uuid.UUID, int] | None, limit: int
) -> list[AnyRow]:
    """The model calls in `scope`, of the newest run first (then the newest record), from before `before` (a run's
    id and a record's): the record's id, the provider's id of the answer when it gave one, job, step, model,
    outcome, times, tokens and cost. Never the prompt or the answer. In the order of the job index, so that a page
    reads only as many runs as it needs."""
    stmt = (
        sa.select(
            step_t.c.id,
            step_t.c.detail[("response", "id")].as_string().label("request_id"),
            step_t.c.job_id,
            job_t.c.version_id,
            job_t.c.version_number,
            step_t.c.step_id,
            step_t.c.model,
            step_t.c.status,
            step_t.c.started_at,
            step_t.c.finished_at,
            step_t.c.latency_ms,
            step_t.c.input_tokens,
            step_t.c.output_tokens,
            step_t.c.cost,
            step_t.c.error["code"].as_string().label("error_code"),
        )
        .select_from(_CALLS_FROM)
        .where(*_calls(scope))
    )
    if before is not None:
        stmt = stmt.where(sa.tuple_(job_t.c.id, step_t.c.id) < sa.tuple_(*before))
    stmt = stmt.order_by(job_t.c.id.desc(), step_t.c.id.desc()).limit(limit)
    return list((await conn.execute(stmt)).all())


async def call_figures(conn: AsyncConnection, scope: CallScope) -> stats.CallFigures:
    """The figures of the model calls in `scope` (response time: the step's start to its end)."""
    if not _is_postgres(conn):
        return await _call_figures_portable(conn, scope)
    calls = (
        sa.select(
            step_t.c.status,
            step_t.c.status.in_(CALL_ENDED).label("ended"),
            _seconds(step_t.c.finished_at, step_t.c.started_at).label("response"),
            step_t.c.input_tokens,
            step_t.c.output_tokens,
            step_t.c.cost,
        )
        .select_from(_CALLS_FROM)
        .where(*_calls(scope))
        .subquery("calls")
    )
    stmt = sa.select(
        sa.func.count().label("total"),
        sa.func.count().filter(calls.c.status == StepStatus.COMPLETED.value).label("completed"),
        sa.func.count().filter(calls.c.status == StepStatus.FAILED.value).label("failed"),
        _percentiles(stats.RESPONSE_QUANTILES, calls.c.response, calls.c.ended).label("response"),
        sa.func.max(calls.c.response).filter(calls.c.ended).label("response_max"),
        sa.func.sum(calls.c.input_tokens).label("input_tokens"),
        sa.func.sum(calls.c.output_tokens).label("output_tokens"),
        sa.func.sum(calls.c.cost).label("cost"),
    )
    row = (await conn.execute(stmt)).one()
    return stats.CallFigures(
        total=row.total,
        completed=row.completed,
        failed=row.failed,
        in_progress=row.total - row.completed - row.failed,
        response=_durations(row.response, row.response_max, len(stats.RESPONSE_QUANTILES)),
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost=stats.rounded_cost(row.cost),
    )


async def _call_figures_portable(conn: AsyncConnection, scope: CallScope) -> stats.CallFigures:
    columns = (step_t.c.status, step_t.c.started_at, step_t.c.finished_at)
    usage = (step_t.c.input_tokens, step_t.c.output_tokens, step_t.c.cost)
    calls = []
    for row in await conn.execute(sa.select(*columns, *usage).select_from(_CALLS_FROM).where(*_calls(scope))):
        ended = row.status in CALL_ENDED and row.finished_at is not None
        response = stats.seconds_between(row.finished_at, row.started_at) if ended else None
        calls.append(stats.CallTimes(row.status, response, row.input_tokens, row.output_tokens, row.cost))
    return stats.call_figures(calls)


async def version_ids(conn: AsyncConnection, workflow_id: uuid.UUID) -> list[uuid.UUID]:
    """The ids of the workflow's deployed versions."""
    stmt = sa.select(version_t.c.id).where(version_t.c.workflow_id == workflow_id)
    return list((await conn.execute(stmt)).scalars())
