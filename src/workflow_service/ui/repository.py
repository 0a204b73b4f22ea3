"""Queries of dashboard sessions (ui_session): open, find with what the session's principal needs, end."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.models import Membership, PersonalToken, UiSession, User

session_t: sa.Table = UiSession.__table__  # type: ignore[assignment]
token_t: sa.Table = PersonalToken.__table__  # type: ignore[assignment]
user_t: sa.Table = User.__table__  # type: ignore[assignment]
membership_t: sa.Table = Membership.__table__  # type: ignore[assignment]


async def insert(conn: AsyncConnection, **values: Any) -> None:
    """A new session: `values` are its columns (models.UiSession)."""
    await conn.execute(session_t.insert().values(**values))


async def by_secret_hash(conn: AsyncConnection, secret_hash: str) -> AnyRow | None:
    """The session with this cookie hash, with its token's state, user and role in the session's workspace (all
    null for the operator's session; the role is null when the user is no longer a member)."""
    on = sa.and_(membership_t.c.user_id == token_t.c.user_id, membership_t.c.workspace_id == session_t.c.workspace_id)
    stmt = (
        sa.select(
            session_t.c.id,
            session_t.c.workspace_id,
            session_t.c.token_id,
            session_t.c.operator_hash,
            session_t.c.csrf_token,
            session_t.c.created_at,
            session_t.c.expires_at,
            token_t.c.user_id,
            token_t.c.expires_at.label("token_expires_at"),
            token_t.c.revoked_at.label("token_revoked_at"),
            user_t.c.email,
            membership_t.c.role,
        )
        .select_from(
            session_t.outerjoin(token_t, token_t.c.id == session_t.c.token_id)
            .outerjoin(user_t, user_t.c.id == token_t.c.user_id)
            .outerjoin(membership_t, on)
        )
        .where(session_t.c.secret_hash == secret_hash)
    )
    return (await conn.execute(stmt)).first()


async def delete(conn: AsyncConnection, session_id: uuid.UUID) -> None:
    await conn.execute(session_t.delete().where(session_t.c.id == session_id))


async def delete_expired(conn: AsyncConnection, now: datetime) -> int:
    """Remove sessions past their expiry; how many."""
    result = await conn.execute(session_t.delete().where(session_t.c.expires_at <= now))
    return int(result.rowcount or 0)
