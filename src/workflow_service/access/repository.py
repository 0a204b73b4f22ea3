"""Queries of credentials as a whole: marking expired API keys and personal tokens revoked (access/expiry.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.models import ApiKey, PersonalToken, User, Workflow

key_t: sa.Table = ApiKey.__table__  # type: ignore[assignment]
token_t: sa.Table = PersonalToken.__table__  # type: ignore[assignment]
user_t: sa.Table = User.__table__  # type: ignore[assignment]
workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class _Kind:
    """A kind of credential: its table, and what a sweep answers of each one it marked (and from where)."""

    table: sa.Table
    columns: tuple[sa.ColumnElement[Any], ...]
    source: sa.FromClause


_KEYS = _Kind(
    key_t,
    (
        key_t.c.id,
        key_t.c.name,
        key_t.c.prefix,
        key_t.c.expires_at,
        key_t.c.workflow_id,
        workflow_t.c.slug,
        workflow_t.c.workspace_id,
    ),
    key_t.join(workflow_t, workflow_t.c.id == key_t.c.workflow_id),
)
_TOKENS = _Kind(
    token_t,
    (
        token_t.c.id,
        token_t.c.name,
        token_t.c.prefix,
        token_t.c.expires_at,
        token_t.c.workspace_id,
        token_t.c.user_id,
        user_t.c.email,
    ),
    token_t.join(user_t, user_t.c.id == token_t.c.user_id),
)


async def _revoke_expired(conn: AsyncConnection, kind: _Kind, now: datetime, limit: int) -> Sequence[AnyRow]:
    """Up to `limit` unrevoked credentials of `kind` past their `expires_at`, marked revoked as of it. Concurrent
    sweeps skip each other's rows (SKIP LOCKED) and the update re-checks `revoked_at`, so each is marked, and
    answered, once."""
    table = kind.table
    due = (
        sa.select(table.c.id)
        .where(table.c.revoked_at.is_(None), table.c.expires_at <= now)
        .order_by(table.c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    marked = (
        table.update()
        .where(table.c.id.in_(due), table.c.revoked_at.is_(None))
        .values(revoked_at=table.c.expires_at)
        .returning(table.c.id)
    )
    ids: list[uuid.UUID] = list((await conn.execute(marked)).scalars())
    if not ids:
        return []
    query = (
        sa.select(*kind.columns)
        .select_from(kind.source)
        .where(table.c.id.in_(ids))
        .order_by(table.c.expires_at, table.c.id)
    )
    return (await conn.execute(query)).all()


async def revoke_expired_keys(conn: AsyncConnection, now: datetime, limit: int) -> Sequence[AnyRow]:
    """Mark API keys past their expiry revoked (`_revoke_expired`); each with its workflow's slug and workspace."""
    return await _revoke_expired(conn, _KEYS, now, limit)


async def revoke_expired_tokens(conn: AsyncConnection, now: datetime, limit: int) -> Sequence[AnyRow]:
    """Mark personal tokens past their expiry revoked (`_revoke_expired`); each with its user's email."""
    return await _revoke_expired(conn, _TOKENS, now, limit)
