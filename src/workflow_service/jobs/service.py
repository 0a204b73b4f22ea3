"""Submitting and reading jobs. Only the jobs package writes job.status (see repository.transition)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from workflow_service.context import Context
from workflow_service.core.clock import utcnow
from workflow_service.core.db import UnitOfWork
from workflow_service.core.ids import parse_uuid
from workflow_service.core.notify import Notifier
from workflow_service.core.pagination import decode_cursor, encode_cursor
from workflow_service.engine.executor import STEP_RECORD_COLUMNS
from workflow_service.errors import (
    InvalidInput,
    JobEnded,
    NotFound,
)
from workflow_service.jobs import cache, intake, lifecycle
from workflow_service.jobs import repository as repo
from workflow_service.jobs.schemas import (
    JobCreate,
    JobEventList,
    JobEventRead,
    JobPage,
    JobParent,
    JobRead,
    JobSource,
    JobSummary,
    JobUsage,
    StepRead,
)
from workflow_service.jobs.states import JobStatus, is_terminal
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows import service as workflows
from workflow_service.workflows import settings as endpoint_settings
from workflow_service.workflows.refs import ScopedRef
from workflow_service.workflows.schemas import WorkflowRef
from workflow_service.workflows.service import Target


@dataclass(frozen=True, slots=True)
class Submitted:
    job: JobRead
    replayed: bool
    """True when an earlier request with the same Idempotency-Key made the job."""
    sync_timeout_s: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    """A job submitted through the API: to `{workflow}/versions/{version}/{mode}`, by `actor`."""

    workflow: ScopedRef
    version: str
    data: JobCreate
    actor: str
    mode: str = "async"
    idempotency_key: str | None = None
    target: Target | None = None
    """The version, looked up before the transaction (workflows/targets.py); None: looked up in it."""


def request_hash(version: str, mode: str, data: JobCreate) -> str:
    """What makes two submissions "the same request" for Idempotency-Key: the endpoint (sync, async or
    push: a key first used on async must not silently answer a push that expects a callback), the
    version asked for, and the body."""
    # `cache` is left out at its default, so that keys stored before the field existed still match.
    body = data.model_dump(mode="json", exclude={"cache"} if data.cache == "auto" else None)
    canonical = orjson.dumps({"version": version, "mode": mode, "body": body}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


async def submit(uow: UnitOfWork, ctx: Context, submission: Submission) -> Submitted:
    """A job submitted through the API (jobs/intake.py makes it): pending and locked to the resolved
    version, a worker woken once it is committed.

    With an Idempotency-Key, the same key and body (for the same caller and workflow) return the job
    the first request made, even under concurrent identical requests; a different body is a 422.
    A cacheable request identical to a completed job is completed at once from it; one identical to a
    job in flight waits for it (see jobs/cache.py); secure variables are decrypted for its cache key.
    """
    data, mode, key = submission.data, submission.mode, submission.idempotency_key
    max_attempts = ctx.settings.jobs.max_attempts
    target = submission.target or await workflows.resolve_target(
        uow.conn, ctx.plans, submission.workflow, submission.version
    )
    sync_timeout = int(target.settings.get("sync_timeout_s", endpoint_settings.SYNC_TIMEOUT_DEFAULT))
    spec = intake.JobSpec(
        target=target,
        origin=intake.Origin.API,
        caller=submission.actor,
        max_attempts=max_attempts,
        inputs=data.inputs,
        variables=data.variables,
        name=data.name,
        pool=data.pool,
        metadata=data.metadata,
        mode=mode,
        cache=data.cache,
        idempotency_key=key,
        request_hash=request_hash(submission.version, mode, data) if key is not None else None,
    )
    created = await intake.create(uow, ctx, spec, secrets=ctx.secrets)
    if created.replayed or created.status is not JobStatus.PENDING:
        return Submitted(await get(uow.conn, str(created.job_id)), created.replayed, sync_timeout)
    assert created.created_at is not None
    job = JobRead(
        id=created.job_id,
        workflow=WorkflowRef(id=target.workflow_id, slug=target.slug),
        version=target.number,
        name=data.name,
        status=JobStatus.PENDING.value,
        pool=data.pool,
        error=None,
        attempt=0,
        agent_id=None,
        created_at=created.created_at,
        started_at=None,
        finished_at=None,
        duration=None,
        inputs=created.inputs,
        variables=data.variables,
        metadata=data.metadata,
        output=None,
        max_attempts=max_attempts,
        steps=[],
    )
    if created.waits_for is not None:  # waits for the identical job in flight
        job.source = JobSource(job_id=created.waits_for, kind=cache.KIND, from_step=None)
    return Submitted(job, False, sync_timeout)


check_submission = intake.check_submission


async def cancel(uow: UnitOfWork, ctx: Context, job_id: str, *, actor: str) -> JobRead:
    """Cancel a job that has not ended: a pending one at once; a running one is stopped mid-step by the
    agent running it (told through the notifier, and on its next heartbeat at the latest)."""
    jid = _job_id(job_id)
    row = await repo.lock_for_cancel(uow.conn, jid)
    if row is None:
        raise NotFound(f"job {job_id!r} does not exist")
    status = JobStatus(row.status)
    if is_terminal(status):
        raise JobEnded(f"job {job_id} has already ended: it is {status}", job_status=status.value)

    async def stop_agent() -> None:  # before the end is announced, as the agent may be mid-step
        await ctx.notifier.cancel_job(jid)

    uow.after_commit(stop_agent)
    now = utcnow()
    error = {"code": "canceled", "message": f"canceled by {actor}", "step": None}
    canceled = lifecycle.Move(
        job_id=jid,
        path=[status, JobStatus.CANCELED],
        actor=actor,
        reason=f"canceled by {actor}",
        values={"finished_at": now, "lease_expires_at": None, "error": error},
        writes=lifecycle.failing_steps(jid, {"code": "canceled", "message": f"canceled by {actor}"}, now),
    )
    won = await lifecycle.move(uow, ctx.ends, canceled)
    assert won is not None, "the row is locked, so its status cannot have moved"
    return await get(uow.conn, job_id)


async def wait_for_end(
    engine: AsyncEngine, notifier: Notifier, job_id: uuid.UUID, wait_s: float, poll_s: float = 2.0
) -> JobRead:
    """The job once it has ended, or as it is after `wait_s`. Woken by the notifier; a slow database
    poll is the safety net for a lost notification."""
    deadline = asyncio.get_running_loop().time() + wait_s
    async with notifier.watch(job_id) as ended:
        while True:
            async with engine.connect() as conn:
                job = await get(conn, str(job_id))
            left = deadline - asyncio.get_running_loop().time()
            if is_terminal(job.status) or left <= 0:
                return job
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), timeout=min(left, poll_s))


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
        "source": JobSource(job_id=row.source_job_id, kind=row.source_kind, from_step=row.from_step)
        if row.source_job_id is not None
        else None,
        "cache_hit": row.cache_hit,
        "usage": JobUsage(input_tokens=row.input_tokens, output_tokens=row.output_tokens, cost=row.cost),
    }


def _steps(rows: Sequence[Any]) -> list[StepRead]:
    shown = [name for name in STEP_RECORD_COLUMNS if name not in ("step_id", "position")]
    return [StepRead(id=s.step_id, **{name: getattr(s, name) for name in shown}) for s in rows]


async def get(conn: AsyncConnection, job_id: str, *, with_steps: bool = True) -> JobRead:
    """A job with its inputs, output, error and step records (`steps` None, and not read, without `with_steps`)."""
    row = await repo.get_job(conn, _job_id(job_id))
    if row is None:
        raise NotFound(f"job {job_id!r} does not exist")
    steps = await repo.get_steps(conn, row.id) if with_steps else None
    parent = JobParent(job_id=row.parent_job_id, step=row.parent_step) if row.parent_job_id else None
    return JobRead(
        **_summary_fields(row),
        inputs=row.inputs,
        variables=row.variables,
        effective_variables={**(row.default_variables or {}), **row.variables},
        overridden_variables=sorted(row.variables),
        parent=parent,
        metadata=row.metadata,
        output=row.output,
        max_attempts=row.max_attempts,
        steps=_steps(steps) if steps is not None else None,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class JobQuery:
    """Which jobs a page lists: of a workspace, by one creator (None: anyone), filtered by workflow (id or slug),
    statuses and pool, after `cursor`."""

    workspace_id: uuid.UUID
    caller: str | None
    workflow: ScopedRef | None = None
    statuses: Sequence[str] = ()
    pool: str | None = None
    cursor: str | None = None
    limit: int = 50


async def list_page(conn: AsyncConnection, query: JobQuery) -> JobPage:
    """Jobs of a workspace, newest first, by one creator or anyone, filtered by workflow, statuses and pool."""
    workflow, statuses, limit = query.workflow, query.statuses, query.limit
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
    where = repo.JobFilter(query.workspace_id, workflow_id, statuses, query.pool, query.caller)
    rows = await repo.list_jobs(conn, where, before=decode_cursor(query.cursor), limit=limit + 1)
    items = [JobSummary(**_summary_fields(r)) for r in rows[:limit]]
    return JobPage(items=items, next_cursor=encode_cursor(rows[limit - 1].id) if len(rows) > limit else None)


async def events(conn: AsyncConnection, job_id: str) -> JobEventList:
    """The job's status history, oldest first."""
    jid = _job_id(job_id)
    rows = await repo.get_events(conn, jid)
    if not rows:
        raise NotFound(f"job {job_id!r} does not exist")
    return JobEventList(items=[JobEventRead.model_validate(r, from_attributes=True) for r in rows])
