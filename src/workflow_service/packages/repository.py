"""Queries of a workflow's backups (packages/backups.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.models import WorkflowBackup

backup_t: sa.Table = WorkflowBackup.__table__  # type: ignore[assignment]
_LISTED = (backup_t.c.id, backup_t.c.file_name, backup_t.c.size, backup_t.c.created_at, backup_t.c.created_by)


async def insert_backup(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(backup_t.insert().values(values))


async def list_backups(conn: AsyncConnection, workflow_id: uuid.UUID) -> Sequence[AnyRow]:
    """The workflow's backups, newest first, without their content."""
    stmt = sa.select(*_LISTED).where(backup_t.c.workflow_id == workflow_id).order_by(backup_t.c.id.desc())
    return (await conn.execute(stmt)).all()


async def get_backup(conn: AsyncConnection, workflow_id: uuid.UUID, backup_id: uuid.UUID) -> AnyRow | None:
    """One backup of the workflow, with its content."""
    stmt = sa.select(backup_t).where(backup_t.c.workflow_id == workflow_id, backup_t.c.id == backup_id)
    return (await conn.execute(stmt)).first()
