"""Personal access tokens: issuing one (shown once), listing and revoking a user's tokens for a workspace.

Checking a bearer token, and the token's format and hash, are access/credentials.py. Whose tokens a caller may
manage is the routes' and users.py's: these functions take the workspace and the user as given.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.access.credentials import TOKEN_START, hash_key, new_key
from workflow_service.core.clock import utcnow
from workflow_service.core.ids import parse_uuid, uuid7
from workflow_service.errors import NotFound
from workflow_service.people import repository as repo
from workflow_service.people.schemas import Changed, TokenCreate, TokenCreated, TokenList, TokenRead


async def issue(conn: AsyncConnection, workspace_id: uuid.UUID, user_id: uuid.UUID, data: TokenCreate) -> TokenCreated:
    """Issue the user a token for the workspace; the returned `token` is the only time it is ever shown."""
    prefix, token = new_key(TOKEN_START)
    now = utcnow()
    expires_at = None if data.expires_in_days is None else now + timedelta(days=data.expires_in_days)
    values = {
        "id": uuid7(),
        "user_id": user_id,
        "workspace_id": workspace_id,
        "name": data.name,
        "prefix": prefix,
        "token_hash": hash_key(token),
        "created_at": now,
        "expires_at": expires_at,
        "last_used_at": None,
        "revoked_at": None,
    }
    await repo.insert_token(conn, values)
    return TokenCreated.model_validate({**values, "token": token})


async def list_tokens(conn: AsyncConnection, workspace_id: uuid.UUID, user_id: uuid.UUID) -> TokenList:
    """The user's tokens for the workspace, revoked ones too (never the tokens themselves)."""
    rows = await repo.list_tokens(conn, workspace_id, user_id)
    return TokenList(items=[TokenRead.model_validate(r, from_attributes=True) for r in rows])


async def revoke(
    conn: AsyncConnection, workspace_id: uuid.UUID, user_id: uuid.UUID, token_id: str
) -> Changed[TokenRead]:
    """Revoke one of the user's tokens for the workspace: requests presenting it fail from the next one on.
    Revoking a revoked token changes nothing (`before` == `after`). NotFound for any other token."""
    parsed = parse_uuid(token_id)
    row = None if parsed is None else await repo.token(conn, workspace_id, user_id, parsed)
    if row is None:
        raise NotFound(f"there is no token {token_id!r} of this user in this workspace")
    before = TokenRead.model_validate(row, from_attributes=True)
    if before.revoked_at is not None:
        return Changed(before, before)
    now = utcnow()
    await repo.revoke_token(conn, before.id, now)
    return Changed(before, before.model_copy(update={"revoked_at": now}))
