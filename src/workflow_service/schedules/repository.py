"""Queries of schedules and their fires (SQLAlchemy Core).

The firing pass's selections lock their rows with SKIP LOCKED (ignored on SQLite, which has one writer), so that
every worker may run it at once; a fire's unique key (schedule, scheduled time) makes the second writer of one
time a no-op."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.models import Job, Schedule, ScheduleFire, Workflow

schedule_t: sa.Table = Schedule.__table__  # type: ignore[assignment]
fire_t: sa.Table = ScheduleFire.__table__  # type: ignore[assignment]
job_t: sa.Table = Job.__table__  # type: ignore[assignment]
workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


# --- schedules ---------------------------------------------------------------------------------------------


async def insert(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    await conn.execute(schedule_t.insert().values(dict(values)))


async def get(
    conn: AsyncConnection, workflow_id: uuid.UUID, schedule_id: uuid.UUID, *, for_update: bool = False
) -> AnyRow | None:
    """The workflow's schedule `schedule_id` (None: no such schedule of that workflow)."""
    stmt = sa.select(schedule_t).where(schedule_t.c.id == schedule_id, schedule_t.c.workflow_id == workflow_id)
    return (await conn.execute(stmt.with_for_update() if for_update else stmt)).first()


async def of_workflow(conn: AsyncConnection, workflow_id: uuid.UUID) -> Sequence[AnyRow]:
    """The workflow's schedules, oldest first."""
    stmt = sa.select(schedule_t).where(schedule_t.c.workflow_id == workflow_id).order_by(schedule_t.c.id)
    return (await conn.execute(stmt)).all()


async def update(conn: AsyncConnection, schedule_id: uuid.UUID, values: Mapping[str, Any]) -> None:
    await conn.execute(schedule_t.update().where(schedule_t.c.id == schedule_id).values(dict(values)))


async def delete(conn: AsyncConnection, schedule_id: uuid.UUID) -> None:
    """Delete a schedule with its fires (their jobs stay)."""
    await conn.execute(schedule_t.delete().where(schedule_t.c.id == schedule_id))


# --- the firing pass ---------------------------------------------------------------------------------------


async def due(conn: AsyncConnection, now: datetime, limit: int) -> list[AnyRow]:
    """Schedules to look at now: those not paused whose next time has come (soonest first), and those with a
    time waiting for their previous job (`buffer_one`). Not locked: `lock_due` takes each in its own turn."""
    columns = (schedule_t.c.id, schedule_t.c.workflow_id)
    running = sa.not_(schedule_t.c.paused)
    come = (
        sa.select(*columns)
        .where(running, schedule_t.c.next_run_at <= now)
        .order_by(schedule_t.c.next_run_at)
        .limit(limit)
    )
    waiting = sa.select(*columns).where(running, schedule_t.c.buffered_at.is_not(None)).limit(limit)
    found = {row.id: row for row in (await conn.execute(come)).all()}
    for row in (await conn.execute(waiting)).all():
        found.setdefault(row.id, row)
    return list(found.values())


async def hold_workflow(conn: AsyncConnection, workflow_id: uuid.UUID) -> bool:
    """Share-lock the workflow's key (a deletion waits, and is waited for, before the schedule's row is locked:
    the two never lock in opposite orders). False when it is gone."""
    stmt = sa.select(workflow_t.c.id).where(workflow_t.c.id == workflow_id).with_for_update(read=True, key_share=True)
    return (await conn.execute(stmt)).first() is not None


async def lock_due(conn: AsyncConnection, schedule_id: uuid.UUID, now: datetime) -> AnyRow | None:
    """The schedule, locked, if it is still to be looked at (`due`) and no other pass holds it."""
    stmt = (
        sa.select(schedule_t)
        .where(
            schedule_t.c.id == schedule_id,
            sa.not_(schedule_t.c.paused),
            sa.or_(schedule_t.c.next_run_at <= now, schedule_t.c.buffered_at.is_not(None)),
        )
        .with_for_update(skip_locked=True)
    )
    return (await conn.execute(stmt)).first()


async def job_status(conn: AsyncConnection, job_id: uuid.UUID) -> str | None:
    """A job's status (None: no such job)."""
    found: str | None = (await conn.execute(sa.select(job_t.c.status).where(job_t.c.id == job_id))).scalar()
    return found


