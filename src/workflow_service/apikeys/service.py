"""API key rules: issuing (the key is shown once), listing, revoking, and authenticating a bearer key.

A key is `wfs_key_<12 hex digits>_<secret>`. The first part is the public prefix: stored in clear,
unique, shown in listings and used to find the row. Only a hash of the whole key is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.apikeys import repository as repo
from workflow_service.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyRead
from workflow_service.core.clock import utcnow
from workflow_service.core.ids import parse_uuid, uuid7
from workflow_service.errors import NotFound
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows.schemas import WorkflowRef

KEY_START = "wfs_key_"
_KEY_SHAPE = re.compile(r"(wfs_key_[0-9a-f]{12})_[A-Za-z0-9_-]{32,128}")
# Recording every use would be a write per request; a minute's precision is what `last_used_at` is for.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the admin, or an API key of one workflow."""

    kind: Literal["admin", "key"]
    key_id: uuid.UUID | None = None
    workflow_id: uuid.UUID | None = None
    workflow_slug: str | None = None

    @property
    def actor(self) -> str:
        """The name recorded in job.caller and job_event.actor: `admin` or `key:<key id>`."""
        return "admin" if self.kind == "admin" else f"key:{self.key_id}"

    def may_call(self, workflow_ref: str) -> bool:
        """Whether this caller may invoke the workflow named by `workflow_ref` (an id or a slug)."""
        if self.kind == "admin":
            return True
        return workflow_ref == self.workflow_slug or parse_uuid(workflow_ref) == self.workflow_id


ADMIN = Principal(kind="admin")


def hash_key(key: str) -> str:
    # A plain SHA-256 is enough here, unlike for passwords: the secret part is 256 random bits, so
    # nobody can guess preimages however fast the hash is. A slow KDF (bcrypt, argon2) would only
    # add its deliberate ~100 ms to every authenticated request.
    return hashlib.sha256(key.encode()).hexdigest()


async def _workflow(conn: AsyncConnection, ref: str) -> WorkflowRef:
    row = await workflow_repo.get(conn, ref)
    if row is None:
        raise NotFound(f"workflow {ref!r} does not exist")
    return WorkflowRef(id=row.id, slug=row.slug)


async def create(conn: AsyncConnection, workflow_ref: str, data: ApiKeyCreate) -> ApiKeyCreated:
    """Issue a key for the workflow; the returned `key` is the only time it is ever shown."""
    workflow = await _workflow(conn, workflow_ref)
    # 48 random bits: a prefix collision (a unique-constraint error) needs millions of keys.
    prefix = KEY_START + secrets.token_hex(6)
    key = f"{prefix}_{secrets.token_urlsafe(32)}"
    now = utcnow()
    key_id = uuid7()
    await repo.insert(
        conn,
        {
            "id": key_id,
            "workflow_id": workflow.id,
            "name": data.name,
            "prefix": prefix,
            "key_hash": hash_key(key),
            "created_at": now,
            "last_used_at": None,
            "revoked_at": None,
        },
    )
    return ApiKeyCreated(
        id=key_id, name=data.name, prefix=prefix, created_at=now, last_used_at=None, workflow=workflow, key=key
    )


async def list_keys(conn: AsyncConnection, workflow_ref: str) -> ApiKeyList:
    """The workflow's active keys (never the keys themselves)."""
    workflow = await _workflow(conn, workflow_ref)
    rows = await repo.list_active(conn, workflow.id)
    return ApiKeyList(items=[ApiKeyRead.model_validate(r, from_attributes=True) for r in rows])


async def revoke(conn: AsyncConnection, workflow_ref: str, key_id: str) -> None:
    """Revoke a key: requests presenting it fail from the next one on."""
    workflow = await _workflow(conn, workflow_ref)
    parsed = parse_uuid(key_id)
    if parsed is None or not await repo.revoke(conn, workflow.id, parsed, utcnow()):
        raise NotFound(f"workflow {workflow.slug!r} has no API key {key_id!r}")


async def authenticate(conn: AsyncConnection, token: str) -> Principal | None:
    """The principal for a bearer API key, or None when it is malformed, unknown or revoked.

    Reads the key's row on every request (no cache), so a revocation applies to the next request.
    """
    shape = _KEY_SHAPE.fullmatch(token)
    if shape is None:
        return None
    row = await repo.active_by_prefix(conn, shape.group(1))
    if row is None or not hmac.compare_digest(hash_key(token).encode(), row.key_hash.encode()):
        return None
    now = utcnow()
    stale_before = now - TOUCH_EVERY
    if row.last_used_at is None or row.last_used_at < stale_before:
        await repo.touch(conn, row.id, now, stale_before)
    return Principal(kind="key", key_id=row.id, workflow_id=row.workflow_id, workflow_slug=row.slug)
