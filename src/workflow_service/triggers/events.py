"""A trigger's events: recording those that created no job, and reading them back.

An event that created a job is recorded in the transaction that creates the job (triggers/receive.py). One that
did not (refused, or a redelivery) is recorded on its own, after the answer is decided, without its body past
EXCERPT_CHARS, and only the newest KEPT of those are kept per trigger: whoever posts to the URL cannot fill the
disk, however much or often they send.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from workflow_service.core.clock import utcnow
from workflow_service.core.db import unit_of_work
from workflow_service.core.pagination import decode_int_cursor, encode_int_cursor
from workflow_service.triggers import repository as repo
from workflow_service.triggers.schemas import TriggerEventPage, TriggerEventRead

EXCERPT_CHARS = 1024
"""How much of a refused event's body is kept, to tell what was sent."""
KEPT = 100
"""How many events that created no job (refused, or redelivered) each trigger keeps: the newest."""
WEBHOOK_ID_LENGTH = 255


@dataclass(frozen=True, slots=True, kw_only=True)
class Unmade:
    """An event that created no job: refused (`rejected`), or a redelivery answered with the first one's job
    (`duplicate`)."""

    trigger_id: uuid.UUID
    outcome: str
    status: int
    reason: str
    webhook_id: str | None = None
    job_id: uuid.UUID | None = None
    body: bytes | None = None
    """What was read of the body, or its start (None: not read)."""
    body_bytes: int | None = None
    """How many bytes of the body were read."""


def excerpt(body: bytes | None) -> str | None:
    """The start of a body as text: invalid UTF-8 and NUL characters (which the database cannot store) replaced."""
    if not body:
        return None
    return body[: EXCERPT_CHARS * 4].decode(errors="replace")[:EXCERPT_CHARS].replace("\x00", "\ufffd")


async def record(engine: AsyncEngine, event: Unmade) -> None:
    """Record an event that created no job, in a transaction of its own, keeping the newest KEPT of those; nothing
    when its trigger was deleted meanwhile."""
    try:
        await _record(engine, event)
    except sa.exc.IntegrityError as exc:
        if not repo.trigger_gone(exc):
            raise


async def _record(engine: AsyncEngine, event: Unmade) -> None:
    async with unit_of_work(engine) as uow:
        await repo.insert_event(
            uow.conn,
            {
                "trigger_id": event.trigger_id,
                "at": utcnow(),
                "outcome": event.outcome,
                "status": event.status,
                "webhook_id": None if event.webhook_id is None else event.webhook_id[:WEBHOOK_ID_LENGTH],
                "job_id": event.job_id,
                "reason": event.reason,
                "body_bytes": event.body_bytes,
                "body_excerpt": excerpt(event.body) if event.outcome == "rejected" else None,
            },
        )
        await repo.prune(uow.conn, event.trigger_id, KEPT)


async def page(conn: AsyncConnection, trigger_id: uuid.UUID, cursor: str | None, limit: int) -> TriggerEventPage:
    """The trigger's events, newest first, a page at a time."""
    rows = await repo.events_page(conn, trigger_id, decode_int_cursor(cursor), limit + 1)
    items = [TriggerEventRead.model_validate(row, from_attributes=True) for row in rows[:limit]]
    return TriggerEventPage(items=items, next_cursor=encode_int_cursor(items[-1].id) if len(rows) > limit else None)
