"""Submitting and reading jobs. Only the jobs package writes job.status (see repository.transition)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from workflow_service.core.clock import utcnow
from workflow_service.core.db import UnitOfWork
from workflow_service.core.dispatch import Dispatcher
from workflow_service.core.ids import parse_uuid, uuid7
from workflow_service.core.notify import Notifier
from workflow_service.core.pagination import decode_cursor, encode_cursor
from workflow_service.core.secrets import Secrets
from workflow_service.deliveries import service as deliveries
from workflow_service.engine.definition import Plan, PlanCache, input_problems
from workflow_service.errors import (
    GuardrailBlocked,
    IdempotencyKeyReused,
    InvalidInput,
    JobEnded,
    NotFound,
    PushNotConfigured,
)
from workflow_service.jobs import cache
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
from workflow_service.problems import ProblemItem
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows import service as workflows
from workflow_service.workflows import settings as endpoint_settings
from workflow_service.workflows.schemas import WorkflowRef


@dataclass(frozen=True, slots=True)
class Submitted:
    job: JobRead
    replayed: bool
    """True when an earlier request with the same Idempotency-Key made the job."""
    sync_timeout_s: int


def request_hash(version: str, mode: str, data: JobCreate) -> str:
    """What makes two submissions "the same request" for Idempotency-Key: the endpoint (sync, async or
    push: a key first used on async must not silently answer a push that expects a callback), the
    version asked for, and the body."""
    # `cache` is left out at its default, so that keys stored before the field existed still match.
    body = data.model_dump(mode="json", exclude={"cache"} if data.cache == "auto" else None)
    canonical = orjson.dumps({"version": version, "mode": mode, "body": body}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


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
    mode: str = "async",
    idempotency_key: str | None = None,
    secrets: Secrets | None = None,
    parent: tuple[uuid.UUID, str] | None = None,
) -> Submitted:
    """Store a pending job locked to the resolved version; wake a worker once it is committed.

    With an Idempotency-Key, the same key and body (for the same caller and workflow) return the job
    the first request made, even under concurrent identical requests; a different body is a 422.
    A cacheable request identical to a completed job is completed at once from it; one identical to a
    job in flight waits for it (see jobs/cache.py). `secrets` decrypts secure variables for the cache key.
    """
    target = await workflows.resolve_target(uow.conn, plans, ref, version)
    sync_timeout = int(target.settings.get("sync_timeout_s", endpoint_settings.SYNC_TIMEOUT_DEFAULT))
    if mode == "push" and not endpoint_settings.push_ready(target.settings):
        raise PushNotConfigured(
            f"workflow {target.slug!r} has no push configuration; enable push with a callback URL and access "
            "token in PATCH /v1/workflows/{workflow}/settings"
        )
    digest = request_hash(version, mode, data) if idempotency_key is not None else None
    if idempotency_key is not None:
        replay = await _replay(uow.conn, target.workflow_id, actor, idempotency_key, digest)
        if replay is not None:
            return Submitted(replay, True, sync_timeout)
    # From here on `data.inputs` are what the job stores and sees: with the input guardrails' redactions.
    data = data.model_copy(update={"inputs": check_submission(target.plan, data.inputs, data.variables)})
    cache_key, source = None, None
    if cache.cacheable(target.plan, data.cache):
        cache_key = await cache.key_for(uow.conn, target.workflow_id, target.plan, data.inputs, data.variables,
                                        secrets or Secrets([]))  # fmt: skip
    if cache_key is not None:
        await cache.lock(uow.conn, cache_key)
        source = await cache.find_source(uow.conn, target.workflow_id, cache_key)
    now = utcnow()
    job_id = uuid7()
    queue_timeout = target.settings.get("queue_timeout_s")
    push_timeout = endpoint_settings.push_timeout(target.settings) if mode == "push" else None
    values = {
        "id": job_id, "workflow_id": target.workflow_id, "version_id": target.version_id,
        "version_number": target.number, "name": data.name, "status": JobStatus.PENDING.value, "pool": data.pool,
        "inputs": data.inputs, "variables": data.variables, "metadata": data.metadata, "attempt": 0,
        "max_attempts": max_attempts, "created_at": now, "enqueued_at": now, "caller": actor, "mode": mode,
        "idempotency_key": idempotency_key, "request_hash": digest,
        "deadline_at": now + timedelta(seconds=push_timeout) if push_timeout else None,
        "queue_deadline_at": now + timedelta(seconds=queue_timeout) if queue_timeout else None,
        "cache_key": cache_key,
        "parent_job_id": parent[0] if parent else None, "parent_step": parent[1] if parent else None,
    }  # fmt: skip
    if source is not None:
        values |= {"source_job_id": source.job_id, "source_kind": cache.KIND}
    if not await repo.insert_job_fast(uow.conn, values, actor):
        # A concurrent request with the same key won the insert: answer with its job.
        assert idempotency_key is not None
        replay = await _replay(uow.conn, target.workflow_id, actor, idempotency_key, digest)
        assert replay is not None, "the conflicting job must be visible once its insert has won"
        return Submitted(replay, True, sync_timeout)
    if source is not None and source.completed:
        won = await cache.complete_from(uow.conn, job_id, source.job_id, on_push_end=create_push_delivery)
        assert won, "the job was inserted pending in this transaction and the source is completed"
        return Submitted(await get(uow.conn, str(job_id)), False, sync_timeout)

    async def wake() -> None:
        await dispatcher.enqueue(job_id, data.pool, 0)

    uow.after_commit(wake)
    job = JobRead(
        id=job_id, workflow=WorkflowRef(id=target.workflow_id, slug=target.slug), version=target.number,
        name=data.name, status=JobStatus.PENDING.value, pool=data.pool, error=None, attempt=0, agent_id=None,
        created_at=now, started_at=None, finished_at=None, duration=None, inputs=data.inputs,
        variables=data.variables, metadata=data.metadata, output=None, max_attempts=max_attempts, steps=[],
    )  # fmt: skip
    if source is not None:  # waits for the identical job in flight
        job.source = JobSource(job_id=source.job_id, kind=cache.KIND, from_step=None)
    return Submitted(job, False, sync_timeout)


def check_submission(plan: Plan, inputs: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    """422 unless `inputs` match the version's input schema and every variable is one the workflow defines,
    and no `block` input guardrail matches (422 `guardrail_blocked`). Returns the inputs to store: with the
    `redact` input guardrails applied (the schema is checked on the inputs as sent)."""
    problems = input_problems(plan, inputs)
    defined = ", ".join(sorted(plan.variables)) or "none"
    problems += [
        ProblemItem(path=f"$.variables.{name}", message=f"unknown variable {name!r}; the workflow defines: {defined}")
        for name in sorted(set(variables) - set(plan.variables))
    ]
    if problems:
        raise InvalidInput(
            "; ".join(f"{p.path}: {p.message}" for p in problems[:5]), errors=[p.model_dump() for p in problems]
        )
    if not plan.guardrails.inputs:
        return inputs
    scan = plan.guardrails.inputs.scan(inputs, ("inputs",))
    if scan.blocked:
        raise GuardrailBlocked(
            "; ".join(f"{b.path}: {b.message}" for b in scan.blocked[:5]),
            errors=[{"path": b.path, "message": b.message} for b in scan.blocked],
        )
    redacted: dict[str, Any] = scan.value
    return redacted


async def _replay(conn: AsyncConnection, workflow_id: uuid.UUID, caller: str, key: str,
                  digest: str | None) -> JobRead | None:  # fmt: skip
    existing = await repo.find_idempotent(conn, workflow_id, caller, key)
    if existing is None:
        return None
    if existing.request_hash != digest:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used for a different request (another body, version or endpoint); use a new key",
            errors=[{"path": "header:Idempotency-Key", "message": "already used with a different request"}],
        )
    return await get(conn, str(existing.id))


async def cancel(uow: UnitOfWork, notifier: Notifier, job_id: str, *, actor: str) -> JobRead:
    """Cancel a job that has not ended: a pending one at once; a running one is stopped mid-step by the
    agent running it (told through the notifier, and on its next heartbeat at the latest)."""
    jid = _job_id(job_id)
    row = await repo.lock_for_cancel(uow.conn, jid)
    if row is None:
        raise NotFound(f"job {job_id!r} does not exist")
    status = JobStatus(row.status)
    if is_terminal(status):
        raise JobEnded(f"job {job_id} has already ended: it is {status}", job_status=status.value)
    now = utcnow()
    error = {"code": "canceled", "message": f"canceled by {actor}", "step": None}
    won = await repo.transition(
        uow.conn, jid, [status, JobStatus.CANCELED], actor=actor, reason=f"canceled by {actor}",
        values={"finished_at": now, "lease_expires_at": None, "error": error},
    )  # fmt: skip
    assert won is not None, "the row is locked, so its status cannot have moved"
    await repo.fail_running_steps(uow.conn, jid, {"code": "canceled", "message": f"canceled by {actor}"}, now)
    if row.mode == "push":
        await create_push_delivery(uow.conn, jid)

    async def announce() -> None:
        await notifier.cancel_job(jid)
        await notifier.job_ended(jid)

    uow.after_commit(announce)
    return await get(uow.conn, job_id)


async def create_push_delivery(conn: AsyncConnection, job_id: uuid.UUID) -> None:
    """The callback for an ended push job, in the transaction that ended it."""
    job = await get(conn, str(job_id))
    await deliveries.create(conn, job.model_dump(mode="json"))


async def wait_for_end(engine: AsyncEngine, notifier: Notifier, job_id: uuid.UUID, wait_s: float,
                       poll_s: float = 2.0) -> JobRead:  # fmt: skip
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
    return [
        StepRead(
            id=s.step_id, type=s.type, status=s.status, input=s.input, output=s.output, error=s.error,
            attempt=s.attempt, started_at=s.started_at, finished_at=s.finished_at, model=s.model,
            input_tokens=s.input_tokens, output_tokens=s.output_tokens, latency_ms=s.latency_ms, detail=s.detail,
            cost=s.cost,
        )
        for s in rows
    ]  # fmt: skip


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
