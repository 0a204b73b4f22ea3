"""Submitting and reading jobs. Only the jobs package writes job.status (see repository.transition)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.clock import utcnow
from workflow_service.core.db import UnitOfWork
from workflow_service.core.dispatch import Dispatcher
from workflow_service.core.ids import parse_uuid, uuid7
from workflow_service.core.pagination import decode_cursor, encode_cursor
from workflow_service.engine.definition import PlanCache, input_problems
from workflow_service.errors import InvalidInput, NotFound
from workflow_service.jobs import repository as repo
from workflow_service.jobs.schemas import (
    JobCreate,
    JobEventList,
    JobEventRead,
    JobPage,
    JobRead,
    JobSummary,
    StepRead,
)
from workflow_service.jobs.states import JobStatus
from workflow_service.problems import ProblemItem
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows import service as workflows
from workflow_service.workflows.schemas import WorkflowRef


async def submit(
    uow: UnitOfWork,
    plans: PlanCache,
    dispatcher: Dispatcher,
    ref: str,
    version: str,
    data: JobCreate,
    *,
    actor: str,
    max_attempts: int,
) -> JobRead:
    """Store a pending job locked to the resolved version; wake a worker once it is committed."""
    target = await workflows.resolve_target(uow.conn, plans, ref, version)
    problems = input_problems(target.plan, data.inputs)
    defined = ", ".join(sorted(target.plan.variables)) or "none"
    problems += [
        ProblemItem(path=f"$.variables.{name}", message=f"unknown variable {name!r}; the workflow defines: {defined}")
        for name in sorted(set(data.variables) - set(target.plan.variables))
    ]
    if problems:
        raise InvalidInput(
            "; ".join(f"{p.path}: {p.message}" for p in problems[:5]), errors=[p.model_dump() for p in problems]
        )
    now = utcnow()
    job_id = uuid7()
    values = {
        "id": job_id,
        "workflow_id": target.workflow_id,
        "version_id": target.version_id,
        "version_number": target.number,
        "name": data.name,
        "status": JobStatus.PENDING.value,
        "pool": data.pool,
        "inputs": data.inputs,
        "variables": data.variables,
        "metadata": data.metadata,
        "attempt": 0,
        "max_attempts": max_attempts,
        "created_at": now,
        "enqueued_at": now,
    }
    await repo.insert_job_fast(uow.conn, values, actor)

    async def wake() -> None:
        await dispatcher.enqueue(job_id, data.pool, 0)

    uow.after_commit(wake)
    return JobRead(
        id=job_id,
        workflow=WorkflowRef(id=target.workflow_id, slug=target.slug),
        version=target.number,
        name=data.name,
        status=JobStatus.PENDING.value,
        pool=data.pool,
        error=None,
        attempt=0,
        agent_id=None,
        created_at=now,
        started_at=None,
        finished_at=None,
        duration=None,
        inputs=data.inputs,
        variables=data.variables,
        metadata=data.metadata,
        output=None,
        max_attempts=max_attempts,
        steps=[],
    )


def _job_id(value: str) -> uuid.UUID:
    job_id = parse_uuid(value)
    if job_id is None:
        raise NotFound(f"job {value!r} does not exist")
    return job_id


def _summary_fields(row: Any) -> dict[str, Any]:
    duration = None
    if row.started_at is not None and row.finished_at is not None:
        duration = (row.finished_at - row.started_at).total_seconds()
    return {
        "id": row.id,
        "workflow": WorkflowRef(id=row.workflow_id, slug=row.slug),
        "version": row.version_number,
        "name": row.name,
        "status": row.status,
        "pool": row.pool,
        "error": row.error,
        "attempt": row.attempt,
        "agent_id": row.agent_id,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "duration": duration,
    }


def _steps(rows: Sequence[Any]) -> list[StepRead]:
    return [
        StepRead(
            id=s.step_id,
            type=s.type,
            status=s.status,
            input=s.input,
            output=s.output,
            error=s.error,
            attempt=s.attempt,
            started_at=s.started_at,
            finished_at=s.finished_at,
        )
        for s in rows
    ]


async def get(conn: AsyncConnection, job_id: str) -> JobRead:
    """A job with its inputs, output, error and step records."""
    row = await repo.get_job(conn, _job_id(job_id))
    if row is None:
        raise NotFound(f"job {job_id!r} does not exist")
    steps = await repo.get_steps(conn, row.id)
    return JobRead(
        **_summary_fields(row),
        inputs=row.inputs,
        variables=row.variables,
        metadata=row.metadata,
        output=row.output,
        max_attempts=row.max_attempts,
        steps=_steps(steps),
    )


async def list_page(
    conn: AsyncConnection,
    *,
    workflow: str | None,
    statuses: Sequence[str],
    pool: str | None,
    cursor: str | None,
    limit: int,
) -> JobPage:
    """Jobs, newest first, filtered by workflow (id or slug), statuses and pool."""
    bad = [s for s in statuses if s not in JobStatus.__members__.values()]
    if bad:
        raise InvalidInput(
            f"unknown status {bad[0]!r}; one of: {', '.join(JobStatus)}",
            errors=[{"path": "query:status", "message": f"unknown status {bad[0]!r}"}],
        )
    workflow_id = None
    if workflow is not None:
        wf = await workflow_repo.get(conn, workflow)
        if wf is None:
            raise NotFound(f"workflow {workflow!r} does not exist")
        workflow_id = wf.id
    rows = await repo.list_jobs(
        conn, workflow_id=workflow_id, statuses=statuses, pool=pool, before=decode_cursor(cursor), limit=limit + 1
    )
    items = [JobSummary(**_summary_fields(r)) for r in rows[:limit]]
    return JobPage(items=items, next_cursor=encode_cursor(rows[limit - 1].id) if len(rows) > limit else None)


async def events(conn: AsyncConnection, job_id: str) -> JobEventList:
    """The job's status history, oldest first."""
    jid = _job_id(job_id)
    rows = await repo.get_events(conn, jid)
    if not rows:
        raise NotFound(f"job {job_id!r} does not exist")
    return JobEventList(items=[JobEventRead.model_validate(r, from_attributes=True) for r in rows])
