"""The record of a schedule's times is kept as long as its workflow keeps its jobs: the retention sweep
(jobs/retention.py) deletes the fires of times older than the workflow's retention, a batch at a time. A backfill
over a time whose fire is gone runs it again."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.core.db import unit_of_work
from workflow_service.schedules import repository as repo

BATCH = 1000
"""Fires deleted per transaction."""


async def prune(engine: AsyncEngine, workflow_id: uuid.UUID, before: datetime, batch: int = BATCH) -> int:
    """Delete the fires of the workflow's schedules for times before `before`; how many."""
    total = 0
    while True:
        async with unit_of_work(engine) as uow:
            deleted = await repo.delete_fires_before(uow.conn, workflow_id, before, batch)
        total += deleted
        if deleted < batch:
            return total
