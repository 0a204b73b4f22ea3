"""The workflow's schedules as trigger history items: the shape the trigger history lists schedules and event
triggers in (`GET /v1/workflows/{workflow}/triggers`)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.schedules import repository as repo
from workflow_service.schedules.reads import next_run
from workflow_service.schedules.words import frequency


async def history_items(conn: AsyncConnection, workflow_id: uuid.UUID, recent: int = 20) -> list[dict[str, Any]]:
    """The workflow's schedules, oldest first, each with its `recent` latest fires (newest first): `at` is the
    scheduled time, `outcome` `created` (with its `job_id`), `skipped` (with its `reason`: missed past the catch-up
    window, overlap, paused, not run) or `buffered` (waiting for the previous job to end)."""
    rows = await repo.of_workflow(conn, workflow_id)
    fires = await repo.recent(conn, [row.id for row in rows], recent)
    return [
        {
            "kind": "schedule",
            "id": row.id,
            "name": row.name,
            "description": row.description,
            "provider": "schedule",
            "set_up_at": row.created_at,
            "last_run_at": row.last_run_at,
            "next_run_at": next_run(row),
            "frequency": frequency(row.cron, row.interval_s, row.timezone),
            "timezone": row.timezone,
            "start_at": row.start_at,
            "end_at": row.end_at,
            "paused": row.paused,
            "recent": [
                {"at": fire.scheduled_at, "outcome": fire.outcome, "job_id": fire.job_id, "reason": fire.reason}
                for fire in fires[row.id]
            ],
        }
        for row in rows
    ]