# --- fires -------------------------------------------------------------------------------------------------


async def claim(conn: AsyncConnection, values: Mapping[str, Any]) -> int | None:
    """Insert a fire; its id, or None when its time already has one (another writer's, committed or not: on
    PostgreSQL this waits for that writer's transaction to end)."""
    stmt = (
        _insert(conn)(fire_t)
        .values(dict(values))
        .on_conflict_do_nothing(index_elements=[fire_t.c.schedule_id, fire_t.c.scheduled_at])
        .returning(fire_t.c.id)
    )
    found: int | None = (await conn.execute(stmt)).scalar()
    return found


async def retake(
    conn: AsyncConnection, schedule_id: uuid.UUID, at: datetime, outcome: str, values: Mapping[str, Any]
) -> int | None:
    """Turn the time's fire with `outcome` (a skipped one a backfill runs, a buffered one that now runs) into
    `values`; its id, or None when it has no fire with that outcome."""
    stmt = (
        fire_t.update()
        .where(fire_t.c.schedule_id == schedule_id, fire_t.c.scheduled_at == at, fire_t.c.outcome == outcome)
        .values(dict(values))
        .returning(fire_t.c.id)
    )
    found: int | None = (await conn.execute(stmt)).scalar()
    return found


async def set_fire(conn: AsyncConnection, fire_id: int, values: Mapping[str, Any]) -> None:
    await conn.execute(fire_t.update().where(fire_t.c.id == fire_id).values(dict(values)))


async def fires_at(conn: AsyncConnection, schedule_id: uuid.UUID, times: Sequence[datetime]) -> dict[datetime, AnyRow]:
    """The schedule's fires at `times`, by time."""
    if not times:
        return {}
    stmt = sa.select(fire_t.c.scheduled_at, fire_t.c.outcome, fire_t.c.job_id).where(
        fire_t.c.schedule_id == schedule_id, fire_t.c.scheduled_at >= min(times), fire_t.c.scheduled_at <= max(times)
    )
    return {row.scheduled_at: row for row in (await conn.execute(stmt)).all()}


async def recent(
    conn: AsyncConnection, schedule_ids: Iterable[uuid.UUID], per_schedule: int
) -> dict[uuid.UUID, list[AnyRow]]:
    """Each schedule's latest fires, newest first, with their job's status now."""
    ids = list(schedule_ids)
    if not ids:
        return {}
    rank = (
        sa.func.row_number()
        .over(partition_by=fire_t.c.schedule_id, order_by=fire_t.c.scheduled_at.desc())
        .label("rank")
    )
    ranked = (
        sa.select(fire_t, job_t.c.status.label("job_status"), rank)
        .select_from(fire_t.outerjoin(job_t, job_t.c.id == fire_t.c.job_id))
        .where(fire_t.c.schedule_id.in_(ids))
        .subquery()
    )
    stmt = sa.select(ranked).where(ranked.c.rank <= per_schedule).order_by(ranked.c.schedule_id, ranked.c.rank)
    found: dict[uuid.UUID, list[AnyRow]] = {schedule_id: [] for schedule_id in ids}
    for row in (await conn.execute(stmt)).all():
        found[row.schedule_id].append(row)
    return found


async def of_job(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow | None:
    """The schedule that made the job, locked."""
    made = sa.select(fire_t.c.schedule_id).where(fire_t.c.job_id == job_id).scalar_subquery()
    stmt = sa.select(schedule_t).where(schedule_t.c.id == made).with_for_update()
    return (await conn.execute(stmt)).first()


async def delete_fires_before(conn: AsyncConnection, workflow_id: uuid.UUID, before: datetime, limit: int) -> int:
    """Delete up to `limit` fires of the workflow's schedules for times before `before` (a buffered one still
    waits: it stays); how many."""
    of_workflow = sa.select(schedule_t.c.id).where(schedule_t.c.workflow_id == workflow_id)
    old = (
        sa.select(fire_t.c.id)
        .where(fire_t.c.schedule_id.in_(of_workflow), fire_t.c.scheduled_at < before, fire_t.c.outcome != "buffered")
        .limit(limit)
    )
    return int((await conn.execute(fire_t.delete().where(fire_t.c.id.in_(old)))).rowcount)
