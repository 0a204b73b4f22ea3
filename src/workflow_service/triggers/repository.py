"""Trigger and trigger event queries (SQLAlchemy Core), on PostgreSQL and SQLite alike."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.models import EventTrigger, TriggerEvent, Workflow

trigger_t: sa.Table = EventTrigger.__table__  # type: ignore[assignment]
event_t: sa.Table = TriggerEvent.__table__  # type: ignore[assignment]
workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]

CREATED = "created"
_CREATED_ONLY = sa.text("outcome = 'created'")
"""The unique index's predicate, as a literal: PostgreSQL infers the index of an ON CONFLICT from it, which a bound
parameter would defeat once the statement runs with a generic plan (from its sixth execution on a connection)."""
_EVENT_COLUMNS = (
    event_t.c.id,
    event_t.c.at,
    event_t.c.outcome,
    event_t.c.status,
    event_t.c.webhook_id,
    event_t.c.job_id,
    event_t.c.reason,
    event_t.c.body_bytes,
    event_t.c.body_excerpt,
)


def trigger_gone(exc: sa.exc.IntegrityError) -> bool:
    """Whether an insert of an event failed because its trigger is no longer there (deleted meanwhile, with its
    workflow or on its own)."""
    return "foreign key" in str(exc.orig).lower()


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(trigger_t.insert().values(values))


async def get(
    conn: AsyncConnection, workflow_id: uuid.UUID, trigger_id: uuid.UUID, *, for_update: bool = False
) -> AnyRow | None:
    """The trigger `trigger_id` of the workflow (None: none of it)."""
    stmt = sa.select(trigger_t).where(trigger_t.c.id == trigger_id, trigger_t.c.workflow_id == workflow_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).first()


async def for_event(conn: AsyncConnection, trigger_id: uuid.UUID) -> AnyRow | None:
    """The trigger an event is posted to, with its workflow's slug (None: there is none, or no longer)."""
    stmt = (
        sa.select(trigger_t, workflow_t.c.slug)
        .join(workflow_t, workflow_t.c.id == trigger_t.c.workflow_id)
        .where(trigger_t.c.id == trigger_id)
    )
    return (await conn.execute(stmt)).first()


async def of_workflow(conn: AsyncConnection, workflow_id: uuid.UUID) -> Sequence[AnyRow]:
    """The workflow's triggers, newest first."""
    stmt = sa.select(trigger_t).where(trigger_t.c.workflow_id == workflow_id).order_by(trigger_t.c.id.desc())
    return (await conn.execute(stmt)).all()


async def update(conn: AsyncConnection, trigger_id: uuid.UUID, values: dict[str, Any]) -> None:
    await conn.execute(trigger_t.update().where(trigger_t.c.id == trigger_id).values(values))


async def delete(conn: AsyncConnection, trigger_id: uuid.UUID) -> None:
    """Delete the trigger; its events go with it (ON DELETE CASCADE)."""
    await conn.execute(trigger_t.delete().where(trigger_t.c.id == trigger_id))


async def sealed(conn: AsyncConnection) -> Sequence[AnyRow]:
    """Every trigger whose secrets are stored encrypted, locked (`workflow-service rotate-secrets`)."""
    stmt = sa.select(trigger_t.c.id, trigger_t.c.secrets).where(trigger_t.c.auth == "standard_webhooks")
    return (await conn.execute(stmt.order_by(trigger_t.c.id).with_for_update())).all()


# --- events ------------------------------------------------------------------------------------


async def claim(conn: AsyncConnection, values: dict[str, Any]) -> int | None:
    """Insert the `created` event `values` (its job to be set by `set_job`); None when an event with the same
    `webhook_id` already created a job for the trigger (a concurrent delivery waits here for the first one's
    transaction, then finds it)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(event_t)
        .values({**values, "outcome": CREATED})
        .on_conflict_do_nothing(index_elements=[event_t.c.trigger_id, event_t.c.webhook_id], index_where=_CREATED_ONLY)
        .returning(event_t.c.id)
    )
    event_id: int | None = (await conn.execute(stmt)).scalar_one_or_none()
    return event_id


async def set_job(conn: AsyncConnection, event_id: int, job_id: uuid.UUID) -> None:
    await conn.execute(event_t.update().where(event_t.c.id == event_id).values(job_id=job_id))


async def created_by(conn: AsyncConnection, trigger_id: uuid.UUID, webhook_id: str) -> AnyRow | None:
    """The event with `webhook_id` that created a job for the trigger, if one did."""
    stmt = sa.select(event_t.c.id, event_t.c.job_id, event_t.c.at).where(
        event_t.c.trigger_id == trigger_id, event_t.c.webhook_id == webhook_id, event_t.c.outcome == CREATED
    )
    return (await conn.execute(stmt)).first()


async def insert_event(conn: AsyncConnection, values: dict[str, Any]) -> int:
    stmt = event_t.insert().values(values).returning(event_t.c.id)
    event_id: int = (await conn.execute(stmt)).scalar_one()
    return event_id


async def prune(conn: AsyncConnection, trigger_id: uuid.UUID, keep: int) -> None:
    """Delete the trigger's events that created no job, but the newest `keep` of them."""
    not_created = sa.and_(event_t.c.trigger_id == trigger_id, event_t.c.outcome != CREATED)
    oldest_kept = (
        sa.select(event_t.c.id).where(not_created).order_by(event_t.c.id.desc()).offset(keep - 1).limit(1)
    ).scalar_subquery()
    await conn.execute(event_t.delete().where(not_created, event_t.c.id < oldest_kept))


async def events_page(conn: AsyncConnection, trigger_id: uuid.UUID, before: int | None, limit: int) -> Sequence[AnyRow]:
    """The trigger's events, newest first, from before the event `before`."""
    stmt = sa.select(*_EVENT_COLUMNS).where(event_t.c.trigger_id == trigger_id)
    if before is not None:
        stmt = stmt.where(event_t.c.id < before)
    return (await conn.execute(stmt.order_by(event_t.c.id.desc()).limit(limit))).all()


async def recent_events(conn: AsyncConnection, trigger_ids: Sequence[uuid.UUID], each: int) -> Sequence[AnyRow]:
    """The newest `each` events of each trigger, newest first within each."""
    if not trigger_ids:
        return []
    rank = sa.func.row_number().over(partition_by=event_t.c.trigger_id, order_by=event_t.c.id.desc()).label("rank")
    ranked = sa.select(event_t.c.trigger_id, *_EVENT_COLUMNS, rank).where(event_t.c.trigger_id.in_(trigger_ids))
    inner = ranked.subquery()
    stmt = sa.select(inner).where(inner.c.rank <= each).order_by(inner.c.trigger_id, inner.c.id.desc())
    return (await conn.execute(stmt)).all()


async def last_created(conn: AsyncConnection, trigger_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """When each trigger last created a job (those that never did are absent)."""
    if not trigger_ids:
        return {}
    stmt = (
        sa.select(event_t.c.trigger_id, sa.func.max(event_t.c.at))
        .where(event_t.c.trigger_id.in_(trigger_ids), event_t.c.outcome == CREATED)
        .group_by(event_t.c.trigger_id)
    )
    return {row[0]: row[1] for row in (await conn.execute(stmt)).all()}
