"""Workspaces, who the caller is, and the caller's own personal access tokens."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.access.principal import Principal
from workflow_service.audit import redact
from workflow_service.audit.recorder import Entry
from workflow_service.deps import AuditDep, BaseUrlDep, PrincipalDep, UowDep
from workflow_service.errors import Forbidden
from workflow_service.people import service, tokens
from workflow_service.people.schemas import (
    MeRead,
    TokenCreate,
    TokenCreated,
    TokenList,
    WorkspaceCreate,
    WorkspaceCreated,
    WorkspacePage,
    WorkspaceRead,
    WorkspaceUpdate,
)
from workflow_service.people.users_router import token_entry
from workflow_service.problems import problem_responses

router = APIRouter(prefix="/v1")


@router.post(
    "/workspaces",
    tags=["workspaces"],
    dependencies=[access.require(Action.WORKSPACE_CREATE)],
    status_code=201,
    response_model=WorkspaceCreated,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_workspace(
    data: WorkspaceCreate, audit: AuditDep, base: BaseUrlDep, response: Response
) -> WorkspaceCreated:
    """Create a workspace with its first owner (the operator only); the owner's first personal access token is
    in the response, the only time it is shown."""
    created = await service.create(audit.uow.conn, data)
    workspace, owner = created.workspace, created.owner
    new = " (a new user)" if created.owner_created else ""
    described = f"created workspace {workspace.slug!r} ({workspace.name}) with its owner {owner.email}{new}"
    entry = Entry(
        action="workspace.created", description=described, target_id=str(workspace.id), target_name=workspace.slug
    )
    await audit.record(entry, workspace_id=workspace.id)  # the first entry of the new workspace's log
    # The workspace is read at /v1/workspace by whoever acts in it: the owner's token, or the operator naming it
    # with `Wfs-Workspace`.
    response.headers["Location"] = f"{base}/v1/workspace"
    return WorkspaceCreated(workspace=created.workspace, owner=created.owner, owner_token=created.owner_token)


@router.get(
    "/workspaces",
    tags=["workspaces"],
    dependencies=[access.require(Action.WORKSPACE_LIST)],
    response_model=WorkspacePage,
    responses=problem_responses(401, 403, 422),
)
async def list_workspaces(
    uow: UowDep, principal: PrincipalDep, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> WorkspacePage:
    """List workspaces, newest first: every one for the operator, those the caller belongs to (with their role
    in each) for a user."""
    return await service.list_page(uow.conn, principal, cursor, limit)


@router.get(
    "/workspace",
    tags=["workspaces"],
    dependencies=[access.require(Action.WORKSPACE_READ)],
    response_model=WorkspaceRead,
    responses=problem_responses(401, 404),
)
async def get_workspace(uow: UowDep, principal: PrincipalDep) -> WorkspaceRead:
    """Get the workspace the request acts in (the credential's, or the one the operator names with
    `Wfs-Workspace`)."""
    return await service.get(uow.conn, principal.workspace_id)


@router.patch(
    "/workspace",
    tags=["workspaces"],
    dependencies=[access.require(Action.WORKSPACE_MANAGE)],
    response_model=WorkspaceRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def update_workspace(data: WorkspaceUpdate, audit: AuditDep) -> WorkspaceRead:
    """Change the workspace's name or default retention (its owners and admins); only the fields sent change."""
    updated = await service.update(audit.uow.conn, audit.principal.workspace_id, data)
    fields = {"name", "retention_days"}
    changes = redact.changes(updated.before.model_dump(include=fields), updated.after.model_dump(include=fields))
    if changes:  # the same values again change nothing
        after = updated.after
        described = f"changed the {' and '.join(changes)} of workspace {after.slug!r}"
        entry = Entry(
            action="workspace.updated",
            description=described,
            target_id=str(after.id),
            target_name=after.slug,
            changes=changes,
        )
        await audit.record(entry)
    return updated.after


@router.get(
    "/me",
    tags=["workspaces"],
    dependencies=[access.require(Action.WORKSPACE_READ)],
    response_model=MeRead,
    responses=problem_responses(401, 404),
)
async def get_me(uow: UowDep, principal: PrincipalDep) -> MeRead:
    """Who the caller is: the operator, a user (with their role) or an API key (with its workflow), and the
    workspace the request acts in."""
    return await service.me(uow.conn, principal)


def _user_id(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise Forbidden("personal access tokens belong to users: the operator authenticates with WFS_ADMIN_TOKEN")
    return principal.user_id


@router.post(
    "/me/tokens",
    tags=["tokens"],
    dependencies=[access.require(Action.TOKEN_MANAGE)],
    status_code=201,
    response_model=TokenCreated,
    responses=problem_responses(401, 403, 422),
)
async def create_token(data: TokenCreate, audit: AuditDep) -> TokenCreated:
    """Issue the caller a personal access token for this workspace (90 days unless `expires_in_days` says
    otherwise); the response is the only time the token is shown."""
    principal = audit.principal
    issued = await tokens.issue(audit.uow.conn, principal.workspace_id, _user_id(principal), data)
    expiring = f", expiring {issued.expires_at.isoformat()}" if issued.expires_at is not None else ", never expiring"
    described = f"issued personal access token {issued.name!r} ({issued.prefix}) to {principal.name}{expiring}"
    entry = Entry(action="token.created", description=described, target_id=str(issued.id), target_name=issued.name)
    await audit.record(entry)
    return issued


@router.get(
    "/me/tokens",
    tags=["tokens"],
    dependencies=[access.require(Action.TOKEN_MANAGE)],
    response_model=TokenList,
    responses=problem_responses(401, 403),
)
async def list_tokens(uow: UowDep, principal: PrincipalDep) -> TokenList:
    """List the caller's personal access tokens for this workspace: name, prefix, expiry, last use and
    revocation, never the token."""
    return await tokens.list_tokens(uow.conn, principal.workspace_id, _user_id(principal))


@router.delete(
    "/me/tokens/{token_id}",
    tags=["tokens"],
    dependencies=[access.require(Action.TOKEN_MANAGE)],
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404),
)
async def revoke_token(token_id: str, audit: AuditDep) -> Response:
    """Revoke one of the caller's personal access tokens; requests using it are refused from the next one on."""
    principal = audit.principal
    revoked = await tokens.revoke(audit.uow.conn, principal.workspace_id, _user_id(principal), token_id)
    if revoked.before.revoked_at is None:  # revoking a revoked token changes nothing
        await audit.record(token_entry(revoked.after, principal.name))
    return Response(status_code=204)
