"""One way in: every job is created by `create` from a `JobSpec`, whatever its origin.

An API submission, a rerun, a run from a step, a duplicate and a child job of a `workflow` step differ
only in the spec they build (see jobs/service.py, jobs/lineage.py, jobs/children.py). A new origin
(a schedule, an event trigger) is a new `Origin` value and a spec; `create` does the rest:

1. a push job needs the workflow's push configuration (409 otherwise), a job with its own `notify_url` the
   workflow's signing secret (422 otherwise);
2. with an Idempotency-Key, the job an earlier identical request made is answered instead (a different
   request with the same key is a 422);
3. the inputs and variables are checked against the version (422) and the input guardrails applied;
4. a cacheable request is matched against earlier identical jobs (jobs/cache.py): completed at once
   from a completed one, or stored as a follower of one in flight;
5. the row and its first event are inserted (one statement on PostgreSQL), step records copied for a
   run from a step, and a worker is woken once the transaction has committed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from workflow_service.context import Context
from workflow_service.core.clock import utcnow
from workflow_service.core.db import UnitOfWork
from workflow_service.core.ids import uuid7
from workflow_service.core.secrets import Secrets
from workflow_service.engine.definition import Plan, input_problems
from workflow_service.errors import (
    GuardrailBlocked,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    ProblemItem,
    PushNotConfigured,
)
from workflow_service.jobs import cache, notices
from workflow_service.jobs import repository as repo
from workflow_service.jobs.states import JobStatus
from workflow_service.observability import tracing
from workflow_service.observability.gauges import SLUGS
from workflow_service.observability.metrics import instruments
from workflow_service.workflows import settings as endpoint_settings
from workflow_service.workflows.service import Target


class Origin(StrEnum):
    """Where a job comes from. The lineage origins are also its `source.kind`."""

    API = "api"
    RERUN = "rerun"
    FROM_STEP = "run_from_step"
    DUPLICATE = "duplicate"
    CHILD = "child"
    SCHEDULE = "schedule"
    TRIGGER = "trigger"


LINEAGE = frozenset({Origin.RERUN, Origin.FROM_STEP, Origin.DUPLICATE})
NO_SECRETS = Secrets([])
"""Decrypts nothing: a workflow with secure variables gets no cache key without the caller's secrets."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """Everything a new job is made of."""

    target: Target
    """The workflow version it runs (resolved by the caller: `current`, a number, the source's version)."""
    origin: Origin
    caller: str
    """Who the job belongs to (`admin`, `key:<id>`, a parent job's caller)."""
    max_attempts: int
    inputs: dict[str, Any]
    variables: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    pool: str = "default"
    metadata: dict[str, Any] = field(default_factory=dict)
    mode: str = "async"
    """sync, async or push (push: a callback when it ends)."""
    start: bool = True
    """False: stored `new`, queued only by `start` (jobs/lineage.py)."""
    cache: str = "never"
    """JobCreate.cache: auto, always or never."""
    idempotency_key: str | None = None
    request_hash: str | None = None
    """What makes two requests with the same idempotency key the same request (service.request_hash)."""
    source_job_id: uuid.UUID | None = None
    """The job a lineage origin was made from."""
    from_step: str | None = None
    copy_steps: tuple[str, ...] = ()
    """Step records of the source copied in as completed (a run from a step)."""
    parent: tuple[uuid.UUID, str] | None = None
    """The parent job and its `workflow` step, for a child job."""
    notify_url: str | None = None
    """Where the job's own completion notice goes (jobs/notices.py), checked by the caller (a URL the outbound
    policy allows); the workflow must be able to sign it."""


@dataclass(frozen=True, slots=True)
class Created:
    job_id: uuid.UUID
    replayed: bool
    """True when an earlier request with the same Idempotency-Key made the job (nothing was created)."""
    status: JobStatus
    inputs: dict[str, Any]
    """The inputs as stored: with the input guardrails' redactions."""
    created_at: datetime | None = None
    waits_for: uuid.UUID | None = None
    """The identical job in flight whose result this one waits for (a cache follower)."""


