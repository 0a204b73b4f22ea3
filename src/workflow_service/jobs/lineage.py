"""Jobs made from other jobs: rerun, run from a step, duplicate (and starting a `new` one).

Each makes a NEW job linked to its source (source_job_id, source_kind, from_step); the source is never
modified, so history is never rewritten. Inputs and variables go through the same checks as a
submission. A run-from-step job gets copies of the source's records for the steps before `from_step`
(status completed, same output, `detail.copied_from` = the source job id); the worker loads them as
already done, so they are not executed again.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

from workflow_service.context import Context
from workflow_service.core.clock import utcnow
from workflow_service.core.db import AnyRow, UnitOfWork
from workflow_service.core.ids import parse_uuid
from workflow_service.errors import InvalidInput, JobNotNew, NotFound, StepsDiffer, StepsNotCompleted
from workflow_service.jobs import intake, lifecycle
from workflow_service.jobs import repository as repo
from workflow_service.jobs import service as jobs
from workflow_service.jobs.schemas import JobDuplicate, JobRead, RunFromStep
from workflow_service.jobs.states import JobStatus
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows import service as workflows
from workflow_service.workflows.refs import ScopedRef
from workflow_service.workflows.service import Target


def _job_id(value: str) -> uuid.UUID:
    job_id = parse_uuid(value)
    if job_id is None:
        raise NotFound(f"job {value!r} does not exist")
    return job_id


async def _source(uow: UnitOfWork, job_id: str) -> AnyRow:
    row = await repo.get_source(uow.conn, _job_id(job_id))
    if row is None:
        raise NotFound(f"job {job_id!r} does not exist")
    return row


def _spec(ctx: Context, source: AnyRow, target: Target, origin: intake.Origin, actor: str) -> intake.JobSpec:
    """A job like `source` (its inputs, variables, name, pool and metadata) on `target`, made by `actor`."""
    return intake.JobSpec(
        target=target,
        origin=origin,
        caller=actor,
        max_attempts=ctx.settings.jobs.max_attempts,
        inputs=source.inputs,
        variables=source.variables,
        name=source.name,
        pool=source.pool,
        metadata=source.metadata,
        source_job_id=source.id,
    )


async def _create(uow: UnitOfWork, ctx: Context, spec: intake.JobSpec) -> JobRead:
    created = await intake.create(uow, ctx, spec)
    return await jobs.get(uow.conn, str(created.job_id), viewer=spec.caller)  # its creator: sees its inputs


def _wake_after_commit(uow: UnitOfWork, ctx: Context, job_id: uuid.UUID, pool: str) -> None:
    async def wake() -> None:
        await ctx.dispatcher.enqueue(job_id, pool, 0)

    uow.after_commit(wake)


async def _same_version(uow: UnitOfWork, ctx: Context, source: AnyRow) -> Target:
    return await workflows.resolve_target(uow.conn, ctx.plans, _workflow_of(source), str(source.version_number))


def _workflow_of(source: AnyRow) -> ScopedRef:
    return ScopedRef(str(source.workflow_id), source.workspace_id)


async def rerun(uow: UnitOfWork, ctx: Context, job_id: str, *, actor: str) -> JobRead:
    """A new pending job with the source's inputs, variables, version, pool, metadata and name."""
    source = await _source(uow, job_id)
    target = await _same_version(uow, ctx, source)
    return await _create(uow, ctx, _spec(ctx, source, target, intake.Origin.RERUN, actor))


async def duplicate(uow: UnitOfWork, ctx: Context, job_id: str, data: JobDuplicate, *, actor: str) -> JobRead:
    """A new job with the source's configuration (variables overrides merged): pending and queued, or
    `new` until started."""
    source = await _source(uow, job_id)
    target = await _same_version(uow, ctx, source)
    spec = dataclasses.replace(
        _spec(ctx, source, target, intake.Origin.DUPLICATE, actor),
        variables={**source.variables, **data.variables},
        name=data.name if data.name is not None else source.name,
        start=data.start,
    )
    return await _create(uow, ctx, spec)


