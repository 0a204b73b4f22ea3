"""The users of a workspace: adding them (a new user, or one of another workspace), their roles, removing them.

The rules beyond the route's (`member.manage`): only an owner (or the operator) makes, changes or removes an
owner; the last owner is never demoted nor removed; a user of another workspace is not found, as a missing one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.access.principal import Principal, PrincipalKind, WorkspaceRole
from workflow_service.core.clock import utcnow
from workflow_service.core.ids import parse_uuid, uuid7
from workflow_service.core.pagination import decode_cursor, encode_cursor
from workflow_service.errors import Conflict, Forbidden, NotFound
from workflow_service.people import repository as repo
from workflow_service.people import tokens
from workflow_service.people.schemas import (
    Changed,
    TokenCreate,
    TokenList,
    TokenRead,
    UserCreate,
    UserCreated,
    UserPage,
    UserRead,
    UserRef,
    UserUpdate,
    normalize_email,
)

OWNERS_ONLY = "only workspace owners may make, change or remove owners"
FIRST_TOKEN_NAME = "initial"


def manages_owners(principal: Principal) -> bool:
    """The operator or a workspace owner: may make, change and remove owners."""
    return principal.kind is PrincipalKind.ADMIN or principal.workspace_role is WorkspaceRole.OWNER


def not_a_member(user_ref: str) -> NotFound:
    return NotFound(f"user {user_ref!r} is not a member of this workspace")


def _user_key(user_ref: str) -> uuid.UUID | str | None:
    """What `user_ref` names a user by: an id, an email (normalized), or nothing a user could have."""
    user_id = parse_uuid(user_ref)
    if user_id is not None:
        return user_id
    try:
        return normalize_email(user_ref)
    except ValueError:
        return None


async def find_member(conn: AsyncConnection, workspace_id: uuid.UUID, user_ref: str) -> UserRead:
    """The member `user_ref` (a user id or an email) names; NotFound, the same for a user of another workspace as
    for none."""
    key = _user_key(user_ref)
    row = None if key is None else await repo.member(conn, workspace_id, key)
    if row is None:
        raise not_a_member(user_ref)
    return UserRead.model_validate(row, from_attributes=True)


@dataclass(frozen=True, slots=True)
class Person:
    """A user found by email, or made for it."""

    user: UserRef
    created: bool
    """A new user: the email was not known."""


async def find_or_create(conn: AsyncConnection, email: str, name: str) -> Person:
    """The user with this (normalized) email, else a new one named `name`."""
    row = await repo.user_by_email(conn, email)
    if row is None:
        values = {"id": uuid7(), "email": email, "name": name, "subject": None, "created_at": utcnow()}
        try:
            async with conn.begin_nested():
                await repo.insert_user(conn, values)
            return Person(UserRef(id=values["id"], email=email, name=name), created=True)
        except sa.exc.IntegrityError:
            row = await repo.user_by_email(conn, email)  # made meanwhile by a concurrent request
            if row is None:
                raise
    return Person(UserRef.model_validate(row, from_attributes=True), created=False)


async def join(conn: AsyncConnection, workspace_id: uuid.UUID, user: UserRef, role: WorkspaceRole) -> UserRead:
    """Make the user a member of the workspace with `role`; Conflict when they already are."""
    now = utcnow()
    values = {"id": uuid7(), "workspace_id": workspace_id, "user_id": user.id, "role": role.value, "created_at": now}
    try:
        async with conn.begin_nested():
            await repo.insert_membership(conn, values)
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"{user.email} is already a member of this workspace", user_id=str(user.id)) from exc
    return UserRead(id=user.id, email=user.email, name=user.name, role=role, joined_at=now)


@dataclass(frozen=True, slots=True)
class Added:
    """A user added to a workspace."""

    user: UserCreated
    created: bool
    """The user is new (else: a user of another workspace, now a member of this one too)."""


async def add(conn: AsyncConnection, principal: Principal, data: UserCreate) -> Added:
    """Add a user to the caller's workspace by email (made if new), with a first token when asked."""
    if data.role is WorkspaceRole.OWNER and not manages_owners(principal):
        raise Forbidden(OWNERS_ONLY)
    person = await find_or_create(conn, data.email, data.name)
    joined = await join(conn, principal.workspace_id, person.user, data.role)
    token = None
    if data.issue_token:
        request = TokenCreate(name=FIRST_TOKEN_NAME, expires_in_days=data.token_expires_in_days)
        token = (await tokens.issue(conn, principal.workspace_id, joined.id, request)).token
    return Added(UserCreated(**joined.model_dump(), token=token), person.created)


