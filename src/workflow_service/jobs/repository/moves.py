"""The writes of a job's life: its insert, the guarded status change, the step records an attempt saves.

Every status change goes through `transition`, a guarded UPDATE that also appends one job_event row
per hop. The caller learns whether it won: no row updated means another actor moved the job first,
which is an answer, not an error.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

import workflow_service.jobs.repository.pg as pg
from workflow_service.core.clock import utcnow
from workflow_service.core.db import AnyRow
from workflow_service.engine.executor import STEP_RECORD_COLUMNS, StepRecord
from workflow_service.jobs.repository.events import ended_place, kept_start, step_places
from workflow_service.jobs.repository.params import Move
from workflow_service.jobs.repository.tables import event_t, is_postgres, job_t, step_t
from workflow_service.jobs.states import JobStatus, StepStatus, check_path

Writes = Callable[[AsyncConnection], Awaitable[None]]
"""What a move writes besides the job's row and its events (see `transition`)."""

SUBMITTED = "submitted"
"""The reason of a job's first event."""


def _events(job_id: uuid.UUID, move: Move, at: Sequence[datetime]) -> list[dict[str, Any]]:
    path, actor, reason = move.path, move.actor, move.reason
    return [
        {"job_id": job_id, "from_status": a.value, "to_status": b.value, "at": t, "actor": actor, "reason": reason}
        for a, b, t in zip(path, path[1:], at, strict=False)
    ]


class WorkflowGone(Exception):
    """The job's workflow (or its version) was deleted between its lookup and the job's insert."""


async def insert_job(conn: AsyncConnection, values: dict[str, Any], actor: str) -> bool:
    """The job row `values` and its first event (one statement on PostgreSQL). False when the idempotency
    key is taken (another request with it made a job first); WorkflowGone when its workflow was deleted."""
    if is_postgres(conn):
        try:
            return await pg.insert_job(conn, values, actor)
        except asyncpg.ForeignKeyViolationError as exc:
            raise WorkflowGone from exc
    first = {"job_id": values["id"], "from_status": None, "to_status": values["status"], "at": values["created_at"]}
    try:
        async with conn.begin_nested():
            await conn.execute(job_t.insert().values(values))
            await conn.execute(event_t.insert().values(**first, actor=actor, reason=SUBMITTED))
    except sa.exc.IntegrityError as exc:
        if "FOREIGN KEY" in str(exc.orig):
            raise WorkflowGone from exc
        if values.get("idempotency_key") is None:
            raise
        return False
    return True


async def transition(
    conn: AsyncConnection,
    job_id: uuid.UUID,
    move: Move,
    returning: Sequence[sa.Column[Any]] = (),
    then: Writes | None = None,
) -> AnyRow | None:
    """Make `move` in one guarded UPDATE.

    Returns the RETURNING row (the job's id by default) when this call won, None when the job was not
    in `move.path[0]` (or a guard failed). `then` writes what comes with the move (the step records it
    ends) once it has won, before its job_event rows: a job's status change is its last event. The job's
    `updated_at` becomes the time of the last hop.
    """
    check_path(list(move.path))
    times = list(move.at) if move.at is not None else [utcnow()] * (len(move.path) - 1)
    stmt = (
        job_t.update()
        .where(job_t.c.id == job_id, job_t.c.status == move.path[0].value, *move.guards)
        .values({"status": move.path[-1].value, "updated_at": times[-1], **(move.values or {})})
        .returning(*(returning or (job_t.c.id,)))
    )
    row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    if then is not None:
        await then(conn)
    await conn.execute(event_t.insert(), _events(job_id, move, times))
    return row


EDITABLE = frozenset({"name", "variables"})
"""What `update_job` may change: a job's name and variables, never its status (only `transition` moves it)."""


async def update_job(conn: AsyncConnection, job_id: uuid.UUID, values: dict[str, Any]) -> None:
    """Change the job's name or variables (PATCH), its `updated_at` now; the caller holds its row
    (repository.lock_for_update)."""
    assert set(values) <= EDITABLE, f"not editable: {set(values) - EDITABLE}"
    await conn.execute(job_t.update().where(job_t.c.id == job_id).values({**values, "updated_at": utcnow()}))


def attempt_is(attempt: int) -> list[sa.ColumnElement[bool]]:
    """A `Move` guard: the job is still at attempt `attempt`."""
    return [job_t.c.attempt == attempt]


def lease_expired(now: datetime) -> list[sa.ColumnElement[bool]]:
    """A `Move` guard: the job's lease expired before `now`."""
    return [job_t.c.lease_expires_at < now]


def _upsert(conn: AsyncConnection) -> Any:
    return postgresql.insert if is_postgres(conn) else sqlite.insert


_STEP_UPDATE = tuple(c for c in STEP_RECORD_COLUMNS if c != "step_id")
"""What a conflicting upsert of a step record replaces (the key is job_id, step_id)."""


async def upsert_steps(conn: AsyncConnection, job_id: uuid.UUID, records: Sequence[StepRecord]) -> None:
    """Save step records (a checkpoint): a record already saved for the step is replaced. Each takes its
    places among the job's events (the caller holds the job's row: see events.py)."""
    if not records:
        return
    rows = [{"job_id": job_id, **r.as_row(), **step_places(conn, job_id, r.status, i)} for i, r in enumerate(records)]
    stmt = _upsert(conn)(step_t).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[step_t.c.job_id, step_t.c.step_id],
        set_={
            **{c: stmt.excluded[c] for c in _STEP_UPDATE},
            "start_seq": kept_start(stmt.excluded),
            "end_seq": stmt.excluded.end_seq,
        },
    )
    await conn.execute(stmt)


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


async def fail_running_steps(conn: AsyncConnection, job_id: uuid.UUID, error: dict[str, Any], at: datetime) -> None:
    """The job's steps still running fail with `error` (an end that interrupts them)."""
    await conn.execute(
        step_t.update()
        .where(step_t.c.job_id == job_id, step_t.c.status == StepStatus.RUNNING.value)
        .values(status=StepStatus.FAILED.value, error=error, finished_at=at, end_seq=ended_place(conn, job_id))
    )
