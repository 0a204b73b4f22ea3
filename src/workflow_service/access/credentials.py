"""Credentials: the bearer token of a request -> its `Principal` (the admin token, or an active API key).

An API key is `wfs_key_<12 hex digits>_<secret>`. The first part is the public prefix: stored in clear,
unique, shown in listings and used to find the row. Only a hash of the whole key is stored. Issuing,
listing and revoking keys is apikeys/service.py; checking one is here, through the apikeys repository.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from workflow_service.access.principal import ADMIN, Principal, api_key
from workflow_service.apikeys import repository as keys_repo
from workflow_service.core.clock import utcnow
from workflow_service.core.db import unit_of_work
from workflow_service.errors import Unauthorized

KEY_START = "wfs_key_"
_KEY_SHAPE = re.compile(r"(wfs_key_[0-9a-f]{12})_[A-Za-z0-9_-]{32,128}")
# Recording every use would be a write per request; a minute's precision is what `last_used_at` is for.
TOUCH_EVERY = timedelta(seconds=60)


def new_key() -> tuple[str, str]:
    """A fresh API key and its public prefix: `(prefix, key)`."""
    # 48 random bits: a prefix collision (a unique-constraint error) needs millions of keys.
    prefix = KEY_START + secrets.token_hex(6)
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    # A plain SHA-256 is enough here, unlike for passwords: the secret part is 256 random bits, so
    # nobody can guess preimages however fast the hash is. A slow KDF (bcrypt, argon2) would only
    # add its deliberate ~100 ms to every authenticated request.
    return hashlib.sha256(key.encode()).hexdigest()


async def authenticate_key(conn: AsyncConnection, token: str) -> Principal | None:
    """The principal for a bearer API key, or None when it is malformed, unknown or revoked.

    Reads the key's row on every request (no cache), so a revocation applies to the next request.
    """
    shape = _KEY_SHAPE.fullmatch(token)
    if shape is None:
        return None
    row = await keys_repo.active_by_prefix(conn, shape.group(1))
    if row is None or not hmac.compare_digest(hash_key(token).encode(), row.key_hash.encode()):
        return None
    now = utcnow()
    stale_before = now - TOUCH_EVERY
    if row.last_used_at is None or row.last_used_at < stale_before:
        await keys_repo.touch(conn, row.id, now, stale_before)
    return api_key(row.id, row.workflow_id, row.slug)


async def resolve_principal(engine: AsyncEngine, admin_token: str, authorization: str | None) -> Principal:
    """The caller an `Authorization` header names: the admin token or an active API key, else Unauthorized."""
    scheme, token = get_authorization_scheme_param(authorization)
    if not (authorization and token) or scheme.lower() != "bearer":
        raise Unauthorized("send `Authorization: Bearer <token>`")
    if hmac.compare_digest(token.encode(), admin_token.encode()):
        return ADMIN
    if token.startswith(KEY_START):
        # Its own short transaction, so that recording the use never waits on (or holds a row lock
        # for) the route's unit of work; the connection is back in the pool before the route runs.
        async with unit_of_work(engine) as uow:
            principal = await authenticate_key(uow.conn, token)
        if principal is not None:
            return principal
    raise Unauthorized("the token is not valid")
