"""Credentials: the bearer token of a request -> its `Principal`.

A token is the operator's (WFS_ADMIN_TOKEN), a workflow's API key (`wfs_key_…`), a user's personal access token
(`wfs_pat_…`), or, when an identity provider is configured, a JWT it signed (access/oidc.py verifies it; its
subject, else its verified email, names the user). Every credential acts in one workspace: a key in its
workflow's, a personal token in the one it was issued for, a JWT in the user's only workspace; the operator
(and a JWT user of several workspaces) names it with the `Wfs-Workspace` header, else it is the default one
(for such a user: 400 `workspace_required`). A key or a personal token naming another workspace gets 404
(docs/people.md).

Both key kinds are `<kind prefix><12 hex digits>_<secret>`. The first part is the public prefix: stored in
clear, unique, shown in listings and used to find the row. Only a hash of the whole token is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from workflow_service.access.oidc import IdentityProviderUnavailable, InvalidIdentityToken, OidcVerifier, looks_like_jwt
from workflow_service.access.principal import Principal, WorkspaceRole, api_key, operator, user
from workflow_service.apikeys import repository as keys_repo
from workflow_service.core.clock import utcnow
from workflow_service.core.db import unit_of_work
from workflow_service.errors import NotFound, Unauthorized, Unavailable, WorkspaceRequired
from workflow_service.models import DEFAULT_WORKSPACE_ID, DEFAULT_WORKSPACE_SLUG
from workflow_service.people import repository as people_repo

log = logging.getLogger(__name__)

KEY_START = "wfs_key_"
TOKEN_START = "wfs_pat_"
_SHAPE = re.compile(r"((?:wfs_key|wfs_pat)_[0-9a-f]{12})_[A-Za-z0-9_-]{32,128}")
# Recording every use would be a write per request; a minute's precision is what `last_used_at` is for.
TOUCH_EVERY = timedelta(seconds=60)
WORKSPACE_HEADER = "Wfs-Workspace"


def new_key(start: str = KEY_START) -> tuple[str, str]:
    """A fresh API key (or, with `TOKEN_START`, personal token) and its public prefix: `(prefix, key)`."""
    # 48 random bits: a prefix collision (a unique-constraint error) needs millions of keys.
    prefix = start + secrets.token_hex(6)
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    # A plain SHA-256 is enough here, unlike for passwords: the secret part is 256 random bits, so
    # nobody can guess preimages however fast the hash is. A slow KDF (bcrypt, argon2) would only
    # add its deliberate ~100 ms to every authenticated request.
    return hashlib.sha256(key.encode()).hexdigest()


def _matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(token).encode(), stored_hash.encode())


class InvalidCredentials(Unauthorized):
    """A 401 that authentication records in the audit log as a sign-in failure: in the credential's workspace, as
    its holder (`actor`: `user:<id>`, `key:<id>`; `actor_name`: the user's email, the key's name), when the
    credential is known (expired, revoked), else in the deployment's log."""

    def __init__(
        self, detail: str, workspace_id: uuid.UUID | None = None, actor: str | None = None, *, actor_name: str = ""
    ) -> None:
        super().__init__(detail)
        self.workspace_id = workspace_id
        self.actor = actor
        self.actor_name = actor_name


async def authenticate_key(conn: AsyncConnection, token: str) -> Principal | None:
    """The principal for a bearer API key, or None when it is malformed or unknown; InvalidCredentials when it is
    known but expired or revoked.

    Reads the key's row on every request (no cache), so a revocation applies to the next request.
    """
    shape = _SHAPE.fullmatch(token)
    if shape is None or not token.startswith(KEY_START):
        return None
    row = await keys_repo.by_prefix(conn, shape.group(1))
    if row is None or not _matches(token, row.key_hash):
        return None
    now, actor = utcnow(), f"key:{row.id}"
    # Expiry first: the expiry sweep marks an expired key revoked, and it should still say it expired.
    if row.expires_at is not None and row.expires_at <= now:
        raise InvalidCredentials("the API key has expired", row.workspace_id, actor, actor_name=row.name)
    if row.revoked_at is not None:
        raise InvalidCredentials("the API key has been revoked", row.workspace_id, actor, actor_name=row.name)
    stale_before = now - TOUCH_EVERY
    if row.last_used_at is None or row.last_used_at < stale_before:
        await keys_repo.touch(conn, row.id, now, stale_before)
    return api_key(row.id, row.name, row.workflow_id, row.slug, row.workspace_id)


