"""A job's events in order (see jobs/events): the places its step records take as they are written, and
what a follower reads after a place.

A job's writes are serialised by its row: every transition updates it, every checkpoint extends its lease
first, and each writes its job_event rows and step records after that, in the same transaction. So a place
taken once the row is held is after every place the job had before, and the job's events commit in the
order of their places: reading "after place P" never skips one that commits later.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.jobs.events.positions import SLOT
from workflow_service.jobs.repository.tables import event_t, is_postgres, job_t, step_t
from workflow_service.jobs.states import StepStatus

EVENT_ID_SEQUENCE = "job_event_id_seq"
"""Where job_event ids come from; on PostgreSQL a step write takes one for its places."""
PLACE_COLUMNS = ("start_seq", "end_seq")
"""The job_step columns of a record's places (its start's, its end's); not step-record columns: the
database gives them."""


def next_place(conn: AsyncConnection, job_id: uuid.UUID) -> sa.ColumnElement[int]:
    """SQL for a place after every event the job has, for a write that holds the job's row. On PostgreSQL,
    the slot of a fresh job_event id (no status change ever takes it); on SQLite, which writes one
    transaction at a time, the job's last status change's slot or its last step's place, whichever is later
    (the job's next status change has a larger id)."""
    if is_postgres(conn):
        return sa.select(sa.func.nextval(EVENT_ID_SEQUENCE)).scalar_subquery() * SLOT
    last_change = sa.select(sa.func.coalesce(sa.func.max(event_t.c.id), 0)).where(event_t.c.job_id == job_id)
    step_last = sa.func.max(sa.func.coalesce(step_t.c.start_seq, 0), sa.func.coalesce(step_t.c.end_seq, 0))
    last_step = sa.select(sa.func.coalesce(sa.func.max(step_last), 0)).where(step_t.c.job_id == job_id)
    return sa.func.max(last_change.scalar_subquery() * SLOT, last_step.scalar_subquery())


def step_places(conn: AsyncConnection, job_id: uuid.UUID, status: str, index: int) -> dict[str, Any]:
    """The places of the start and end of the `index`-th step record a write stores: a running record has
    a start, an ended one an end too (a record written once it ended has both; a skipped step never started)."""
    base = next_place(conn, job_id)
    return {
        "start_seq": None if status == StepStatus.SKIPPED else base + (2 * index + 1),
        "end_seq": None if status == StepStatus.RUNNING else base + (2 * index + 2),
    }


def kept_start(excluded: Any) -> sa.ColumnElement[Any]:
    """On rewriting a step record: the start stays where it was when the record was running in the same
    attempt (its end is being written now); else it is the new record's (a new attempt ran the step again)."""
    running_before = sa.and_(step_t.c.status == StepStatus.RUNNING.value, step_t.c.attempt == excluded.attempt)
    return sa.case((running_before, step_t.c.start_seq), else_=excluded.start_seq)


def ended_place(conn: AsyncConnection, job_id: uuid.UUID) -> sa.ColumnElement[int]:
    """The place of the end of each running step an interrupted job fails at once (one per step)."""
    return next_place(conn, job_id) + 2 * step_t.c.position + 2


async def status_of(conn: AsyncConnection, job_id: uuid.UUID) -> str | None:
    status: str | None = (await conn.execute(sa.select(job_t.c.status).where(job_t.c.id == job_id))).scalar()
    return status


async def status_changes_after(conn: AsyncConnection, job_id: uuid.UUID, place: int) -> Sequence[AnyRow]:
    """The job's job_event rows after `place`, in order."""
    columns = (event_t.c.id, event_t.c.from_status, event_t.c.to_status, event_t.c.at, event_t.c.actor)
    stmt = (
        sa.select(*columns, event_t.c.reason)
        .where(event_t.c.job_id == job_id, event_t.c.id > place // SLOT)
        .order_by(event_t.c.id)
    )
    return (await conn.execute(stmt)).all()


_STEP_EVENT_COLUMNS = ("step_id", "type", "status", "attempt", "started_at", "finished_at", "error")


async def steps_after(conn: AsyncConnection, job_id: uuid.UUID, place: int) -> Sequence[AnyRow]:
    """The job's step records whose start or end is after `place`."""
    columns = [step_t.c[name] for name in _STEP_EVENT_COLUMNS]
    stmt = sa.select(*columns, step_t.c.start_seq, step_t.c.end_seq).where(
        step_t.c.job_id == job_id, sa.or_(step_t.c.start_seq > place, step_t.c.end_seq > place)
    )
    return (await conn.execute(stmt)).all()
