"""Submitting and reading jobs. Only the jobs package writes job.status (see repository.transition)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from workflow_service.context import Context
from workflow_service.core.clock import utcnow
from workflow_service.core.db import UnitOfWork
from workflow_service.core.ids import parse_uuid
from workflow_service.core.notify import Notifier
from workflow_service.errors import JobEnded, NotFound, VariablesLocked
from workflow_service.jobs import cache, intake, lifecycle, views
from workflow_service.jobs import repository as repo
from workflow_service.jobs.schemas import (
    JobCreate,
    JobEventList,
    JobEventRead,
    JobRead,
    JobSource,
    JobUpdate,
)
from workflow_service.jobs.states import JobStatus, is_terminal
from workflow_service.jobs.views import Viewer
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
    actor_name: str | None = None
    """The user's email or the key's name (the principal's name), for the job's `created_by`."""
    mode: str = "async"
    idempotency_key: str | None = None
    target: Target | None = None
    """The version, looked up before the transaction (workflows/targets.py); None: looked up in it."""


def request_hash(version: str, mode: str, data: JobCreate) -> str:
    """What makes two submissions "the same request" for Idempotency-Key: the endpoint (sync, async or
    push: a key first used on async must not silently answer a push that expects a callback), the
    version asked for, and the body."""
    # `cache` and `notify_url` are left out at their defaults, so that keys stored before they existed still match.
    defaults = {name for name, default in (("cache", "auto"), ("notify_url", None)) if getattr(data, name) == default}
    body = data.model_dump(mode="json", exclude=defaults or None)
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
        notify_url=data.notify_url,
    )
    created = await intake.create(uow, ctx, spec, secrets=ctx.secrets)
    if created.replayed or created.status is not JobStatus.PENDING:
        job = await get(uow.conn, str(created.job_id), viewer=submission.actor)
        return Submitted(job, created.replayed, sync_timeout)
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
        updated_at=created.created_at,
        started_at=None,
        finished_at=None,
        duration=None,
        inputs=created.inputs,
        variables=data.variables,
        metadata=data.metadata,
        output=None,
        max_attempts=max_attempts,
        steps=[],
        created_by=views.creator(submission.actor, submission.actor_name),
    )
    if created.waits_for is not None:  # waits for the identical job in flight
        job.source = JobSource(job_id=created.waits_for, kind=cache.KIND, from_step=None)
    return Submitted(job, False, sync_timeout)


check_submission = intake.check_submission


async def cancel(uow: UnitOfWork, ctx: Context, job_id: str, *, actor: str) -> JobRead:
    """Cancel a job that has not ended: a pending one at once; a running one is stopped mid-step by the
    agent running it (told through the notifier, and on its next heartbeat at the latest). The job as
    `actor` sees it."""
    jid = _job_id(job_id)
    row = await repo.lock_for_cancel(uow.conn, jid)
    if row is None:
        raise NotFound(f"job {job_id!r} does not exist")
    status = JobStatus(row.status)
    if is_terminal(status):
        raise JobEnded(f"job {job_id} has already ended: it is {status}", job_status=status.value)
    await cancel_locked(uow, ctx, jid, status, actor=actor)
    return await get(uow.conn, job_id, viewer=actor)


async def cancel_locked(uow: UnitOfWork, ctx: Context, job_id: uuid.UUID, status: JobStatus, *, actor: str) -> None:
    """Cancel the job `job_id`, whose row this transaction has locked in `status` (one that has not ended),
    through the lifecycle: its follow-ups run, and its agent is told to stop once this commits."""

    async def stop_agent() -> None:  # before the end is announced, as the agent may be mid-step
        await ctx.notifier.cancel_job(job_id)

    uow.after_commit(stop_agent)
    now = utcnow()
    why = f"canceled by {actor}"
    error = {"code": "canceled", "message": why, "step": None}
    canceled = lifecycle.Move(
        job_id=job_id,
        path=[status, JobStatus.CANCELED],
        actor=actor,
        reason=why,
        values={"finished_at": now, "lease_expires_at": None, "error": error},
        writes=lifecycle.failing_steps(job_id, {"code": "canceled", "message": why}, now),
    )
    won = await lifecycle.move(uow, ctx.ends, canceled)
    assert won is not None, "the row is locked, so its status cannot have moved"


@dataclass(frozen=True, slots=True)
class Updated:
    """A job changed by `update`: as its changer sees it, and the fields that changed, before and after."""

    job: JobRead
    before: dict[str, Any]
    after: dict[str, Any]


async def update(uow: UnitOfWork, ctx: Context, job_id: str, data: JobUpdate, *, actor: str) -> Updated:
    """Rename a job (in any state) or replace its variable overrides (only while it is `new`: 409 otherwise),
    checked against its version like a submission's. Only the fields sent change."""
    jid = _job_id(job_id)
    row = await repo.lock_for_update(uow.conn, jid)
    if row is None:
        raise NotFound(f"job {job_id!r} does not exist")
    sent = data.model_fields_set
    after: dict[str, Any] = {}
    if "variables" in sent:
        if row.status != JobStatus.NEW.value:
            raise VariablesLocked(
                f"job {job_id} is {row.status}; its variables can change only while it is `new` (not yet started)",
                job_status=row.status,
            )
        intake.check_variables(await workflows.plan_for(uow.conn, ctx.plans, row.version_id), data.variables)
        after["variables"] = data.variables
    if "name" in sent:
        after["name"] = data.name
    before = {name: row._mapping[name] for name in after}
    changed = {name: value for name, value in after.items() if before[name] != value}
    if changed:
        await repo.update_job(uow.conn, jid, changed)
    job = await get(uow.conn, job_id, viewer=actor)
    return Updated(job, {name: before[name] for name in changed}, changed)


WAIT_POLL_S = 2.0
"""How often `wait_for_end` reads the job when no notice comes."""


async def wait_for_end(
    engine: AsyncEngine, notifier: Notifier, job_id: uuid.UUID, wait_s: float, *, viewer: Viewer
) -> JobRead:
    """The job once it has ended, or as it is after `wait_s`, as `viewer` sees it. Woken by the notifier; a
    slow database poll is the safety net for a lost notification. NotFound once the job has been deleted."""
    deadline = asyncio.get_running_loop().time() + wait_s
    async with notifier.watch(job_id) as ended:
        while True:
            async with engine.connect() as conn:
                job = await get(conn, str(job_id), viewer=viewer)
            left = deadline - asyncio.get_running_loop().time()
            if is_terminal(job.status) or left <= 0:
                return job
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), timeout=min(left, WAIT_POLL_S))


def _job_id(value: str) -> uuid.UUID:
    job_id = parse_uuid(value)
    if job_id is None:
        raise NotFound(f"job {value!r} does not exist")
    return job_id


async def get(conn: AsyncConnection, job_id: str, *, viewer: Viewer, with_steps: bool = True) -> JobRead:
    """A job with its inputs, output, error and step records (`steps` None, and not read, without `with_steps`),
    as `viewer` sees it: its inputs only if it created the job (see jobs/views.py)."""
    row = await repo.get_job(conn, _job_id(job_id))
    if row is None:
        raise NotFound(f"job {job_id!r} does not exist")
    steps = await repo.get_steps(conn, row.id) if with_steps else None
    return views.job_read(row, steps, viewer)


async def events(conn: AsyncConnection, job_id: str) -> JobEventList:
    """The job's status history, oldest first."""
    jid = _job_id(job_id)
    rows = await repo.get_events(conn, jid)
    if not rows:
        raise NotFound(f"job {job_id!r} does not exist")
    return JobEventList(items=[JobEventRead.model_validate(r, from_attributes=True) for r in rows])
