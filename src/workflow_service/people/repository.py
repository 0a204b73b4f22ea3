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


# Workspaces

WORKSPACE_COLUMNS = (
    workspace_t.c.id,
    workspace_t.c.slug,
    workspace_t.c.name,
    workspace_t.c.retention_days,
    workspace_t.c.created_at,
)


async def insert_workspace(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(workspace_t.insert().values(values))


async def workspace(conn: AsyncConnection, workspace_id: uuid.UUID, *, for_update: bool = False) -> AnyRow | None:
    """The workspace; `for_update` locks it, which serializes the changes of its owners (so that one always
    stays). A lock that does not block the inserts of rows that refer to it (its workflows, tokens, members)."""
    stmt = sa.select(*WORKSPACE_COLUMNS).where(workspace_t.c.id == workspace_id)
    if for_update:
        stmt = stmt.with_for_update(key_share=True)
    return (await conn.execute(stmt)).first()


async def update_workspace(conn: AsyncConnection, workspace_id: uuid.UUID, values: dict[str, Any]) -> None:
    await conn.execute(workspace_t.update().where(workspace_t.c.id == workspace_id).values(values))


async def list_workspaces(
    conn: AsyncConnection, user_id: uuid.UUID | None, before: uuid.UUID | None, limit: int
) -> Sequence[AnyRow]:
    """Workspaces newest first, from before the workspace `before`: every one (with a null role) when `user_id`
    is None, else those the user belongs to, with their role in each."""
    if user_id is None:
        stmt = sa.select(*WORKSPACE_COLUMNS, sa.null().label("role"))
    else:
        on = sa.and_(membership_t.c.workspace_id == workspace_t.c.id, membership_t.c.user_id == user_id)
        stmt = sa.select(*WORKSPACE_COLUMNS, membership_t.c.role).select_from(workspace_t.join(membership_t, on))
    if before is not None:
        stmt = stmt.where(workspace_t.c.id < before)
    return (await conn.execute(stmt.order_by(workspace_t.c.id.desc()).limit(limit))).all()


# Users and memberships

MEMBER_COLUMNS = (
    user_t.c.id,
    user_t.c.email,
    user_t.c.name,
    membership_t.c.role,
    membership_t.c.created_at.label("joined_at"),
)


async def user_by_email(conn: AsyncConnection, email: str) -> AnyRow | None:
    return (await conn.execute(sa.select(user_t).where(user_t.c.email == email))).first()


async def user(conn: AsyncConnection, user_id: uuid.UUID) -> AnyRow | None:
    return (await conn.execute(sa.select(user_t).where(user_t.c.id == user_id))).first()


async def insert_user(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(user_t.insert().values(values))


async def update_user(conn: AsyncConnection, user_id: uuid.UUID, values: dict[str, Any]) -> None:
    await conn.execute(user_t.update().where(user_t.c.id == user_id).values(values))


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


async def insert_membership(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(membership_t.insert().values(values))


def _members(*extra: sa.ColumnElement[Any]) -> sa.Select[*tuple[Any, ...]]:
    """Users with their membership: the MEMBER_COLUMNS, and `extra`."""
    joined = user_t.join(membership_t, membership_t.c.user_id == user_t.c.id)
    return sa.select(*MEMBER_COLUMNS, *extra).select_from(joined)


def _membership(workspace_id: uuid.UUID, user_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.and_(membership_t.c.workspace_id == workspace_id, membership_t.c.user_id == user_id)


async def member(conn: AsyncConnection, workspace_id: uuid.UUID, user: uuid.UUID | str) -> AnyRow | None:
    """The user (by id, or by a normalized email) with their role in the workspace, or None when they are not a
    member of it."""
    named = user_t.c.id == user if isinstance(user, uuid.UUID) else user_t.c.email == user
    stmt = _members().where(named, membership_t.c.workspace_id == workspace_id)
    return (await conn.execute(stmt)).first()


async def list_members(
    conn: AsyncConnection, workspace_id: uuid.UUID, before: uuid.UUID | None, limit: int
) -> Sequence[AnyRow]:
    """The workspace's users, newest members first, from before the membership `before`; with the membership's id
    (the cursor)."""
    stmt = _members(membership_t.c.id.label("membership_id")).where(membership_t.c.workspace_id == workspace_id)
    if before is not None:
        stmt = stmt.where(membership_t.c.id < before)
    return (await conn.execute(stmt.order_by(membership_t.c.id.desc()).limit(limit))).all()


async def count_owners(conn: AsyncConnection, workspace_id: uuid.UUID) -> int:
    stmt = sa.select(sa.func.count()).where(membership_t.c.workspace_id == workspace_id, membership_t.c.role == "owner")
    return int((await conn.execute(stmt)).scalar_one())


async def set_role(conn: AsyncConnection, workspace_id: uuid.UUID, user_id: uuid.UUID, role: str) -> None:
    await conn.execute(membership_t.update().where(_membership(workspace_id, user_id)).values(role=role))


async def delete_membership(conn: AsyncConnection, workspace_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await conn.execute(membership_t.delete().where(_membership(workspace_id, user_id)))


async def unshare_all(conn: AsyncConnection, workspace_id: uuid.UUID, user_id: uuid.UUID) -> int:
    """Remove the user from every workflow of the workspace they were invited to; how many."""
    workflows = sa.select(workflow_t.c.id).where(workflow_t.c.workspace_id == workspace_id)
    stmt = member_t.delete().where(member_t.c.user_id == user_id, member_t.c.workflow_id.in_(workflows))
    return (await conn.execute(stmt)).rowcount


# Personal tokens

TOKEN_COLUMNS = (
    token_t.c.id,
    token_t.c.name,
    token_t.c.prefix,
    token_t.c.created_at,
    token_t.c.expires_at,
    token_t.c.last_used_at,
    token_t.c.revoked_at,
)


async def insert_token(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(token_t.insert().values(values))


def _tokens_of(workspace_id: uuid.UUID, user_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.and_(token_t.c.workspace_id == workspace_id, token_t.c.user_id == user_id)


async def list_tokens(conn: AsyncConnection, workspace_id: uuid.UUID, user_id: uuid.UUID) -> Sequence[AnyRow]:
    """The user's tokens for the workspace, revoked ones too, newest first."""
    stmt = sa.select(*TOKEN_COLUMNS).where(_tokens_of(workspace_id, user_id)).order_by(token_t.c.id.desc())
    return (await conn.execute(stmt)).all()


async def token(
    conn: AsyncConnection, workspace_id: uuid.UUID, user_id: uuid.UUID, token_id: uuid.UUID
) -> AnyRow | None:
    """The user's token for the workspace, or None."""
    stmt = sa.select(*TOKEN_COLUMNS).where(_tokens_of(workspace_id, user_id), token_t.c.id == token_id)
    return (await conn.execute(stmt)).first()


async def revoke_token(conn: AsyncConnection, token_id: uuid.UUID, at: datetime) -> None:
    """Revoke the token, unless it is already (it keeps the time of its revocation)."""
    await conn.execute(
        token_t.update().where(token_t.c.id == token_id, token_t.c.revoked_at.is_(None)).values(revoked_at=at)
    )


async def revoke_tokens(conn: AsyncConnection, workspace_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> int:
    """Revoke every active token of the user for the workspace; how many."""
    stmt = (
        token_t.update().where(_tokens_of(workspace_id, user_id), token_t.c.revoked_at.is_(None)).values(revoked_at=at)
    )
    return (await conn.execute(stmt)).rowcount


# Workflow members (sharing)

SHARED_COLUMNS = (
    user_t.c.id,
    user_t.c.email,
    user_t.c.name,
    member_t.c.role,
    member_t.c.created_at.label("invited_at"),
)


def _shared() -> sa.Select[*tuple[Any, ...]]:
    return sa.select(*SHARED_COLUMNS).select_from(member_t.join(user_t, user_t.c.id == member_t.c.user_id))


async def workflow_members(conn: AsyncConnection, workflow_id: uuid.UUID) -> Sequence[AnyRow]:
    """The users invited to the workflow, in the order they were invited."""
    stmt = _shared().where(member_t.c.workflow_id == workflow_id).order_by(member_t.c.id)
    return (await conn.execute(stmt)).all()


async def workflow_member(conn: AsyncConnection, workflow_id: uuid.UUID, user_id: uuid.UUID) -> AnyRow | None:
    stmt = _shared().where(member_t.c.workflow_id == workflow_id, member_t.c.user_id == user_id)
    return (await conn.execute(stmt)).first()


async def set_workflow_role(conn: AsyncConnection, workflow_id: uuid.UUID, user_id: uuid.UUID, role: str) -> None:
    await conn.execute(
        member_t.update().where(member_t.c.workflow_id == workflow_id, member_t.c.user_id == user_id).values(role=role)
    )


async def delete_workflow_member(conn: AsyncConnection, workflow_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await conn.execute(member_t.delete().where(member_t.c.workflow_id == workflow_id, member_t.c.user_id == user_id))
