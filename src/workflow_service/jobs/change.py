"""What a route that changes, makes or deletes jobs works with (`JobChangeDep`), and how it records its action in
the audit log: one entry per job acted on, naming the job and its workflow."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends

from workflow_service.audit.recorder import Entry
from workflow_service.context import Context
from workflow_service.core.db import UnitOfWork
from workflow_service.deps import AuditDep, AuditTrail, ServicesDep
from workflow_service.jobs.deletion import Deleted
from workflow_service.jobs.schemas import JobRead


@dataclass(frozen=True)
class JobChange:
    """The request's unit of work, the services, the actor its job events record, and the audit trail it
    records its action in."""

    uow: UnitOfWork
    services: Context
    actor: str
    audit: AuditTrail

    async def record(
        self, action: str, job: JobRead, description: str, changes: dict[str, Any] | None = None
    ) -> JobRead:
        """Record the action on `job` (the job changed, or the one made) in the audit log; the job."""
        await self.audit.record(_Job(job.id, job.name, job.workflow.id).entry(action, description, changes))
        return job

    async def record_deleted(self, deleted: Deleted) -> None:
        """Record a job's deletion (`job.deleted`): the job as it was, and whether it was canceled first."""
        first = f" (it was {deleted.status}: canceled first)" if deleted.canceled else f" ({deleted.status})"
        description = f"deleted job {deleted.job_id}{first}"
        job = _Job(deleted.job_id, deleted.name, deleted.workflow_id)
        await self.audit.record(job.entry("job.deleted", description))


@dataclass(frozen=True, slots=True)
class _Job:
    """A job as its audit entry names it."""

    id: uuid.UUID
    name: str | None
    workflow_id: uuid.UUID | None

    def entry(self, action: str, description: str, changes: dict[str, Any] | None = None) -> Entry:
        return Entry(
            action=action,
            description=description,
            target_id=str(self.id),
            target_name=self.name,
            workflow_id=self.workflow_id,
            changes=changes,
        )


async def _job_change(services: ServicesDep, audit: AuditDep) -> JobChange:
    return JobChange(audit.uow, services, audit.principal.actor, audit)


JobChangeDep = Annotated[JobChange, Depends(_job_change)]