async def _steps_of(uow: UnitOfWork, version_id: uuid.UUID) -> list[dict[str, Any]]:
    row = await workflow_repo.get_definition(uow.conn, version_id)
    if row is None:
        raise NotFound(f"version {version_id} does not exist")
    steps: list[dict[str, Any]] = row.definition.get("steps") or []
    return steps


async def run_from_step(uow: UnitOfWork, ctx: Context, job_id: str, data: RunFromStep, *, actor: str) -> JobRead:
    """A new job that copies the source's results for the steps before `data.step` (in definition order)
    and runs from it; on another version only if those earlier steps are identical there."""
    source = await _source(uow, job_id)
    if data.version is None:
        target = await _same_version(uow, ctx, source)
    else:
        target = await workflows.resolve_target(uow.conn, ctx.plans, _workflow_of(source), str(data.version))
    steps = await _steps_of(uow, target.version_id)
    ids = [s.get("id") for s in steps]
    if data.step not in ids:
        raise InvalidInput(
            f"version {target.number} has no step {data.step!r}; its steps: {', '.join(map(str, ids))}",
            errors=[{"path": "$.step", "message": f"not a step of version {target.number}"}],
        )
    earlier = steps[: ids.index(data.step)]
    if target.version_id != source.version_id:
        source_steps = await _steps_of(uow, source.version_id)
        for i, step in enumerate(earlier):
            theirs = source_steps[i] if i < len(source_steps) else None
            if theirs != step:
                raise StepsDiffer(
                    f"step {step.get('id')!r} of version {target.number} differs from the source job's version "
                    f"{source.version_number} (id, type or definition), so its result cannot be reused",
                    step=step.get("id"),
                )
    completed = await repo.completed_outputs(uow.conn, source.id)
    missing = [str(s.get("id")) for s in earlier if s.get("id") not in completed]
    if missing:
        raise StepsNotCompleted(
            f"the source job has not completed the steps before {data.step!r}: {', '.join(missing)}",
            missing=missing,
        )
    spec = dataclasses.replace(
        _spec(ctx, source, target, intake.Origin.FROM_STEP, actor),
        inputs=data.inputs if data.inputs is not None else source.inputs,
        variables={**source.variables, **data.variables},
        from_step=data.step,
        copy_steps=tuple(str(s.get("id")) for s in earlier),
    )
    return await _create(uow, ctx, spec)


async def start(uow: UnitOfWork, ctx: Context, job_id: str, *, actor: str) -> JobRead:
    """new -> pending, then queued once committed; 409 for a job in any other state."""
    jid = _job_id(job_id)
    row = await repo.lock_for_start(uow.conn, jid)
    if row is None:
        raise NotFound(f"job {job_id!r} does not exist")
    if row.status != JobStatus.NEW.value:
        raise JobNotNew(f"job {job_id} is {row.status}; only a `new` job can be started", job_status=row.status)
    now = utcnow()
    workflow = await workflow_repo.get_by_id(uow.conn, row.workflow_id)
    queue_timeout = ((workflow.settings if workflow is not None else None) or {}).get("queue_timeout_s")
    deadline = now + timedelta(seconds=queue_timeout) if queue_timeout else None
    started = lifecycle.Move(
        job_id=jid,
        path=[JobStatus.NEW, JobStatus.PENDING],
        actor=actor,
        reason=f"started by {actor}",
        values={"enqueued_at": now, "queue_deadline_at": deadline},
    )
    won = await lifecycle.move(uow, ctx.ends, started)
    assert won is not None, "the row is locked, so its status cannot have moved"
    _wake_after_commit(uow, ctx, jid, row.pool)
    return await jobs.get(uow.conn, job_id, viewer=actor)