async def list_page(conn: AsyncConnection, workspace_id: uuid.UUID, cursor: str | None, limit: int) -> UserPage:
    """The workspace's users with their roles, newest members first."""
    rows = await repo.list_members(conn, workspace_id, decode_cursor(cursor), limit + 1)
    items = [UserRead.model_validate(r, from_attributes=True) for r in rows[:limit]]
    more = len(rows) > limit
    return UserPage(items=items, next_cursor=encode_cursor(rows[limit - 1].membership_id) if more else None)


async def _keep_an_owner(conn: AsyncConnection, workspace_id: uuid.UUID, user: UserRead, doing: str) -> None:
    """Conflict when `user` is the workspace's last owner. Locks the workspace first, so that two owners
    demoting each other at once cannot leave it without one."""
    await repo.workspace(conn, workspace_id, for_update=True)
    current = await repo.member(conn, workspace_id, user.id)
    if current is not None and current.role == WorkspaceRole.OWNER and await repo.count_owners(conn, workspace_id) <= 1:
        raise Conflict(
            f"{user.email} is the workspace's last owner and cannot be {doing}: make another user owner first"
        )


async def update(conn: AsyncConnection, principal: Principal, user_ref: str, data: UserUpdate) -> Changed[UserRead]:
    """Change a member's role in the workspace and/or their name."""
    before = await find_member(conn, principal.workspace_id, user_ref)
    after = before
    if data.role is not None and data.role is not before.role:
        if WorkspaceRole.OWNER in (data.role, before.role) and not manages_owners(principal):
            raise Forbidden(OWNERS_ONLY)
        if before.role is WorkspaceRole.OWNER:
            await _keep_an_owner(conn, principal.workspace_id, before, "demoted")
        await repo.set_role(conn, principal.workspace_id, before.id, data.role.value)
        after = after.model_copy(update={"role": data.role})
    if data.name is not None and data.name != before.name:
        await repo.update_user(conn, before.id, {"name": data.name})
        after = after.model_copy(update={"name": data.name})
    return Changed(before, after)


@dataclass(frozen=True, slots=True)
class Removed:
    """A user removed from a workspace, with what went with their membership."""

    user: UserRead
    tokens_revoked: int
    workflows_unshared: int
    """How many of the workspace's workflows they had been invited to."""


async def remove(conn: AsyncConnection, principal: Principal, user_ref: str) -> Removed:
    """Remove a user from the caller's workspace: their tokens for it are revoked and their invitations to its
    workflows removed. The user stays (their jobs and audit entries name them), as do their other memberships."""
    user = await find_member(conn, principal.workspace_id, user_ref)
    if user.role is WorkspaceRole.OWNER:
        if not manages_owners(principal):
            raise Forbidden(OWNERS_ONLY)
        await _keep_an_owner(conn, principal.workspace_id, user, "removed")
    await repo.delete_membership(conn, principal.workspace_id, user.id)
    revoked = await repo.revoke_tokens(conn, principal.workspace_id, user.id, utcnow())
    unshared = await repo.unshare_all(conn, principal.workspace_id, user.id)
    return Removed(user, revoked, unshared)


async def list_tokens_of(conn: AsyncConnection, workspace_id: uuid.UUID, user_ref: str) -> TokenList:
    """A member's tokens for the workspace."""
    user = await find_member(conn, workspace_id, user_ref)
    return await tokens.list_tokens(conn, workspace_id, user.id)


async def revoke_token_of(
    conn: AsyncConnection, workspace_id: uuid.UUID, user_ref: str, token_id: str
) -> Changed[TokenRead]:
    """Revoke a member's token for the workspace."""
    user = await find_member(conn, workspace_id, user_ref)
    return await tokens.revoke(conn, workspace_id, user.id, token_id)
