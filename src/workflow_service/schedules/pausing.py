"""Pausing a schedule: by its managers (service.pause), or after one of its jobs failed (`pause_after_failure`).

The latter is a lifecycle follow-up (registered in jobs/follow_ups.py) run after the failed end has committed, in
a transaction of its own: run in the end's transaction, it would lock the schedule's row while holding the job's,
the opposite order of a firing pass that cancels a running job (`cancel_other`). It is recorded in the audit log
by `system`. A lost one (the process stopped right after the end) leaves the schedule running.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.audit.recorder import SYSTEM, Author, Entry
from workflow_service.core.clock import utcnow
from workflow_service.core.db import AnyRow, unit_of_work
from workflow_service.jobs.ends import EndContext, Ended
from workflow_service.jobs.states import JobStatus
from workflow_service.schedules import repository as repo

SCHEDULE_ORIGIN = "schedule"
"""jobs/intake.Origin.SCHEDULE's value."""


async def pause_locked(conn: AsyncConnection, row: AnyRow, reason: str, now: datetime) -> None:
    """Pause the schedule `row` (locked, not paused); a time waiting for its previous job is skipped."""
    if row.buffered_at is not None:
        skipped = {"outcome": "skipped", "reason": "paused: the schedule was paused before it ran", "at": now}
        await repo.retake(conn, row.id, row.buffered_at, "buffered", skipped)
    values = {"paused": True, "paused_at": now, "paused_reason": reason, "buffered_at": None, "updated_at": now}
    await repo.update(conn, row.id, values)


async def pause_after_failure(ended: Ended, ends: EndContext) -> None:
    """A job a schedule made has failed: pause that schedule if it asks for it (`pause_after_failure`)."""
    if ended.origin != SCHEDULE_ORIGIN or ended.status is not JobStatus.FAILED:
        return
    async with unit_of_work(ends.engine) as uow:
        row = await repo.of_job(uow.conn, ended.job_id)
        if row is None or not row.pause_after_failure or row.paused:
            return
        reason = f"paused after its job {ended.job_id} failed"
        await pause_locked(uow.conn, row, reason, utcnow())
        entry = Entry(
            action="schedule.paused",
            description=f"paused schedule {row.name!r} after its job {ended.job_id} failed",
            target_id=str(row.id),
            target_name=row.name,
            workflow_id=row.workflow_id,
            changes={"paused": {"before": False, "after": True}},
        )
        await Author(row.workspace_id, SYSTEM).record(uow.conn, entry)
