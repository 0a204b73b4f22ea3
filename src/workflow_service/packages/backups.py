"""A workflow's backups: before an import replaces the draft, the draft as a package (the export of `draft`, secure
values left out), kept by the service as `Exported_<Workflow Name>.zip`, listed and downloaded. Deleted with their
workflow."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.clock import utcnow
from workflow_service.core.ids import parse_uuid, uuid7
from workflow_service.core.secrets import Secrets
from workflow_service.errors import NotFound
from workflow_service.packages import export
from workflow_service.packages import repository as repo
from workflow_service.packages.schemas import BackupList, BackupRead
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows.refs import ScopedRef

PREFIX = "Exported_"


async def create(
    conn: AsyncConnection, ref: ScopedRef, workflow_id: uuid.UUID, secrets: Secrets, actor: str
) -> BackupRead:
    """Store the workflow's draft as a package, as `actor` (in the caller's transaction, before it changes)."""
    name, content = await export.package_bytes(conn, ref, "draft", None, secrets)
    backup = BackupRead(
        id=uuid7(), file_name=f"{PREFIX}{name}", size=len(content), created_at=utcnow(), created_by=actor
    )
    await repo.insert_backup(conn, {**backup.model_dump(), "workflow_id": workflow_id, "content": content})
    return backup


async def _workflow_id(conn: AsyncConnection, ref: ScopedRef) -> uuid.UUID:
    row = await workflow_repo.get(conn, ref)
    if row is None:
        raise NotFound(f"workflow {ref!r} does not exist")
    workflow_id: uuid.UUID = row.id
    return workflow_id


async def list_backups(conn: AsyncConnection, ref: ScopedRef) -> BackupList:
    """The workflow's backups, newest first."""
    rows = await repo.list_backups(conn, await _workflow_id(conn, ref))
    return BackupList(items=[BackupRead.model_validate(row, from_attributes=True) for row in rows])


@dataclass(frozen=True, slots=True)
class Download:
    file_name: str
    content: bytes


async def download(conn: AsyncConnection, ref: ScopedRef, backup_id: str) -> Download:
    """One backup's file name and bytes; 404 for an id that is none of the workflow's backups."""
    workflow_id = await _workflow_id(conn, ref)
    found = parse_uuid(backup_id)
    row = None if found is None else await repo.get_backup(conn, workflow_id, found)
    if row is None:
        raise NotFound(f"workflow {ref!r} has no backup {backup_id!r}")
    return Download(row.file_name, bytes(row.content))