def _variable_problems(plan: Plan, variables: dict[str, Any]) -> list[ProblemItem]:
    defined = ", ".join(sorted(plan.variables)) or "none"
    return [
        ProblemItem(path=f"$.variables.{name}", message=f"unknown variable {name!r}; the workflow defines: {defined}")
        for name in sorted(set(variables) - set(plan.variables))
    ]


def _raise(problems: list[ProblemItem]) -> None:
    if problems:
        raise InvalidInput(
            "; ".join(f"{p.path}: {p.message}" for p in problems[:5]), errors=[p.model_dump() for p in problems]
        )


def check_variables(plan: Plan, variables: dict[str, Any]) -> None:
    """422 unless every variable is one the workflow defines (what a submission's variables must pass)."""
    _raise(_variable_problems(plan, variables))


def check_submission(plan: Plan, inputs: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    """422 unless `inputs` match the version's input schema and every variable is one the workflow defines,
    and no `block` input guardrail matches (422 `guardrail_blocked`). Returns the inputs to store: with the
    `redact` input guardrails applied (the schema is checked on the inputs as sent)."""
    _raise(input_problems(plan, inputs) + _variable_problems(plan, variables))
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


async def _replayed(uow: UnitOfWork, spec: JobSpec) -> uuid.UUID | None:
    """The job an earlier request with the spec's idempotency key made; 422 if that was another request."""
    if spec.idempotency_key is None:
        return None
    existing = await repo.find_idempotent(uow.conn, spec.target.workflow_id, spec.caller, spec.idempotency_key)
    if existing is None:
        return None
    if existing.request_hash != spec.request_hash:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used for a different request (another body, version or endpoint); use a new key",
            errors=[{"path": "header:Idempotency-Key", "message": "already used with a different request"}],
        )
    existing_id: uuid.UUID = existing.id
    return existing_id


def _values(spec: JobSpec, job_id: uuid.UUID, inputs: dict[str, Any], cache_key: str | None) -> dict[str, Any]:
    """The job row: the one place it is built."""
    now = utcnow()
    settings = spec.target.settings
    queue_timeout = settings.get("queue_timeout_s") if spec.start else None
    push_timeout = endpoint_settings.push_timeout(settings) if spec.mode == "push" else None
    lineage = spec.origin in LINEAGE
    return {
        "id": job_id,
        "workspace_id": spec.target.workspace_id,
        "workflow_id": spec.target.workflow_id,
        "version_id": spec.target.version_id,
        "version_number": spec.target.number,
        "name": spec.name,
        "status": (JobStatus.PENDING if spec.start else JobStatus.NEW).value,
        "pool": spec.pool,
        "inputs": inputs,
        "variables": spec.variables,
        "metadata": spec.metadata,
        "attempt": 0,
        "max_attempts": spec.max_attempts,
        "created_at": now,
        "updated_at": now,
        "enqueued_at": now,
        "caller": spec.caller,
        "origin": spec.origin.value,
        "mode": spec.mode,
        "idempotency_key": spec.idempotency_key,
        "request_hash": spec.request_hash,
        "deadline_at": now + timedelta(seconds=push_timeout) if push_timeout else None,
        "queue_deadline_at": now + timedelta(seconds=queue_timeout) if queue_timeout else None,
        "cache_key": cache_key,
        "source_job_id": spec.source_job_id if lineage else None,
        "source_kind": spec.origin.value if lineage else None,
        "from_step": spec.from_step,
        "parent_job_id": spec.parent[0] if spec.parent else None,
        "parent_step": spec.parent[1] if spec.parent else None,
        "notify_url": spec.notify_url,
    }


def _count(uow: UnitOfWork, spec: JobSpec) -> None:
    """The job in the metrics once it is committed: submitted, by workflow and origin."""
    target, origin = spec.target, spec.origin.value
    SLUGS.learn(target.workflow_id, target.slug)

    async def count() -> None:
        instruments().jobs_submitted.labels(target.slug, origin).inc()

    uow.after_commit(count)


