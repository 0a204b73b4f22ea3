"""The users of the caller's workspace, their roles and their personal access tokens (its owners and admins)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.audit import redact
from workflow_service.audit.recorder import Entry
from workflow_service.deps import AuditDep, BaseUrlDep, PrincipalDep, UowDep
from workflow_service.people import users
from workflow_service.people.schemas import (
    TokenList,
    TokenRead,
    UserCreate,
    UserCreated,
    UserPage,
    UserRead,
    UserRef,
    UserUpdate,
)
from workflow_service.problems import problem_responses

router = APIRouter(prefix="/v1/users")

UserPath = Annotated[str, Path(description="The user's id, or their email address.")]
"""`{user_id}`: a user of the caller's workspace."""


def _entry(action: str, user: UserRef, description: str, changes: Mapping[str, Any] | None = None) -> Entry:
    """The audit entry of an action on a member of the workspace."""
    return Entry(
        action=action, description=description, target_id=str(user.id), target_name=user.email, changes=changes
    )


def token_entry(token: TokenRead, whose: str) -> Entry:
    """The audit entry of a personal access token revoked (`whose` it was, for the description)."""
    described = f"revoked personal access token {token.name!r} ({token.prefix}) of {whose}"
    return Entry(action="token.revoked", description=described, target_id=str(token.id), target_name=token.name)


@router.post(
    "",
    tags=["users"],
    dependencies=[access.require(Action.MEMBER_MANAGE)],
    status_code=201,
    response_model=UserCreated,
    responses=problem_responses(401, 409, 422),
)
async def create_user(data: UserCreate, audit: AuditDep, base: BaseUrlDep, response: Response) -> UserCreated:
    """Add a user to the workspace by email, with a role: a new user, or one of another workspace. Their first
    personal access token (unless `issue_token` is false) is in the response, the only time it is shown. Only
    owners may add owners."""
    added = await users.add(audit.uow.conn, audit.principal, data)
    user = added.user
    new = " (a new user)" if added.created else ""
    token = ", with a first personal access token" if user.token is not None else ""
    changes = {"role": {"before": None, "after": user.role.value}}
    await audit.record(_entry("member.added", user, f"added {user.email}{new} as {user.role}{token}", changes))
    response.headers["Location"] = f"{base}/v1/users/{user.id}"
    return user


@router.get(
    "",
    tags=["users"],
    dependencies=[access.require(Action.MEMBER_READ)],
    response_model=UserPage,
    responses=problem_responses(401, 422),
)
async def list_users(
    uow: UowDep, principal: PrincipalDep, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> UserPage:
    """List the workspace's users with their roles, newest members first."""
    return await users.list_page(uow.conn, principal.workspace_id, cursor, limit)


@router.get(
    "/{user_id}",
    tags=["users"],
    dependencies=[access.require(Action.MEMBER_READ)],
    response_model=UserRead,
    responses=problem_responses(401, 404),
)
async def get_user(user_id: UserPath, uow: UowDep, principal: PrincipalDep) -> UserRead:
    """Get a user of the workspace with their role."""
    return await users.find_member(uow.conn, principal.workspace_id, user_id)


@router.patch(
    "/{user_id}",
    tags=["users"],
    dependencies=[access.require(Action.MEMBER_MANAGE)],
    response_model=UserRead,
    responses=problem_responses(401, 404, 409, 422),
)
async def update_user(user_id: UserPath, data: UserUpdate, audit: AuditDep) -> UserRead:
    """Change a user's role in the workspace, or their name. Only owners make, change or remove owners, and the
    last owner stays one."""
    updated = await users.update(audit.uow.conn, audit.principal, user_id, data)
    before, after = (u.model_dump(mode="json", include={"role", "name"}) for u in (updated.before, updated.after))
    changes = redact.changes(before, after)
    if changes:  # the same role and name again change nothing
        action = "member.role_changed" if "role" in changes else "member.updated"
        await audit.record(
            _entry(action, updated.after, f"changed the {' and '.join(changes)} of {updated.after.email}", changes)
        )
    return updated.after


@router.delete(
    "/{user_id}",
    tags=["users"],
    dependencies=[access.require(Action.MEMBER_MANAGE)],
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 404, 409),
)
async def delete_user(user_id: UserPath, audit: AuditDep) -> Response:
    """Remove a user from the workspace: their personal access tokens for it are revoked and their invitations
    to its workflows removed (their other workspaces are not touched). Only owners remove owners, and never the
    last one."""
    removed = await users.remove(audit.uow.conn, audit.principal, user_id)
    user = removed.user
    described = (
        f"removed {user.email} ({user.role}) from the workspace: {removed.tokens_revoked} token(s) revoked, "
        f"{removed.workflows_unshared} workflow invitation(s) removed"
    )
    await audit.record(_entry("member.removed", user, described, {"role": {"before": user.role.value, "after": None}}))
    return Response(status_code=204)


@router.get(
    "/{user_id}/tokens",
    tags=["tokens"],
    dependencies=[access.require(Action.MEMBER_MANAGE)],
    response_model=TokenList,
    responses=problem_responses(401, 404),
)
async def list_user_tokens(user_id: UserPath, uow: UowDep, principal: PrincipalDep) -> TokenList:
    """List a user's personal access tokens for this workspace (never the tokens themselves)."""
    return await users.list_tokens_of(uow.conn, principal.workspace_id, user_id)


@router.delete(
    "/{user_id}/tokens/{token_id}",
    tags=["tokens"],
    dependencies=[access.require(Action.MEMBER_MANAGE)],
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 404),
)
async def revoke_user_token(user_id: UserPath, token_id: str, audit: AuditDep) -> Response:
    """Revoke a user's personal access token for this workspace."""
    revoked = await users.revoke_token_of(audit.uow.conn, audit.principal.workspace_id, user_id, token_id)
    if revoked.before.revoked_at is None:  # revoking a revoked token changes nothing
        await audit.record(token_entry(revoked.after, f"user {user_id}"))
    return Response(status_code=204)
