"""Job queries, in SQLAlchemy Core: this is the hot path, so no ORM identity map or unit of work.

Every status change goes through `transition`, a guarded UPDATE that also appends one job_event
row per hop. The caller learns whether it won: no row updated means another actor moved the job
first, which is an answer, not an error.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.clock import utcnow
from workflow_service.core.db import AnyRow, begin_now
from workflow_service.engine.executor import STEP_RECORD_COLUMNS, StepRecord
from workflow_service.jobs import pg, usage
from workflow_service.jobs.states import TERMINAL, JobStatus, check_path
from workflow_service.models import Job, JobEvent, JobStep, Workflow, WorkflowEnv, WorkflowVersion

job_t: sa.Table = Job.__table__  # type: ignore[assignment]
event_t: sa.Table = JobEvent.__table__  # type: ignore[assignment]
step_t: sa.Table = JobStep.__table__  # type: ignore[assignment]
workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]
version_t: sa.Table = WorkflowVersion.__table__  # type: ignore[assignment]
env_t: sa.Table = WorkflowEnv.__table__  # type: ignore[assignment]


ENDED_COLUMNS = (job_t.c.mode, job_t.c.cache_key, job_t.c.cache_hit, job_t.c.parent_job_id)
"""What the follow-ups of an end learn about the job (jobs/lifecycle.py), from the transition's RETURNING."""


def _events(
    job_id: uuid.UUID, path: Sequence[JobStatus], at: Sequence[datetime], actor: str, reason: str | None
) -> list[dict[str, Any]]:
    return [
        {"job_id": job_id, "from_status": a.value, "to_status": b.value, "at": t, "actor": actor, "reason": reason}
        for a, b, t in zip(path, path[1:], at, strict=False)
    ]


async def insert_job(conn: AsyncConnection, values: dict[str, Any], actor: str) -> None:
    await conn.execute(job_t.insert().values(values))
    await conn.execute(
        event_t.insert().values(
            job_id=values["id"],
            from_status=None,
            to_status=values["status"],
            at=values["created_at"],
            actor=actor,
            reason="submitted",
        )
    )


async def transition(
    conn: AsyncConnection,
    job_id: uuid.UUID,
    path: Sequence[JobStatus],
    *,
    actor: str,
    reason: str | None = None,
    values: dict[str, Any] | None = None,
    guards: Iterable[sa.ColumnElement[bool]] = (),
    returning: Sequence[sa.Column[Any]] = (),
    at: Sequence[datetime] | None = None,
) -> AnyRow | None:
    """Move a job along `path` (each hop checked against TRANSITIONS) in one guarded UPDATE.

    Returns the RETURNING row (or an empty-tuple row) when this call won, None when the job was
    not in `path[0]` (or a guard failed).
    """
    check_path(list(path))
    times = list(at) if at is not None else [utcnow()] * (len(path) - 1)
    stmt = (
        job_t.update()
        .where(job_t.c.id == job_id, job_t.c.status == path[0].value, *guards)
        .values(status=path[-1].value, **(values or {}))
        .returning(*(returning or (job_t.c.id,)))
    )
    row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    await conn.execute(event_t.insert(), _events(job_id, path, times, actor, reason))
    return row


def attempt_is(attempt: int) -> list[sa.ColumnElement[bool]]:
    """A `transition` guard: the job is still at attempt `attempt`."""
    return [job_t.c.attempt == attempt]


def lease_expired(now: datetime) -> list[sa.ColumnElement[bool]]:
    """A `transition` guard: the job's lease expired before `now`."""
    return [job_t.c.lease_expires_at < now]


def _upsert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


_STEP_UPDATE = tuple(c for c in STEP_RECORD_COLUMNS if c != "step_id")
"""What a conflicting upsert of a step record replaces (the key is job_id, step_id)."""


async def upsert_steps(conn: AsyncConnection, job_id: uuid.UUID, records: Sequence[StepRecord]) -> None:
    if not records:
        return
    rows = [{"job_id": job_id, **r.as_row()} for r in records]
    stmt = _upsert(conn)(step_t).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[step_t.c.job_id, step_t.c.step_id],
        set_={c: stmt.excluded[c] for c in _STEP_UPDATE},
    )
    await conn.execute(stmt)


