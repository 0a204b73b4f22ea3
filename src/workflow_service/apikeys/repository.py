"""API key queries (SQLAlchemy Core). Authentication runs one indexed lookup by prefix per request."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.models import ApiKey, Workflow

key_t: sa.Table = ApiKey.__table__  # type: ignore[assignment]
workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]

READ_COLUMNS = (
    key_t.c.id,
    key_t.c.name,
    key_t.c.prefix,
    key_t.c.created_at,
    key_t.c.last_used_at,
    key_t.c.expires_at,
    key_t.c.created_by,
)


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(key_t.insert().values(values))


async def list_active(conn: AsyncConnection, workflow_id: uuid.UUID) -> Sequence[AnyRow]:
    stmt = (
        sa.select(*READ_COLUMNS)
        .where(key_t.c.workflow_id == workflow_id, key_t.c.revoked_at.is_(None))
        .order_by(key_t.c.created_at, key_t.c.id)
    )
    return (await conn.execute(stmt)).all()


async def revoke(conn: AsyncConnection, workflow_id: uuid.UUID, key_id: uuid.UUID, at: datetime) -> str | None:
    """Set revoked_at on an active key of this workflow; its name, or None when there is none."""
    stmt = (
        key_t.update()
        .where(key_t.c.id == key_id, key_t.c.workflow_id == workflow_id, key_t.c.revoked_at.is_(None))
        .values(revoked_at=at)
        .returning(key_t.c.name)
    )
    name: str | None = (await conn.execute(stmt)).scalar_one_or_none()
    return name


async def by_prefix(conn: AsyncConnection, prefix: str) -> AnyRow | None:
    """The key with this prefix (revoked ones too: the caller says why it fails), with its workflow's slug (so a
    route given a slug needs no query) and workspace."""
    stmt = (
        sa.select(
            key_t.c.id,
            key_t.c.name,
            key_t.c.workflow_id,
            key_t.c.key_hash,
            key_t.c.last_used_at,
            key_t.c.expires_at,
            key_t.c.revoked_at,
            workflow_t.c.slug,
            workflow_t.c.workspace_id,
        )
        .select_from(key_t.join(workflow_t, workflow_t.c.id == key_t.c.workflow_id))
        .where(key_t.c.prefix == prefix)
    )
    return (await conn.execute(stmt)).first()


async def touch(conn: AsyncConnection, key_id: uuid.UUID, now: datetime, stale_before: datetime) -> None:
    """Record a use, unless one was recorded since `stale_before` (a no-op for concurrent requests)."""
    await conn.execute(
        key_t.update()
        .where(key_t.c.id == key_id, sa.or_(key_t.c.last_used_at.is_(None), key_t.c.last_used_at < stale_before))
        .values(last_used_at=now)
    )
