"""API key management: issuing (the key is shown once), listing and revoking. Checking a bearer key, and
the key's format and hash, are access/credentials.py.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.access.credentials import hash_key, new_key
from workflow_service.apikeys import repository as repo
from workflow_service.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyRead
from workflow_service.core.clock import utcnow
from workflow_service.core.ids import parse_uuid, uuid7
from workflow_service.errors import NotFound
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows.refs import ScopedRef
from workflow_service.workflows.schemas import WorkflowRef


async def _workflow(conn: AsyncConnection, ref: ScopedRef) -> WorkflowRef:
    row = await workflow_repo.get(conn, ref)
    if row is None:
        raise NotFound(f"workflow {ref!r} does not exist")
    return WorkflowRef(id=row.id, slug=row.slug)


async def create(conn: AsyncConnection, workflow_ref: ScopedRef, data: ApiKeyCreate, created_by: str) -> ApiKeyCreated:
    """Issue a key for the workflow; the returned `key` is the only time it is ever shown."""
    workflow = await _workflow(conn, workflow_ref)
    prefix, key = new_key()
    now = utcnow()
    key_id = uuid7()
    expires_at = None if data.expires_in_days is None else now + timedelta(days=data.expires_in_days)
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
            "expires_at": expires_at,
            "created_by": created_by,
        },
    )
    return ApiKeyCreated(
        id=key_id,
        name=data.name,
        prefix=prefix,
        created_at=now,
        last_used_at=None,
        expires_at=expires_at,
        created_by=created_by,
        workflow=workflow,
        key=key,
    )


async def list_keys(conn: AsyncConnection, workflow_ref: ScopedRef) -> ApiKeyList:
    """The workflow's active keys (never the keys themselves)."""
    workflow = await _workflow(conn, workflow_ref)
    rows = await repo.list_active(conn, workflow.id)
    return ApiKeyList(items=[ApiKeyRead.model_validate(r, from_attributes=True) for r in rows])


@dataclass(frozen=True, slots=True)
class Revoked:
    """A key revoked: its workflow, id and name."""

    workflow: WorkflowRef
    id: uuid.UUID
    name: str


async def revoke(conn: AsyncConnection, workflow_ref: ScopedRef, key_id: str) -> Revoked:
    """Revoke a key: requests presenting it fail from the next one on."""
    workflow = await _workflow(conn, workflow_ref)
    parsed = parse_uuid(key_id)
    name = None if parsed is None else await repo.revoke(conn, workflow.id, parsed, utcnow())
    if parsed is None or name is None:
        raise NotFound(f"workflow {workflow.slug!r} has no API key {key_id!r}")
    return Revoked(workflow, parsed, name)
