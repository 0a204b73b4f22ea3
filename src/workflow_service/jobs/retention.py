"""Retention: ended jobs older than their workflow's retention are deleted, a small batch at a time.

A workflow's retention is its `retention_days` endpoint setting (workflows/settings.py): a number of days,
`forever`, or unset to take its workspace's `retention_days` (unset there: kept forever). A job is past it
once it has ended (completed, failed or canceled) and its `finished_at` is more than that many days ago; jobs
that have not ended are never touched, however old. Deleting a job removes its steps, events and deliveries
with it (jobs/repository/deletes.py).

Every worker process runs `sweep` every WFS_RETENTION_SWEEP_S (worker/runtime.py). Each batch is a short
transaction of its own (at most `batch` jobs, rows another transaction holds skipped), with a pause between
batches, so that the sweep never holds locks long nor competes for long with the jobs being run; several
workers sweeping at once skip each other's rows. Each batch that deletes jobs records one audit entry in its
transaction (`job.expired` by `system`, on the workflow: how many jobs, past which retention). The record of its
schedules' times older than the retention goes too (schedules/retention.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.audit.recorder import SYSTEM, Author, Entry
from workflow_service.core.clock import utcnow
from workflow_service.core.db import AnyRow, unit_of_work
from workflow_service.jobs import repository as repo
from workflow_service.schedules import retention as schedules
from workflow_service.workflows.settings import effective_retention

log = logging.getLogger(__name__)

BATCH = 500
"""Jobs deleted per transaction."""
PAUSE_S = 0.2
"""The pause between two batches."""


@dataclass(slots=True)
class SweepReport:
    deleted: int = 0
    batches: int = 0
    """Transactions that deleted jobs."""
    largest_batch: int = 0
    fires: int = 0
    """Records of schedules' times deleted with them (schedules/retention.py)."""


@dataclass(frozen=True, slots=True)
class Sweep:
    """How a sweep runs: its clock (`now`, by default the time it starts), its batch size and pause."""

    now: datetime | None = None
    batch: int = BATCH
    pause_s: float = PAUSE_S


async def sweep(engine: AsyncEngine, how: Sweep = Sweep()) -> SweepReport:
    """Delete every workflow's ended jobs that are past its retention; what it deleted."""
    if how.now is None:
        how = dataclasses.replace(how, now=utcnow())
    now = how.now
    assert now is not None
    report = SweepReport()
    async with engine.connect() as conn:
        policies = await repo.retention_policies(conn)
    for policy in policies:
        days = effective_retention(policy.retention_days, policy.workspace_retention_days)
        if days is not None:
            await _sweep_workflow(engine, _Retained(policy, days), how, report)
            report.fires += await schedules.prune(engine, policy.id, now - timedelta(days=days))
    if report.deleted:
        log.info("retention: deleted %d ended job(s) in %d batch(es)", report.deleted, report.batches)
    return report


@dataclass(frozen=True, slots=True)
class _Retained:
    """A workflow (its id, slug and workspace: `retention_policies`) and the retention that applies to it."""

    workflow: AnyRow
    days: int

    def entry(self, deleted: int) -> Entry:
        """The audit entry of a batch that deleted `deleted` of its jobs."""
        return Entry(
            action="job.expired",
            description=f"deleted {deleted} ended job(s) of workflow {self.workflow.slug!r} past its retention of "
            f"{self.days} day(s)",
            target_id=str(self.workflow.id),
            target_name=self.workflow.slug,
            workflow_id=self.workflow.id,
        )


async def _sweep_workflow(engine: AsyncEngine, retained: _Retained, how: Sweep, report: SweepReport) -> None:
    assert how.now is not None
    workflow_id, cutoff = retained.workflow.id, how.now - timedelta(days=retained.days)
    after: uuid.UUID | None = None
    while True:
        async with unit_of_work(engine) as uow:
            ids = await repo.expired(uow.conn, workflow_id, cutoff, after=after, limit=how.batch)
            deleted = await repo.delete_jobs(uow.conn, ids)
            if deleted:
                await Author(retained.workflow.workspace_id, SYSTEM).record(uow.conn, retained.entry(deleted))
        if deleted:
            report.deleted += deleted
            report.batches += 1
            report.largest_batch = max(report.largest_batch, deleted)
        if len(ids) < how.batch:
            return
        after = ids[-1]
        await asyncio.sleep(how.pause_s)
