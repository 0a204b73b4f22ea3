"""Queries of credentials as a whole: marking expired API keys and personal tokens revoked (access/expiry.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.models import ApiKey, PersonalToken, User, Workflow

key_t: sa.Table = ApiKey.__table__  # type: ignore[assignment]
token_t: sa.Table = PersonalToken.__table__  # type: ignore[assignment]
user_t: sa.Table = User.__table__  # type: ignore[assignment]
workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]


def _revoke_expired(table: sa.Table, now: datetime, limit: int) -> sa.Update:
    """Up to `limit` unrevoked rows of `table` past their `expires_at`, marked revoked as of it. Concurrent
    sweeps skip each other's rows (SKIP LOCKED) and the update re-checks `revoked_at`, so each row is marked,
    and returned, once."""
    due = (
        sa.select(table.c.id)
        .where(table.c.revoked_at.is_(None), table.c.expires_at <= now)
        .order_by(table.c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return table.update().where(table.c.id.in_(due), table.c.revoked_at.is_(None)).values(revoked_at=table.c.expires_at)


async def revoke_expired_keys(conn: AsyncConnection, now: datetime, limit: int) -> Sequence[AnyRow]:
    """Mark API keys past their expiry revoked (`_revoke_expired`); each with its workflow's slug and workspace."""
    stmt = _revoke_expired(key_t, now, limit).returning(key_t.c.id)
    ids: list[uuid.UUID] = list((await conn.execute(stmt)).scalars())
    if not ids:
        return []
    query = (
        sa.select(
            key_t.c.id,
            key_t.c.name,
            key_t.c.prefix,
            key_t.c.expires_at,
            key_t.c.workflow_id,
            workflow_t.c.slug,
            workflow_t.c.workspace_id,
        )
        .select_from(key_t.join(workflow_t, workflow_t.c.id == key_t.c.workflow_id))
        .where(key_t.c.id.in_(ids))
        .order_by(key_t.c.expires_at, key_t.c.id)
    )
    return (await conn.execute(query)).all()


async def revoke_expired_tokens(conn: AsyncConnection, now: datetime, limit: int) -> Sequence[AnyRow]:
    """Mark personal tokens past their expiry revoked (`_revoke_expired`); each with its user's email."""
    stmt = _revoke_expired(token_t, now, limit).returning(token_t.c.id)
    ids: list[uuid.UUID] = list((await conn.execute(stmt)).scalars())
    if not ids:
        return []
    query = (
        sa.select(
            token_t.c.id,
            token_t.c.name,
            token_t.c.prefix,
            token_t.c.expires_at,
            token_t.c.workspace_id,
            token_t.c.user_id,
            user_t.c.email,
        )
        .select_from(token_t.join(user_t, user_t.c.id == token_t.c.user_id))
        .where(token_t.c.id.in_(ids))
        .order_by(token_t.c.expires_at, token_t.c.id)
    )
    return (await conn.execute(query)).all()
