"""Workspaces (the tenants) and who the caller is.

The operator creates a workspace with its first owner; users list the workspaces they belong to; a workspace's
owners and admins change its name and default retention. The users of a workspace are users.py, personal
tokens tokens.py, sharing a workflow sharing.py.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.access.principal import Principal, PrincipalKind, WorkspaceRole
from workflow_service.core.clock import utcnow
from workflow_service.core.ids import uuid7
from workflow_service.core.pagination import decode_cursor, encode_cursor
from workflow_service.errors import Conflict, Forbidden, NotFound
from workflow_service.people import repository as repo
from workflow_service.people import tokens, users
from workflow_service.people.schemas import (
    CallerKind,
    Changed,
    MeRead,
    TokenCreate,
    UserRead,
    UserRef,
    WorkspaceCreate,
    WorkspaceListed,
    WorkspacePage,
    WorkspaceRead,
    WorkspaceRef,
    WorkspaceUpdate,
)
from workflow_service.workflows.schemas import WorkflowRef


@dataclass(frozen=True, slots=True)
class Created:
    """A new workspace with its first owner and the owner's first token (shown once)."""

    workspace: WorkspaceRead
    owner: UserRead
    owner_created: bool
    """The owner is a new user (else a user of another workspace, now owner of this one too)."""
    owner_token: str


async def create(conn: AsyncConnection, data: WorkspaceCreate) -> Created:
    """Create a workspace, its owner (a user made for the email, unless one has it) and the owner's first
    personal token, named `initial`."""
    workspace = WorkspaceRead(
        id=uuid7(), slug=data.slug, name=data.name, retention_days=data.retention_days, created_at=utcnow()
    )
    try:
        async with conn.begin_nested():
            await repo.insert_workspace(conn, workspace.model_dump())
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"a workspace with slug {data.slug!r} already exists", slug=data.slug) from exc
    person = await users.find_or_create(conn, data.owner.email, data.owner.name)
    owner = await users.join(conn, workspace.id, person.user, WorkspaceRole.OWNER)
    first = TokenCreate(name=users.FIRST_TOKEN_NAME, expires_in_days=data.owner_token_expires_in_days)
    token = await tokens.issue(conn, workspace.id, owner.id, first)
    return Created(workspace, owner, person.created, token.token)


async def list_page(conn: AsyncConnection, principal: Principal, cursor: str | None, limit: int) -> WorkspacePage:
    """Every workspace for the operator; for a user, those they belong to, with their role in each."""
    if principal.kind is not PrincipalKind.ADMIN and principal.user_id is None:
        raise Forbidden("only users and the operator have workspaces to list")
    rows = await repo.list_workspaces(conn, principal.user_id, decode_cursor(cursor), limit + 1)
    items = [WorkspaceListed.model_validate(r, from_attributes=True) for r in rows[:limit]]
    return WorkspacePage(items=items, next_cursor=encode_cursor(rows[limit - 1].id) if len(rows) > limit else None)


async def get(conn: AsyncConnection, workspace_id: uuid.UUID, *, for_update: bool = False) -> WorkspaceRead:
    row = await repo.workspace(conn, workspace_id, for_update=for_update)
    if row is None:  # the request's own workspace: only if it was deleted in the database meanwhile
        raise NotFound("the workspace does not exist")
    return WorkspaceRead.model_validate(row, from_attributes=True)


async def update(conn: AsyncConnection, workspace_id: uuid.UUID, data: WorkspaceUpdate) -> Changed[WorkspaceRead]:
    """Change the workspace's name and/or default retention (the fields sent; `retention_days: null` keeps
    ended jobs forever)."""
    before = await get(conn, workspace_id, for_update=True)
    values = data.model_dump(include=data.model_fields_set)
    after = before.model_copy(update=values)
    if after != before:
        await repo.update_workspace(conn, workspace_id, values)
    return Changed(before, after)


_KINDS: dict[PrincipalKind, CallerKind] = {
    PrincipalKind.ADMIN: "operator",
    PrincipalKind.USER: "user",
    PrincipalKind.API_KEY: "key",
}


async def me(conn: AsyncConnection, principal: Principal) -> MeRead:
    """Who the caller is, in which workspace, with which role."""
    workspace = await get(conn, principal.workspace_id)
    user = None
    if principal.user_id is not None:
        row = await repo.user(conn, principal.user_id)
        user = None if row is None else UserRef.model_validate(row, from_attributes=True)
    grants = principal.scope.workflows if principal.kind is PrincipalKind.API_KEY else ()
    return MeRead(
        kind=_KINDS[principal.kind],
        actor=principal.actor,
        name=principal.name,
        workspace=WorkspaceRef(id=workspace.id, slug=workspace.slug),
        workspace_role=principal.workspace_role,
        user=user,
        workflow=WorkflowRef(id=grants[0].workflow_id, slug=grants[0].workflow_slug) if grants else None,
    )
