"""The deliveries' queries: the delivery and delivery_attempt tables (read with their workflow's settings).

The workflow's settings row belongs to the workflows domain: a delivery that turns push off goes through
`workflows.settings.stop_push`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.models import Delivery, DeliveryAttempt, Workflow

delivery_t: sa.Table = Delivery.__table__  # type: ignore[assignment]
attempt_t: sa.Table = DeliveryAttempt.__table__  # type: ignore[assignment]
workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(delivery_t.insert().values(values))


async def lock_due(
    conn: AsyncConnection,
    now: datetime,
    limit: int,
    *,
    skip: Collection[uuid.UUID] = (),
    skip_workflows: Collection[uuid.UUID] = (),
) -> Sequence[AnyRow]:
    """Up to `limit` pending deliveries due at `now`, oldest first, with their workflow's settings; locked,
    skipping the ones other transactions hold, those in `skip`, and the push callbacks of the workflows
    `skip_workflows` (a job's own notice goes to its own URL: not skipped with them)."""
    query = (
        sa.select(delivery_t.c.id, delivery_t.c.workflow_id, delivery_t.c.url, workflow_t.c.settings)
        .join(workflow_t, workflow_t.c.id == delivery_t.c.workflow_id)
        .where(delivery_t.c.status == "pending", delivery_t.c.next_attempt_at <= now)
        .order_by(delivery_t.c.next_attempt_at)
        .limit(limit)
        .with_for_update(of=delivery_t, skip_locked=True)
    )
    if skip:
        query = query.where(delivery_t.c.id.not_in(skip))
    if skip_workflows:
        query = query.where(sa.or_(delivery_t.c.workflow_id.not_in(skip_workflows), delivery_t.c.url.is_not(None)))
    return (await conn.execute(query)).all()


async def postpone(conn: AsyncConnection, ids: Sequence[uuid.UUID], until: datetime) -> None:
    """Push the deliveries' next attempt to `until` (a claim)."""
    await conn.execute(delivery_t.update().where(delivery_t.c.id.in_(ids)).values(next_attempt_at=until))


async def get_with_settings(conn: AsyncConnection, delivery_id: uuid.UUID) -> AnyRow | None:
    """The delivery, with its workflow's settings."""
    stmt = (
        sa.select(delivery_t, workflow_t.c.settings)
        .join(workflow_t, workflow_t.c.id == delivery_t.c.workflow_id)
        .where(delivery_t.c.id == delivery_id)
    )
    return (await conn.execute(stmt)).first()


async def fail_pending(conn: AsyncConnection, delivery_id: uuid.UUID, at: datetime) -> None:
    """A pending delivery fails for good (nothing more will be attempted)."""
    await conn.execute(
        delivery_t.update()
        .where(delivery_t.c.id == delivery_id, delivery_t.c.status == "pending")
        .values(status="failed", next_attempt_at=None, finished_at=at)
    )


async def next_attempt_number(conn: AsyncConnection, delivery_id: uuid.UUID) -> int | None:
    """Count one more attempt and return its number (numbered in the database, so racing attempts differ);
    None when the delivery is gone (its job was deleted while it was being sent)."""
    stmt = (
        delivery_t.update()
        .where(delivery_t.c.id == delivery_id)
        .values(attempts=delivery_t.c.attempts + 1)
        .returning(delivery_t.c.attempts)
    )
    number: int | None = (await conn.execute(stmt)).scalar_one_or_none()
    return number


async def insert_attempt(conn: AsyncConnection, record: dict[str, Any]) -> None:
    await conn.execute(attempt_t.insert().values(record))


async def count_attempts(conn: AsyncConnection, delivery_id: uuid.UUID, trigger: str) -> int:
    """How many attempts of the delivery `trigger` made."""
    stmt = sa.select(sa.func.count()).where(attempt_t.c.delivery_id == delivery_id, attempt_t.c.trigger == trigger)
    count: int = (await conn.execute(stmt)).scalar_one()
    return count


async def update(conn: AsyncConnection, delivery_id: uuid.UUID, values: dict[str, Any]) -> None:
    await conn.execute(delivery_t.update().where(delivery_t.c.id == delivery_id).values(values))


async def list_for_job(conn: AsyncConnection, job_id: uuid.UUID) -> Sequence[AnyRow]:
    """The job's deliveries, oldest first."""
    stmt = sa.select(delivery_t).where(delivery_t.c.job_id == job_id).order_by(delivery_t.c.created_at)
    return (await conn.execute(stmt)).all()


async def list_attempts(conn: AsyncConnection, delivery_id: uuid.UUID) -> Sequence[AnyRow]:
    """The delivery's attempts in order."""
    stmt = sa.select(attempt_t).where(attempt_t.c.delivery_id == delivery_id).order_by(attempt_t.c.number)
    return (await conn.execute(stmt)).all()


async def latest_for_job(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow | None:
    """The job's newest push callback, else its newest own notice (its id and URL), with its workflow's
    settings."""
    stmt = (
        sa.select(delivery_t.c.id, delivery_t.c.url, workflow_t.c.settings)
        .join(workflow_t, workflow_t.c.id == delivery_t.c.workflow_id)
        .where(delivery_t.c.job_id == job_id)
        .order_by(delivery_t.c.url.is_not(None), delivery_t.c.created_at.desc())
        .limit(1)
    )
    return (await conn.execute(stmt)).first()
