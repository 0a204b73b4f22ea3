"""The reconciler's and the heartbeat's queries: jobs whose lease, deadline or queue time ran out, and the
leases a live agent keeps. The reconciler's selections lock their rows with SKIP LOCKED, so that every
worker may run it at once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.clock import utcnow
from workflow_service.core.db import AnyRow
from workflow_service.jobs.repository.tables import job_t
from workflow_service.jobs.states import ACTIVE, TERMINAL, JobStatus, values

_HELD = values(ACTIVE)
_ENDED = values(TERMINAL)


_HELD_COLUMNS = (job_t.c.id, job_t.c.status, job_t.c.attempt, job_t.c.agent_id, job_t.c.mode)
_LEASE_COLUMNS = (*_HELD_COLUMNS, job_t.c.max_attempts, job_t.c.pool)
_RUN_DEADLINE_COLUMNS = (*_HELD_COLUMNS, job_t.c.started_at, job_t.c.deadline_at, job_t.c.run_deadline_at)


async def _held_past(
    conn: AsyncConnection,
    deadline: sa.Column[datetime],
    before: datetime,
    columns: Sequence[sa.Column[Any]],
    limit: int,
) -> Sequence[AnyRow]:
    """Jobs an agent holds whose `deadline` passed before `before`, the longest past first."""
    stmt = (
        sa.select(*columns)
        .where(job_t.c.status.in_(_HELD), deadline < before)
        .order_by(deadline)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await conn.execute(stmt)).all()


async def expired_leases(conn: AsyncConnection, now: datetime, limit: int) -> Sequence[AnyRow]:
    """Jobs held by an agent whose lease expired before `now`, oldest lease first."""
    return await _held_past(conn, job_t.c.lease_expires_at, now, _LEASE_COLUMNS, limit)


async def past_run_deadline(conn: AsyncConnection, before: datetime, limit: int) -> Sequence[AnyRow]:
    """Jobs an agent still holds although their run deadline passed before `before`."""
    return await _held_past(conn, job_t.c.run_deadline_at, before, _RUN_DEADLINE_COLUMNS, limit)


async def past_deadline(conn: AsyncConnection, now: datetime, limit: int) -> Sequence[AnyRow]:
    """Pending jobs past their queue deadline or push deadline."""
    stmt = (
        sa.select(job_t.c.id, job_t.c.mode, job_t.c.queue_deadline_at, job_t.c.deadline_at)
        .where(
            job_t.c.status == JobStatus.PENDING.value,
            sa.or_(job_t.c.queue_deadline_at < now, job_t.c.deadline_at < now),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await conn.execute(stmt)).all()


async def stale_pending(conn: AsyncConnection, older_than: datetime, limit: int) -> Sequence[AnyRow]:
    """Pending jobs last woken before `older_than` (their message may be lost)."""
    stmt = (
        sa.select(job_t.c.id, job_t.c.pool, job_t.c.attempt)
        .where(job_t.c.status == JobStatus.PENDING.value, job_t.c.enqueued_at < older_than)
        .order_by(job_t.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await conn.execute(stmt)).all()


async def mark_enqueued(conn: AsyncConnection, ids: Sequence[uuid.UUID], at: datetime) -> None:
    """Record that the pending jobs `ids` were woken at `at`."""
    await conn.execute(
        job_t.update().where(job_t.c.id.in_(ids), job_t.c.status == JobStatus.PENDING.value).values(enqueued_at=at)
    )


async def extend_leases(
    conn: AsyncConnection, agent_id: uuid.UUID, lease: timedelta, job_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Extend the leases of `job_ids` (the jobs the agent is running now) that are still the agent's and
    active. Returns those extended. A job assigned to the agent but not among `job_ids` is left to expire."""
    if not job_ids:
        return set()
    result = await conn.execute(
        job_t.update()
        .where(job_t.c.id.in_(job_ids), job_t.c.agent_id == agent_id, job_t.c.status.in_(_HELD))
        .values(lease_expires_at=utcnow() + lease)
        .returning(job_t.c.id)
    )
    return {row.id for row in result}


async def canceled_among(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    stmt = sa.select(job_t.c.id).where(job_t.c.id.in_(ids), job_t.c.status == JobStatus.CANCELED.value)
    return [row.id for row in await conn.execute(stmt)]


async def unfinished_among(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `ids` are jobs that exist and have not ended."""
    stmt = sa.select(job_t.c.id).where(job_t.c.id.in_(ids), job_t.c.status.not_in(_ENDED))
    return {row.id for row in await conn.execute(stmt)}