async def authenticate_token(conn: AsyncConnection, token: str) -> Principal | None:
    """The principal for a personal access token, None when it is malformed or unknown; InvalidCredentials
    when it is known but expired, revoked, or its user is no longer a member of its workspace."""
    shape = _SHAPE.fullmatch(token)
    if shape is None or not token.startswith(TOKEN_START):
        return None
    row = await people_repo.token_by_prefix(conn, shape.group(1))
    if row is None or not _matches(token, row.token_hash):
        return None
    now, actor = utcnow(), f"user:{row.user_id}"

    def refused(reason: str) -> InvalidCredentials:
        return InvalidCredentials(reason, row.workspace_id, actor, actor_name=row.email)

    # Expiry first: the expiry sweep marks an expired token revoked, and it should still say it expired.
    if row.expires_at is not None and row.expires_at <= now:
        raise refused("the token has expired")
    if row.revoked_at is not None:
        raise refused("the token has been revoked")
    if row.role is None:
        raise refused("the token's user is no longer a member of its workspace")
    stale_before = now - TOUCH_EVERY
    if row.last_used_at is None or row.last_used_at < stale_before:
        await people_repo.touch_token(conn, row.id, now, stale_before)
    return user(row.user_id, row.email, row.workspace_id, WorkspaceRole(row.role))


@dataclass(frozen=True, slots=True)
class Authenticator:
    """Resolves the credentials of a request (built once per app, see app.py)."""

    engine: AsyncEngine
    admin_token: str
    workspaces: dict[str, uuid.UUID]
    """Workspace ids by slug, as the operator names them (a workspace is never deleted nor renamed)."""
    oidc: OidcVerifier | None = None
    """The identity provider's JWT verifier, when the operator configured one (WFS_OIDC_*)."""

    async def resolve(self, authorization: str | None, workspace: str | None) -> Principal:
        """The caller the `Authorization` header names, in the workspace it acts in; else Unauthorized (401),
        or NotFound (404) for a workspace the credential cannot act in."""
        scheme, token = get_authorization_scheme_param(authorization)
        if not (authorization and token) or scheme.lower() != "bearer":
            raise Unauthorized("send `Authorization: Bearer <token>`")
        if hmac.compare_digest(token.encode(), self.admin_token.encode()):
            return operator(await self._workspace_id(workspace))
        if looks_like_jwt(token):
            return await self._by_identity(token, workspace)
        principal: Principal | None = None
        if token.startswith((KEY_START, TOKEN_START)):
            # Its own short transaction, so that recording the use never waits on (or holds a row lock
            # for) the route's unit of work; the connection is back in the pool before the route runs.
            async with unit_of_work(self.engine) as uow:
                if token.startswith(KEY_START):
                    principal = await authenticate_key(uow.conn, token)
                else:
                    principal = await authenticate_token(uow.conn, token)
        if principal is None:
            raise InvalidCredentials("the token is not valid")
        if workspace is not None and await self._workspace_id(workspace) != principal.workspace_id:
            raise _no_workspace(workspace)
        return principal

    async def _by_identity(self, token: str, workspace: str | None) -> Principal:
        """The user an identity provider's JWT proves, in the workspace they act in."""
        if self.oidc is None:
            raise InvalidCredentials("the token is not valid")
        try:
            identity = await self.oidc.verify(token)
        except InvalidIdentityToken as exc:
            raise InvalidCredentials(exc.reason) from exc
        except IdentityProviderUnavailable as exc:
            log.warning("cannot verify a bearer JWT: %s", exc)
            raise Unavailable("the identity provider cannot be reached to check the token; try again") from exc
        async with unit_of_work(self.engine) as uow:
            found = await people_repo.user_for_identity(uow.conn, identity.subject, identity.email)
            if found is None:
                raise InvalidCredentials("no user of this service has this identity")
            memberships = await people_repo.memberships_of(uow.conn, found.id)
        actor = f"user:{found.id}"
        if workspace is not None:
            chosen = next((m for m in memberships if m.slug == workspace), None)
            if chosen is None:
                raise _no_workspace(workspace)
        elif len(memberships) == 1:
            chosen = memberships[0]
        elif not memberships:
            raise InvalidCredentials("the user is not a member of any workspace", actor=actor, actor_name=found.email)
        else:
            slugs = ", ".join(m.slug for m in memberships)
            raise WorkspaceRequired(f"you belong to several workspaces ({slugs}); name one with {WORKSPACE_HEADER}")
        return user(found.id, found.email, chosen.id, WorkspaceRole(chosen.role))

    async def _workspace_id(self, slug: str | None) -> uuid.UUID:
        if slug is None or slug == DEFAULT_WORKSPACE_SLUG:
            return DEFAULT_WORKSPACE_ID
        found = self.workspaces.get(slug)
        if found is None:
            async with self.engine.connect() as conn:
                found = await people_repo.workspace_id_by_slug(conn, slug)
            if found is None:
                raise _no_workspace(slug)
            self.workspaces[slug] = found
        return found


def _no_workspace(slug: str) -> NotFound:
    return NotFound(f"workspace {slug!r} does not exist")