async def create(uow: UnitOfWork, ctx: Context, spec: JobSpec, *, secrets: Secrets | None = None) -> Created:
    """Create the job `spec` describes (see the module docstring). `secrets` decrypts secure variables
    for the cache key (without them, a workflow with secure variables is not cached). Traced as `job.submit`
    when tracing is on: the job's run is traced as its child (observability/tracing.py)."""
    if ctx.tracer is None:
        return await _create(uow, ctx, spec, secrets)
    with tracing.submission(ctx.tracer, spec.target.slug, spec.origin.value) as span:
        created = await _create(uow, ctx, spec, secrets, tracing.current_context())
        span.set_attribute("wfs.job.id", str(created.job_id))
        span.set_attribute("wfs.job.replayed", created.replayed)
        return created


async def _create(
    uow: UnitOfWork, ctx: Context, spec: JobSpec, secrets: Secrets | None, trace_context: dict[str, str] | None = None
) -> Created:
    _check_deliveries(spec)
    replayed = await _replayed(uow, spec)
    if replayed is not None:
        return Created(replayed, True, JobStatus.PENDING, spec.inputs)
    inputs = check_submission(spec.target.plan, spec.inputs, spec.variables)
    cache_key, source = await _cache_source(uow, spec, inputs, secrets)
    job_id = uuid7()
    values = _values(spec, job_id, inputs, cache_key)
    if trace_context is not None:
        values["trace_context"] = trace_context
    if source is not None:
        values |= {"source_job_id": source.job_id, "source_kind": cache.KIND}
    try:
        inserted = await repo.insert_job(uow.conn, values, spec.caller)
    except repo.WorkflowGone as exc:  # deleted since the lookup: as if it had never been there
        raise NotFound(f"workflow {spec.target.slug!r} does not exist") from exc
    if not inserted:
        # A concurrent request with the same key won the insert: answer with its job.
        replayed = await _replayed(uow, spec)
        assert replayed is not None, "the conflicting job must be visible once its insert has won"
        return Created(replayed, True, JobStatus.PENDING, spec.inputs)
    _count(uow, spec)
    if spec.copy_steps:
        assert spec.source_job_id is not None
        await repo.copy_steps(
            uow.conn, spec.source_job_id, job_id, spec.copy_steps, {"copied_from": str(spec.source_job_id)}
        )
    if source is not None and source.completed:
        # No one can wait for the job yet: its end is announced to no one.
        won = await cache.complete_from(uow, ctx.ends.unannounced(), job_id, source.job_id)
        assert won, "the job was inserted pending in this transaction and the source is completed"
        return Created(job_id, False, JobStatus.COMPLETED, inputs, values["created_at"])
    if spec.start:

        async def wake() -> None:
            await ctx.dispatcher.enqueue(job_id, spec.pool, 0)

        uow.after_commit(wake)
    return Created(
        job_id,
        False,
        JobStatus.PENDING if spec.start else JobStatus.NEW,
        inputs,
        values["created_at"],
        waits_for=source.job_id if source is not None else None,
    )


def _check_deliveries(spec: JobSpec) -> None:
    """409 for a push job of a workflow without a push configuration, and for a job with its own
    notification URL that nothing could sign (jobs/notices.py)."""
    target = spec.target
    if spec.mode == "push" and not endpoint_settings.push_ready(target.settings):
        raise PushNotConfigured(
            f"workflow {target.slug!r} has no push configuration; enable push with a callback URL and access "
            "token in PATCH /v1/workflows/{workflow}/settings"
        )
    if spec.notify_url is not None:
        notices.check_signable(target.slug, target.settings)


async def _cache_source(
    uow: UnitOfWork, spec: JobSpec, inputs: dict[str, Any], secrets: Secrets | None
) -> tuple[str | None, cache.Source | None]:
    """The job's cache key (None: not cacheable) and the earlier identical job it is answered from."""
    target = spec.target
    if not cache.cacheable(target.plan, spec.cache):
        return None, None
    cache_key = await cache.key_for(uow.conn, target, inputs, spec.variables, secrets or NO_SECRETS)
    if cache_key is None:
        return None, None
    await cache.lock(uow.conn, cache_key)
    return cache_key, await cache.find_source(uow.conn, target.workflow_id, cache_key)