SUMMARY_COLUMNS = (
    job_t.c.id,
    job_t.c.workflow_id,
    workflow_t.c.slug,
    job_t.c.version_number,
    job_t.c.name,
    job_t.c.status,
    job_t.c.pool,
    job_t.c.error,
    job_t.c.attempt,
    job_t.c.agent_id,
    job_t.c.created_at,
    job_t.c.started_at,
    job_t.c.finished_at,
    job_t.c.source_job_id,
    job_t.c.source_kind,
    job_t.c.from_step,
    job_t.c.cache_hit,
    job_t.c.input_tokens,
    job_t.c.output_tokens,
    job_t.c.cost,
)
JOB_COLUMNS = (
    *SUMMARY_COLUMNS,
    job_t.c.inputs,
    job_t.c.variables,
    job_t.c.metadata,
    job_t.c.output,
    job_t.c.max_attempts,
    job_t.c.parent_job_id,
    job_t.c.parent_step,
)
_FROM = job_t.join(workflow_t, workflow_t.c.id == job_t.c.workflow_id)


async def get_job(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow | None:
    """The job, with its version's default variables (to show the effective ones)."""
    defaults = version_t.c.definition["variables"].label("default_variables")
    stmt = (
        sa.select(*JOB_COLUMNS, defaults)
        .select_from(_FROM.join(version_t, version_t.c.id == job_t.c.version_id))
        .where(job_t.c.id == job_id)
    )
    return (await conn.execute(stmt)).first()


async def exists(conn: AsyncConnection, job_id: uuid.UUID) -> bool:
    return (await conn.execute(sa.select(job_t.c.id).where(job_t.c.id == job_id))).first() is not None


async def get_caller(conn: AsyncConnection, job_id: uuid.UUID) -> str | None:
    caller: str | None = (await conn.execute(sa.select(job_t.c.caller).where(job_t.c.id == job_id))).scalar()
    return caller


async def get_steps(conn: AsyncConnection, job_id: uuid.UUID) -> Sequence[AnyRow]:
    stmt = (
        sa.select(*(step_t.c[name] for name in STEP_RECORD_COLUMNS))
        .where(step_t.c.job_id == job_id)
        .order_by(step_t.c.position)
    )
    return (await conn.execute(stmt)).all()


async def completed_outputs(conn: AsyncConnection, job_id: uuid.UUID) -> dict[str, Any]:
    stmt = sa.select(step_t.c.step_id, step_t.c.output).where(step_t.c.job_id == job_id, step_t.c.status == "completed")
    return {row.step_id: row.output for row in await conn.execute(stmt)}


async def get_events(conn: AsyncConnection, job_id: uuid.UUID) -> Sequence[AnyRow]:
    stmt = (
        sa.select(event_t.c.from_status, event_t.c.to_status, event_t.c.at, event_t.c.actor, event_t.c.reason)
        .where(event_t.c.job_id == job_id)
        .order_by(event_t.c.id)
    )
    return (await conn.execute(stmt)).all()


async def list_jobs(
    conn: AsyncConnection,
    *,
    workflow_id: uuid.UUID | None,
    statuses: Sequence[str],
    pool: str | None,
    before: uuid.UUID | None,
    limit: int,
) -> Sequence[AnyRow]:
    stmt = sa.select(*SUMMARY_COLUMNS).select_from(_FROM)
    if workflow_id is not None:
        stmt = stmt.where(job_t.c.workflow_id == workflow_id)
    if statuses:
        stmt = stmt.where(job_t.c.status.in_(statuses))
    if pool is not None:
        stmt = stmt.where(job_t.c.pool == pool)
    if before is not None:
        stmt = stmt.where(job_t.c.id < before)
    return (await conn.execute(stmt.order_by(job_t.c.id.desc()).limit(limit))).all()


async def expired_leases(conn: AsyncConnection, now: datetime, limit: int) -> Sequence[AnyRow]:
    stmt = (
        sa.select(
            job_t.c.id,
            job_t.c.status,
            job_t.c.attempt,
            job_t.c.max_attempts,
            job_t.c.pool,
            job_t.c.agent_id,
            job_t.c.mode,
        )
        .where(job_t.c.status.in_(("claimed", "running", "validating", "uploading")), job_t.c.lease_expires_at < now)
        .order_by(job_t.c.lease_expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await conn.execute(stmt)).all()


async def past_run_deadline(conn: AsyncConnection, before: datetime, limit: int) -> Sequence[AnyRow]:
    """Jobs an agent still holds although their run deadline passed before `before`."""
    stmt = (
        sa.select(
            job_t.c.id,
            job_t.c.status,
            job_t.c.attempt,
            job_t.c.agent_id,
            job_t.c.mode,
            job_t.c.started_at,
            job_t.c.deadline_at,
            job_t.c.run_deadline_at,
        )
        .where(job_t.c.status.in_(("claimed", "running", "validating", "uploading")), job_t.c.run_deadline_at < before)
        .order_by(job_t.c.run_deadline_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await conn.execute(stmt)).all()


async def stale_pending(conn: AsyncConnection, older_than: datetime, limit: int) -> Sequence[AnyRow]:
    stmt = (
        sa.select(job_t.c.id, job_t.c.pool, job_t.c.attempt)
        .where(job_t.c.status == "pending", job_t.c.enqueued_at < older_than)
        .order_by(job_t.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await conn.execute(stmt)).all()


async def mark_enqueued(conn: AsyncConnection, ids: Sequence[uuid.UUID], at: datetime) -> None:
    await conn.execute(job_t.update().where(job_t.c.id.in_(ids), job_t.c.status == "pending").values(enqueued_at=at))


async def extend_leases(
    conn: AsyncConnection, agent_id: uuid.UUID, lease: timedelta, job_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Extend the leases of `job_ids` (the jobs the agent is running now) that are still the agent's and
    active. Returns those extended. A job assigned to the agent but not among `job_ids` is left to expire."""
    if not job_ids:
        return set()
    result = await conn.execute(
        job_t.update()
        .where(
            job_t.c.id.in_(job_ids),
            job_t.c.agent_id == agent_id,
            job_t.c.status.in_(("claimed", "running", "validating", "uploading")),
        )
        .values(lease_expires_at=utcnow() + lease)
        .returning(job_t.c.id)
    )
    return {row.id for row in result}


def _is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


async def insert_job_fast(conn: AsyncConnection, values: dict[str, Any], actor: str) -> bool:
    """insert_job, in one round trip on PostgreSQL. False when the idempotency key is taken."""
    if _is_postgres(conn):
        return await pg.insert_job(conn, values, actor)
    try:
        async with conn.begin_nested():
            await insert_job(conn, values, actor)
    except sa.exc.IntegrityError:
        if values.get("idempotency_key") is None:
            raise
        return False
    return True


async def find_idempotent(conn: AsyncConnection, workflow_id: uuid.UUID, caller: str, key: str) -> AnyRow | None:
    stmt = sa.select(job_t.c.id, job_t.c.request_hash).where(
        job_t.c.workflow_id == workflow_id, job_t.c.caller == caller, job_t.c.idempotency_key == key
    )
    return (await conn.execute(stmt)).first()


async def lock_for_cancel(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow | None:
    stmt = sa.select(job_t.c.status, job_t.c.mode).where(job_t.c.id == job_id).with_for_update()
    return (await conn.execute(stmt)).first()


async def fail_running_steps(conn: AsyncConnection, job_id: uuid.UUID, error: dict[str, Any], at: datetime) -> None:
    await conn.execute(
        step_t.update()
        .where(step_t.c.job_id == job_id, step_t.c.status == "running")
        .values(status="failed", error=error, finished_at=at)
    )


async def claim(
    conn: AsyncConnection,
    job_id: uuid.UUID,
    *,
    agent_id: uuid.UUID,
    pools: Sequence[str],
    lease_until: datetime,
    now: datetime,
    actor: str,
    followers: bool = False,
) -> pg.ClaimedRow | None:
    """pending -> claimed -> running under a lease, with what running the job needs (its workflow's env
    rows included), or None when the job is not pending in one of `pools`.

    A job waiting for an identical one in flight (a cache follower, see jobs/cache.py) is not claimed
    unless `followers` is true: the runner asks jobs/cache.gate about it first.
    """
    if _is_postgres(conn):
        return await pg.claim(
            conn,
            job_id,
            agent_id=agent_id,
            pools=pools,
            lease_until=lease_until,
            now=now,
            actor=actor,
            followers=followers,
        )
    guards = [job_t.c.pool.in_(pools), sa.or_(job_t.c.queue_deadline_at.is_(None), job_t.c.queue_deadline_at > now)]
    if not followers:
        guards.append(sa.or_(job_t.c.source_kind.is_(None), job_t.c.source_kind != "cache"))
    row = await transition(
        conn,
        job_id,
        [JobStatus.PENDING, JobStatus.CLAIMED, JobStatus.RUNNING],
        actor=actor,
        at=[now, now],
        guards=guards,
        values={
            "attempt": job_t.c.attempt + 1,
            "agent_id": agent_id,
            "lease_expires_at": lease_until,
            "started_at": sa.func.coalesce(job_t.c.started_at, now),
        },
        returning=(
            job_t.c.attempt,
            job_t.c.version_id,
            job_t.c.inputs,
            job_t.c.variables,
            job_t.c.started_at,
            job_t.c.mode,
            job_t.c.deadline_at,
            job_t.c.from_step,
            job_t.c.cache_key,
            job_t.c.workflow_id,
            job_t.c.run_deadline_at,
        ),
    )
    if row is None:
        return None
    if row.run_deadline_at is None:  # the first claim (PostgreSQL computes this within its one statement)
        definition = (
            await conn.execute(sa.select(version_t.c.definition).where(version_t.c.id == row.version_id))
        ).scalar_one()
        timeout_s = float(definition.get("timeout_s", pg.DEFAULT_TIMEOUT_S))
        deadline = row.started_at + timedelta(seconds=timeout_s)
        if row.deadline_at is not None:
            deadline = min(deadline, row.deadline_at)
        await conn.execute(job_t.update().where(job_t.c.id == job_id).values(run_deadline_at=deadline))
    env_rows = await conn.execute(
        sa.select(env_t.c.name, env_t.c.value, env_t.c.secure).where(env_t.c.workflow_id == row.workflow_id)
    )
    return pg.ClaimedRow(
        attempt=row.attempt,
        version_id=row.version_id,
        inputs=row.inputs,
        variables=row.variables,
        started_at=row.started_at,
        mode=row.mode,
        deadline_at=row.deadline_at,
        from_step=row.from_step,
        cache_key=row.cache_key,
        env=[dict(r._mapping) for r in env_rows],
    )


async def finish(
    conn: AsyncConnection,
    job_id: uuid.UUID,
    *,
    attempt: int,
    agent_id: uuid.UUID,
    path: Sequence[JobStatus],
    at: Sequence[datetime],
    output: Any,
    error: dict[str, Any] | None,
    actor: str,
    records: Sequence[StepRecord],
    in_transaction: bool = False,
    with_usage: bool = True,
) -> Any:
    """Move a running job to its end along `path`, with its step records, fenced by attempt and agent.

    Returns the job's ENDED_COLUMNS; None when the job is no longer this agent's (its lease expired and
    it moved on, or it was canceled). On PostgreSQL it is one statement, which commits on its own unless
    `in_transaction`: then `conn`'s transaction is opened first (one BEGIN), so the caller can add its own
    writes (a push job's delivery) to the same commit.
    """
    reason = error["code"] if error else None
    if _is_postgres(conn):
        if in_transaction:
            await begin_now(conn)
        return await pg.finish(
            conn,
            job_id,
            attempt=attempt,
            agent_id=agent_id,
            path=path,
            at=at,
            output=output,
            error=error,
            actor=actor,
            reason=reason,
            records=records,
            with_usage=with_usage,
        )
    values: dict[str, Any] = {"lease_expires_at": None, "finished_at": at[-1], "output": output, "error": error}
    won = await transition(
        conn,
        job_id,
        path,
        actor=actor,
        reason=reason,
        values=values,
        at=at,
        guards=[job_t.c.attempt == attempt, job_t.c.agent_id == agent_id],
        returning=ENDED_COLUMNS,
    )
    if won is None:
        return None
    await upsert_steps(conn, job_id, records)
    if with_usage:
        await update_usage(conn, job_id)
    return won


async def update_usage(conn: AsyncConnection, job_id: uuid.UUID) -> None:
    """Set the job's input_tokens, output_tokens and cost from its step records (see usage.totals)."""
    rows = (
        await conn.execute(
            sa.select(
                step_t.c.model, step_t.c.input_tokens, step_t.c.output_tokens, step_t.c.cost, step_t.c.detail
            ).where(step_t.c.job_id == job_id)
        )
    ).all()
    sums = usage.totals(rows)
    await conn.execute(
        job_t.update()
        .where(job_t.c.id == job_id)
        .values(input_tokens=sums.input_tokens, output_tokens=sums.output_tokens, cost=sums.cost)
    )


async def canceled_among(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    stmt = sa.select(job_t.c.id).where(job_t.c.id.in_(ids), job_t.c.status == "canceled")
    return [row.id for row in await conn.execute(stmt)]


async def unfinished_among(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `ids` are jobs that exist and have not ended."""
    stmt = sa.select(job_t.c.id).where(job_t.c.id.in_(ids), job_t.c.status.not_in([s.value for s in TERMINAL]))
    return {row.id for row in await conn.execute(stmt)}


async def past_deadline(conn: AsyncConnection, now: datetime, limit: int) -> Sequence[AnyRow]:
    """Pending jobs past their queue deadline or push deadline."""
    stmt = (
        sa.select(job_t.c.id, job_t.c.mode, job_t.c.queue_deadline_at, job_t.c.deadline_at)
        .where(
            job_t.c.status == "pending",
            sa.or_(job_t.c.queue_deadline_at < now, job_t.c.deadline_at < now),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await conn.execute(stmt)).all()


async def get_source(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow | None:
    """What a rerun, run-from-step or duplicate copies from a job."""
    stmt = sa.select(
        job_t.c.id,
        job_t.c.workflow_id,
        job_t.c.version_id,
        job_t.c.version_number,
        job_t.c.name,
        job_t.c.pool,
        job_t.c.inputs,
        job_t.c.variables,
        job_t.c.metadata,
    ).where(job_t.c.id == job_id)
    return (await conn.execute(stmt)).first()


async def copy_steps(
    conn: AsyncConnection, source_id: uuid.UUID, job_id: uuid.UUID, step_ids: Sequence[str], marker: dict[str, Any]
) -> None:
    """Copy the source's completed step records `step_ids` into `job_id`, with `marker` added to their detail."""
    if not step_ids:
        return
    # cost stays null: the copy spent nothing in this job.
    columns = [step_t.c[name] for name in STEP_RECORD_COLUMNS if name not in ("detail", "cost")]
    stmt = sa.select(*columns, step_t.c.detail).where(
        step_t.c.job_id == source_id, step_t.c.step_id.in_(step_ids), step_t.c.status == "completed"
    )
    rows = [
        {**row._asdict(), "job_id": job_id, "detail": {**(row.detail or {}), **marker}}
        for row in await conn.execute(stmt)
    ]
    await conn.execute(step_t.insert(), rows)


async def lock_for_start(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow | None:
    stmt = sa.select(job_t.c.status, job_t.c.pool, job_t.c.workflow_id).where(job_t.c.id == job_id).with_for_update()
    return (await conn.execute(stmt)).first()


async def extend_lease(
    conn: AsyncConnection, job_id: uuid.UUID, attempt: int, agent_id: uuid.UUID, until: datetime
) -> bool:
    """A checkpoint's lease extension, fenced by attempt and agent; False when the job is no longer ours."""
    stmt = (
        job_t.update()
        .where(
            job_t.c.id == job_id,
            job_t.c.status == JobStatus.RUNNING.value,
            job_t.c.attempt == attempt,
            job_t.c.agent_id == agent_id,
        )
        .values(lease_expires_at=until)
        .returning(job_t.c.id)
    )
    return (await conn.execute(stmt)).first() is not None


async def get_parent(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow:
    """What a child job takes from its parent: pool, caller, and the parent's own parent."""
    stmt = sa.select(job_t.c.pool, job_t.c.caller, job_t.c.parent_job_id).where(job_t.c.id == job_id)
    return (await conn.execute(stmt)).one()


async def child_of(conn: AsyncConnection, parent_id: uuid.UUID, step_id: str) -> uuid.UUID | None:
    """The newest child job the parent's step `step_id` started, if any."""
    stmt = (
        sa.select(job_t.c.id)
        .where(job_t.c.parent_job_id == parent_id, job_t.c.parent_step == step_id)
        .order_by(job_t.c.id.desc())
        .limit(1)
    )
    child: uuid.UUID | None = (await conn.execute(stmt)).scalar_one_or_none()
    return child


async def parent_of(conn: AsyncConnection, job_id: uuid.UUID) -> uuid.UUID | None:
    stmt = sa.select(job_t.c.parent_job_id).where(job_t.c.id == job_id)
    parent: uuid.UUID | None = (await conn.execute(stmt)).scalar_one_or_none()
    return parent


async def mean_output_tokens(
    conn: AsyncConnection, workflow_id: uuid.UUID, version_id: uuid.UUID, jobs: int
) -> dict[str, float]:
    """Mean output tokens per step over the version's last `jobs` completed (not cached) jobs."""
    recent = (
        sa.select(job_t.c.id)
        .where(
            job_t.c.workflow_id == workflow_id,
            job_t.c.version_id == version_id,
            job_t.c.status == "completed",
            job_t.c.cache_hit.is_(False),
        )
        .order_by(job_t.c.id.desc())
        .limit(jobs)
        .subquery()
    )
    stmt = (
        sa.select(step_t.c.step_id, sa.func.avg(step_t.c.output_tokens).label("mean"))
        .where(step_t.c.job_id.in_(sa.select(recent.c.id)), step_t.c.output_tokens.is_not(None))
        .group_by(step_t.c.step_id)
    )
    return {row.step_id: float(row.mean) for row in await conn.execute(stmt)}


# The result cache's queries (jobs/cache.py): `kind` is the source_kind of a cache follower.


async def advisory_lock(conn: AsyncConnection, key: int) -> None:
    """Hold a transaction-scoped advisory lock on `key` (PostgreSQL only; a no-op elsewhere)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


async def newest_cached_result(conn: AsyncConnection, workflow_id: uuid.UUID, key: str) -> uuid.UUID | None:
    """The newest completed job that computed the result of `key` itself (not from the cache)."""
    stmt = (
        sa.select(job_t.c.id)
        .where(
            job_t.c.workflow_id == workflow_id,
            job_t.c.cache_key == key,
            job_t.c.status == JobStatus.COMPLETED.value,
            job_t.c.cache_hit.is_(False),
        )
        .order_by(job_t.c.id.desc())
        .limit(1)
    )
    found: uuid.UUID | None = (await conn.execute(stmt)).scalar()
    return found


async def oldest_in_flight(
    conn: AsyncConnection, workflow_id: uuid.UUID, key: str, in_flight: Sequence[str], kind: str
) -> uuid.UUID | None:
    """The oldest job computing `key` right now (statuses `in_flight`), not counting waiting followers."""
    not_a_waiting_follower = sa.or_(
        job_t.c.source_kind.is_(None), job_t.c.source_kind != kind, job_t.c.status != JobStatus.PENDING.value
    )
    stmt = (
        sa.select(job_t.c.id)
        .where(
            job_t.c.workflow_id == workflow_id,
            job_t.c.cache_key == key,
            job_t.c.status.in_(in_flight),
            not_a_waiting_follower,
        )
        .order_by(job_t.c.id)
        .limit(1)
    )
    found: uuid.UUID | None = (await conn.execute(stmt)).scalar()
    return found


async def completed_output(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow | None:
    """The row (its `output`) of `job_id` if it is completed, else None."""
    stmt = sa.select(job_t.c.output).where(job_t.c.id == job_id, job_t.c.status == JobStatus.COMPLETED.value)
    return (await conn.execute(stmt)).first()


async def copy_cached_steps(conn: AsyncConnection, source_id: uuid.UUID, job_id: uuid.UUID) -> None:
    """Copy all of the source's step records into `job_id`, marked `cached_from` (priced at 0 for model calls)."""
    columns = [step_t.c[name] for name in STEP_RECORD_COLUMNS]
    rows = [
        {
            **row._asdict(),
            "job_id": job_id,
            "cost": 0.0 if row.model is not None else None,
            "detail": {**(row.detail or {}), "cached_from": str(source_id)},
        }
        for row in await conn.execute(sa.select(*columns).where(step_t.c.job_id == source_id))
    ]
    if rows:
        await conn.execute(step_t.insert(), rows)


async def with_cache_source(conn: AsyncConnection, job_id: uuid.UUID, kind: str) -> AnyRow | None:
    """The job's status and source, with its source's status when it is a cache follower (else null)."""
    source = job_t.alias("cache_source")
    stmt = (
        sa.select(job_t.c.status, job_t.c.source_job_id, source.c.status.label("source_status"))
        .select_from(
            job_t.outerjoin(source, sa.and_(source.c.id == job_t.c.source_job_id, job_t.c.source_kind == kind))
        )
        .where(job_t.c.id == job_id)
    )
    return (await conn.execute(stmt)).first()


async def pending_followers(conn: AsyncConnection, source_id: uuid.UUID, kind: str) -> list[uuid.UUID]:
    """Pending jobs following `source_id` (locked; ones another transaction holds are skipped)."""
    stmt = (
        sa.select(job_t.c.id)
        .where(
            job_t.c.source_job_id == source_id, job_t.c.source_kind == kind, job_t.c.status == JobStatus.PENDING.value
        )
        .order_by(job_t.c.id)
        .with_for_update(skip_locked=True)
    )
    return [row.id for row in await conn.execute(stmt)]
