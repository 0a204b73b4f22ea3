"""Deleting jobs, one or many, and a workflow with all its jobs. Nothing of it can be undone.

A job is deleted with its steps, events, deliveries and their attempts (the database cascades them), in one
transaction. A job that has not ended is canceled first, in that same transaction, through the lifecycle
(service.cancel_locked): its agent is told to stop once the transaction commits (and learns it on its next
checkpoint or heartbeat otherwise: the row is gone, so every write it tries finds nothing and it stops), and
the end's follow-ups run (a push job's callback delivery is made, then deleted with the job: no callback
is sent for a deleted job). Waiters on the job (a sync request, a parent job's `workflow` step) find it gone.

Child jobs of a deleted job stay: they belong to their own workflow, and keep their `parent` link. Audit
entries are not touched.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from workflow_service.context import Context
from workflow_service.core.db import AnyRow, UnitOfWork
from workflow_service.core.ids import parse_uuid
from workflow_service.errors import NotFound, WorkflowHasActiveJobs
from workflow_service.jobs import repository as repo
from workflow_service.jobs import service
from workflow_service.jobs.states import JobStatus, is_terminal
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows.refs import ScopedRef


@dataclass(frozen=True, slots=True)
class Deleted:
    """A deleted job: the status it had, and whether it was canceled first (it had not ended)."""

    job_id: uuid.UUID
    status: JobStatus
    canceled: bool


async def delete(uow: UnitOfWork, ctx: Context, job_id: str, *, actor: str) -> Deleted:
    """Delete a job (canceled first if it has not ended); NotFound if there is none."""
    jid = parse_uuid(job_id)
    deleted = await delete_many(uow, ctx, [jid] if jid is not None else [], actor=actor)
    if not deleted:
        raise NotFound(f"job {job_id!r} does not exist")
    return deleted[0]


async def delete_many(uow: UnitOfWork, ctx: Context, job_ids: Sequence[uuid.UUID], *, actor: str) -> list[Deleted]:
    """Delete those of `job_ids` that exist, each canceled first if it has not ended, in one transaction; the
    ones deleted, in id order."""
    if not job_ids:
        return []
    rows = await repo.lock_jobs(uow.conn, job_ids)
    deleted = await _cancel_active(uow, ctx, rows, actor)
    await repo.delete_jobs(uow.conn, [d.job_id for d in deleted])
    return deleted


async def _cancel_active(uow: UnitOfWork, ctx: Context, rows: Sequence[AnyRow], actor: str) -> list[Deleted]:
    """Cancel the jobs of `rows` (locked, with their status) that have not ended; each as it will be deleted."""
    found = []
    for row in rows:
        status = JobStatus(row.status)
        active = not is_terminal(status)
        if active:
            await service.cancel_locked(uow, ctx, row.id, status, actor=actor)
        found.append(Deleted(row.id, status, active))
    return found


@dataclass(frozen=True, slots=True)
class DeletedWorkflow:
    """A deleted workflow: its id and slug, how many jobs went with it, and how many of those were canceled."""

    workflow_id: uuid.UUID
    slug: str
    jobs: int
    canceled: int


async def delete_workflow(
    uow: UnitOfWork, ctx: Context, ref: ScopedRef, *, actor: str, cancel_active: bool = False
) -> DeletedWorkflow:
    """Delete a workflow with its versions, jobs (and theirs), API keys, environment variables and members, in
    one transaction. While some of its jobs have not ended: 409 `workflow_has_active_jobs`, unless
    `cancel_active`, which cancels them first (through the lifecycle, in the same transaction)."""
    workflow = await workflow_repo.get(uow.conn, ref, for_update=True)  # new submissions wait for the outcome
    if workflow is None:
        raise NotFound(f"workflow {ref!r} does not exist")
    active = await repo.count_active(uow.conn, workflow.id)
    if active and not cancel_active:
        raise WorkflowHasActiveJobs(
            f"workflow {workflow.slug!r} has {active} job(s) that have not ended; cancel them first, or delete "
            "with ?cancel_active=true to cancel them as part of the deletion",
            active_jobs=active,
        )
    canceled = await _cancel_active(uow, ctx, await repo.lock_active(uow.conn, workflow.id), actor)
    jobs = await repo.delete_workflow_jobs(uow.conn, workflow.id)
    await workflow_repo.delete(uow.conn, workflow.id)
    return DeletedWorkflow(workflow.id, workflow.slug, jobs, len(canceled))
