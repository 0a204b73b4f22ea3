"""Dashboard sessions: a personal access token (or the operator token) exchanged for a session cookie.

The cookie holds 256 random bits; only their hash is stored (ui_session). A session lasts `SESSION_HOURS`, never
past its token's expiry, and ends at sign-out, when its token is revoked or expires, when its user leaves the
workspace, or (the operator's) when WFS_ADMIN_TOKEN changes: each request re-reads it, as the API re-reads a
bearer token. Every session has its own CSRF token, which every form and every script's request sends back.
Signing in and out are recorded in the audit log; a refused token is a sign-in failure, as on the API.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.access.credentials import KEY_START, TOKEN_START, Authenticator, InvalidCredentials
from workflow_service.access.principal import Principal, WorkspaceRole, operator, user
from workflow_service.audit.recorder import Actor, Entry, Origin, record
from workflow_service.core.clock import utcnow
from workflow_service.core.db import unit_of_work
from workflow_service.core.ids import uuid7
from workflow_service.errors import ServiceError
from workflow_service.people import repository as people_repo
from workflow_service.ui import repository

COOKIE = "wfs_session"
SESSION_HOURS = 12
_PREFIX_LENGTH = len(TOKEN_START) + 12


class SignInRefused(ServiceError):
    status = 401
    code = "sign_in_refused"
    title = "Sign-in refused"


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: who it is (re-read on every request) and its CSRF token."""

    id: uuid.UUID
    principal: Principal
    csrf_token: str
    expires_at: datetime


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def sign_in(
    authenticator: Authenticator, token: str, workspace: str | None, origin: Origin
) -> tuple[str, Session]:
    """Open a session for `token` (a personal access token, or the operator token acting in `workspace`): the
    cookie's value and the session. Refused (401) for anything else, or a token the API would refuse."""
    token = token.strip()
    if not token:
        raise SignInRefused("paste a personal access token (wfs_pat_…) or the operator token")
    if token.startswith(KEY_START):
        raise SignInRefused(
            "an API key calls one workflow's endpoints and cannot sign in: use a personal access token (wfs_pat_…)"
        )
    is_operator = hmac.compare_digest(token.encode(), authenticator.admin_token.encode())
    if not is_operator and not token.startswith(TOKEN_START):
        raise SignInRefused("this is not a personal access token (wfs_pat_…) nor the operator token")
    # The same resolution as a bearer token on the API: expiry, revocation, membership, the workspace.
    principal = await authenticator.resolve(f"Bearer {token}", (workspace or None) if is_operator else None)
    now = utcnow()
    expires_at = now + timedelta(hours=SESSION_HOURS)
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session_id = uuid7()
    async with unit_of_work(authenticator.engine) as uow:
        await repository.delete_expired(uow.conn, now)
        token_id: uuid.UUID | None = None
        if not is_operator:
            row = await people_repo.token_by_prefix(uow.conn, token[:_PREFIX_LENGTH])
            if row is None:  # revoked and deleted between the two reads
                raise InvalidCredentials("the token is not valid")
            token_id = row.id
            if row.expires_at is not None:
                expires_at = min(expires_at, row.expires_at)
        await repository.insert(
            uow.conn,
            id=session_id,
            secret_hash=_hash(secret),
            workspace_id=principal.workspace_id,
            token_id=token_id,
            operator_hash=_hash(token) if is_operator else None,
            csrf_token=csrf,
            created_at=now,
            expires_at=expires_at,
        )
        entry = Entry(action="auth.signed_in", description="signed in to the dashboard", category="auth")
        await record(uow.conn, principal.workspace_id, Actor(principal.actor, principal.name), entry, origin)
    return secret, Session(session_id, principal, csrf, expires_at)


async def resolve(engine: AsyncEngine, admin_token: str, cookie: str | None) -> Session | None:
    """The live session of a cookie, or None (no cookie, unknown, expired, or its credential no longer valid)."""
    if not cookie or len(cookie) > 100:
        return None
    async with engine.connect() as conn:
        row = await repository.by_secret_hash(conn, _hash(cookie))
    if row is None:
        return None
    now = utcnow()
    if row.expires_at <= now:
        return None
    if row.token_id is None:
        if row.operator_hash is None or not hmac.compare_digest(row.operator_hash, _hash(admin_token)):
            return None
        principal = operator(row.workspace_id)
    else:
        expired = row.token_expires_at is not None and row.token_expires_at <= now
        if expired or row.token_revoked_at is not None or row.role is None:
            return None
        principal = user(row.user_id, row.email, row.workspace_id, WorkspaceRole(row.role))
    return Session(row.id, principal, row.csrf_token, row.expires_at)


async def sign_out(engine: AsyncEngine, session: Session, origin: Origin) -> None:
    """End the session, and record it."""
    async with unit_of_work(engine) as uow:
        await repository.delete(uow.conn, session.id)
        principal = session.principal
        entry = Entry(action="auth.signed_out", description="signed out of the dashboard", category="auth")
        await record(uow.conn, principal.workspace_id, Actor(principal.actor, principal.name), entry, origin)


def csrf_matches(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf_token.encode(), (given or "").encode())
