"""A job's result taken from another job: the result cache's queries (jobs/cache.py), and the step records
copied into a rerun from a step (jobs/intake.py) or a cache hit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.engine.executor import STEP_RECORD_COLUMNS
from workflow_service.jobs.repository.tables import CACHE_KIND, is_postgres, job_t, newest_computed, step_t
from workflow_service.jobs.states import IN_FLIGHT, JobStatus, StepStatus, values

_IN_FLIGHT = values(IN_FLIGHT)


async def advisory_lock(conn: AsyncConnection, key: int) -> None:
    """Hold a transaction-scoped advisory lock on `key` (PostgreSQL only; a no-op elsewhere)."""
    if is_postgres(conn):
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


async def newest_cached_result(conn: AsyncConnection, workflow_id: uuid.UUID, key: str) -> uuid.UUID | None:
    """The newest completed job that computed the result of `key` itself (not from the cache)."""
    stmt = newest_computed(workflow_id, job_t.c.cache_key == key).limit(1)
    found: uuid.UUID | None = (await conn.execute(stmt)).scalar()
    return found


async def oldest_in_flight(conn: AsyncConnection, workflow_id: uuid.UUID, key: str) -> uuid.UUID | None:
    """The oldest job computing `key` right now (queued or running), not counting waiting followers."""
    not_a_waiting_follower = sa.or_(
        job_t.c.source_kind.is_(None), job_t.c.source_kind != CACHE_KIND, job_t.c.status != JobStatus.PENDING.value
    )
    stmt = (
        sa.select(job_t.c.id)
        .where(
            job_t.c.workflow_id == workflow_id,
            job_t.c.cache_key == key,
            job_t.c.status.in_(_IN_FLIGHT),
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


async def with_cache_source(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow | None:
    """The job's status and source, with its source's status when it is a cache follower (else null)."""
    source = job_t.alias("cache_source")
    stmt = (
        sa.select(job_t.c.status, job_t.c.source_job_id, source.c.status.label("source_status"))
        .select_from(
            job_t.outerjoin(source, sa.and_(source.c.id == job_t.c.source_job_id, job_t.c.source_kind == CACHE_KIND))
        )
        .where(job_t.c.id == job_id)
    )
    return (await conn.execute(stmt)).first()


async def pending_followers(conn: AsyncConnection, source_id: uuid.UUID) -> list[uuid.UUID]:
    """Pending jobs following `source_id` (locked; ones another transaction holds are skipped)."""
    stmt = (
        sa.select(job_t.c.id)
        .where(
            job_t.c.source_job_id == source_id,
            job_t.c.source_kind == CACHE_KIND,
            job_t.c.status == JobStatus.PENDING.value,
        )
        .order_by(job_t.c.id)
        .with_for_update(skip_locked=True)
    )
    return [row.id for row in await conn.execute(stmt)]


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


async def copy_steps(
    conn: AsyncConnection, source_id: uuid.UUID, job_id: uuid.UUID, step_ids: Sequence[str], marker: dict[str, Any]
) -> None:
    """Copy the source's completed step records `step_ids` into `job_id`, with `marker` added to their detail."""
    if not step_ids:
        return
    # cost stays null: the copy spent nothing in this job.
    columns = [step_t.c[name] for name in STEP_RECORD_COLUMNS if name not in ("detail", "cost")]
    stmt = sa.select(*columns, step_t.c.detail).where(
        step_t.c.job_id == source_id, step_t.c.step_id.in_(step_ids), step_t.c.status == StepStatus.COMPLETED.value
    )
    rows = [
        {**row._asdict(), "job_id": job_id, "detail": {**(row.detail or {}), **marker}}
        for row in await conn.execute(stmt)
    ]
    await conn.execute(step_t.insert(), rows)
