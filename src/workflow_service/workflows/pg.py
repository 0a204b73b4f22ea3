"""PostgreSQL form of the one workflow query on the job submission hot path (see jobs/repository/pg.py)."""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import driver_connection
from workflow_service.core.ids import parse_uuid
from workflow_service.workflows.refs import ScopedRef

_RESOLVE = """
SELECT w.id AS workflow_id, w.workspace_id, w.slug, w.current_version, v.id AS version_id, v.number, v.content_hash,
       w.settings
FROM workflow w
LEFT JOIN workflow_version v ON v.workflow_id = w.id AND v.number = COALESCE($2::int, w.current_version)
WHERE {where}
"""
_RESOLVE_BY_ID = _RESOLVE.format(where="w.id = $1 AND w.workspace_id = $3")
_RESOLVE_BY_SLUG = _RESOLVE.format(where="w.slug = $1 AND w.workspace_id = $3")


class TargetRow(NamedTuple):
    workflow_id: uuid.UUID
    workspace_id: uuid.UUID
    slug: str
    current_version: int | None
    version_id: uuid.UUID | None
    number: int | None
    content_hash: str | None
    settings: dict[str, Any]


async def resolve_for_submit(conn: AsyncConnection, ref: ScopedRef, number: int | None) -> TargetRow | None:
    """workflows.repository.resolve_for_submit, as one prepared statement."""
    apg = await driver_connection(conn)
    workflow_id = parse_uuid(ref)
    if workflow_id is not None:
        row = await apg.fetchrow(_RESOLVE_BY_ID, workflow_id, number, ref.workspace_id)
    else:
        row = await apg.fetchrow(_RESOLVE_BY_SLUG, str(ref), number, ref.workspace_id)
    return None if row is None else TargetRow(*row)
