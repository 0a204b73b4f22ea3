"""The users of the caller's workspace, their roles and their personal access tokens (its owners and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.deps import BaseUrlDep, PrincipalDep, UowDep
from workflow_service.people import users
from workflow_service.people.schemas import TokenList, UserCreate, UserCreated, UserPage, UserRead, UserUpdate
from workflow_service.problems import problem_responses

router = APIRouter(prefix="/v1/users")

UserPath = Annotated[str, Path(description="The user's id, or their email address.")]
"""`{user_id}`: a user of the caller's workspace."""


@router.post(
    "",
    tags=["users"],
    dependencies=[access.require(Action.MEMBER_MANAGE)],
    status_code=201,
    response_model=UserCreated,
    responses=problem_responses(401, 409, 422),
)
async def create_user(
    data: UserCreate, uow: UowDep, principal: PrincipalDep, base: BaseUrlDep, response: Response
) -> UserCreated:
    """Add a user to the workspace by email, with a role: a new user, or one of another workspace. Their first
    personal access token (unless `issue_token` is false) is in the response, the only time it is shown. Only
    owners may add owners."""
    added = await users.add(uow.conn, principal, data)
    response.headers["Location"] = f"{base}/v1/users/{added.user.id}"
    return added.user


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
async def update_user(user_id: UserPath, data: UserUpdate, uow: UowDep, principal: PrincipalDep) -> UserRead:
    """Change a user's role in the workspace, or their name. Only owners make, change or remove owners, and the
    last owner stays one."""
    return (await users.update(uow.conn, principal, user_id, data)).after


@router.delete(
    "/{user_id}",
    tags=["users"],
    dependencies=[access.require(Action.MEMBER_MANAGE)],
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 404, 409),
)
async def delete_user(user_id: UserPath, uow: UowDep, principal: PrincipalDep) -> Response:
    """Remove a user from the workspace: their personal access tokens for it are revoked and their invitations
    to its workflows removed (their other workspaces are not touched). Only owners remove owners, and never the
    last one."""
    await users.remove(uow.conn, principal, user_id)
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
async def revoke_user_token(user_id: UserPath, token_id: str, uow: UowDep, principal: PrincipalDep) -> Response:
    """Revoke a user's personal access token for this workspace."""
    await users.revoke_token_of(uow.conn, principal.workspace_id, user_id, token_id)
    return Response(status_code=204)
