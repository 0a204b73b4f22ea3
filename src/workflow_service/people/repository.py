"""Queries of workspaces, users, memberships, personal tokens and workflow members (SQLAlchemy Core)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.core.ids import parse_uuid
from workflow_service.models import Membership, PersonalToken, User, Workflow, WorkflowMember, Workspace

workspace_t: sa.Table = Workspace.__table__  # type: ignore[assignment]
user_t: sa.Table = User.__table__  # type: ignore[assignment]
membership_t: sa.Table = Membership.__table__  # type: ignore[assignment]
token_t: sa.Table = PersonalToken.__table__  # type: ignore[assignment]
member_t: sa.Table = WorkflowMember.__table__  # type: ignore[assignment]
workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]


async def workspace_id_by_slug(conn: AsyncConnection, slug: str) -> uuid.UUID | None:
    found: uuid.UUID | None = (
        await conn.execute(sa.select(workspace_t.c.id).where(workspace_t.c.slug == slug))
    ).scalar_one_or_none()
    return found


async def token_by_prefix(conn: AsyncConnection, prefix: str) -> AnyRow | None:
    """The personal token with this prefix (revoked and expired ones too: the caller says why it fails), with
    its user's email and role in the token's workspace (null when the user is no longer a member)."""
    on = sa.and_(membership_t.c.user_id == token_t.c.user_id, membership_t.c.workspace_id == token_t.c.workspace_id)
    stmt = (
        sa.select(
            token_t.c.id,
            token_t.c.user_id,
            token_t.c.workspace_id,
            token_t.c.token_hash,
            token_t.c.expires_at,
            token_t.c.revoked_at,
            token_t.c.last_used_at,
            user_t.c.email,
            membership_t.c.role,
        )
        .select_from(token_t.join(user_t, user_t.c.id == token_t.c.user_id).outerjoin(membership_t, on))
        .where(token_t.c.prefix == prefix)
    )
    return (await conn.execute(stmt)).first()


async def touch_token(conn: AsyncConnection, token_id: uuid.UUID, now: datetime, stale_before: datetime) -> None:
    """Record a use, unless one was recorded since `stale_before` (a no-op for concurrent requests)."""
    await conn.execute(
        token_t.update()
        .where(
            token_t.c.id == token_id, sa.or_(token_t.c.last_used_at.is_(None), token_t.c.last_used_at < stale_before)
        )
        .values(last_used_at=now)
    )


async def workflow_role(conn: AsyncConnection, workspace_id: uuid.UUID, ref: str, user_id: uuid.UUID) -> str | None:
    """The role the user was invited with on the workflow `ref` (id or slug) of the workspace, or None."""
    as_id = parse_uuid(ref)
    named = workflow_t.c.id == as_id if as_id is not None else workflow_t.c.slug == ref
    stmt = (
        sa.select(member_t.c.role)
        .select_from(member_t.join(workflow_t, workflow_t.c.id == member_t.c.workflow_id))
        .where(named, workflow_t.c.workspace_id == workspace_id, member_t.c.user_id == user_id)
    )
    role: str | None = (await conn.execute(stmt)).scalar_one_or_none()
    return role


def role_of(user_id: uuid.UUID, workflow_id: sa.ColumnElement[uuid.UUID]) -> sa.ScalarSelect[str]:
    """A subquery: the user's invited role on the workflow `workflow_id` names (null when not invited)."""
    return (
        sa.select(member_t.c.role)
        .where(member_t.c.workflow_id == workflow_id, member_t.c.user_id == user_id)
        .scalar_subquery()
    )


async def insert_workflow_member(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(member_t.insert().values(values))


async def user_for_identity(conn: AsyncConnection, subject: str, email: str | None) -> AnyRow | None:
    """The user an identity provider's subject names, else the one with its (verified) email who has no subject
    yet, which is then bound to the subject: from then on the subject alone finds them."""
    by_subject = sa.select(user_t.c.id, user_t.c.email).where(user_t.c.subject == subject)
    found = (await conn.execute(by_subject)).first()
    if found is not None or email is None:
        return found
    bind = (
        user_t.update()
        .where(user_t.c.email == email.lower(), user_t.c.subject.is_(None))
        .values(subject=subject)
        .returning(user_t.c.id, user_t.c.email)
    )
    return (await conn.execute(bind)).first()


async def memberships_of(conn: AsyncConnection, user_id: uuid.UUID) -> Sequence[AnyRow]:
    """The user's workspaces: id, slug and role, by slug."""
    stmt = (
        sa.select(workspace_t.c.id, workspace_t.c.slug, membership_t.c.role)
        .select_from(membership_t.join(workspace_t, workspace_t.c.id == membership_t.c.workspace_id))
        .where(membership_t.c.user_id == user_id)
        .order_by(workspace_t.c.slug)
    )
    return (await conn.execute(stmt)).all()
