"""Claiming a job: under a lease, with what running it needs (its plan, the steps already done, its
environment decrypted); a cache follower is answered at its gate instead (jobs/cache.py)."""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.context import Context
from workflow_service.core.batch import Batcher
from workflow_service.core.clock import utcnow
from workflow_service.core.db import unit_of_work
from workflow_service.core.secrets import NO_REDACTION, Redactor, SecretsError, redactor_for
from workflow_service.engine.definition import Plan
from workflow_service.engine.executor import RunInput
from workflow_service.jobs import cache
from workflow_service.jobs import repository as repo
from workflow_service.jobs.repository import ClaimedRow
from workflow_service.jobs.run.errors import retryable
from workflow_service.jobs.states import JobStatus
from workflow_service.workflows import env as workflow_env
from workflow_service.workflows.service import plan_for

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Agent:
    """Who a runner works for: the agent's id, the pools it serves, the actor its writes are made as."""

    id: uuid.UUID
    pools: tuple[str, ...]
    actor: str

    @classmethod
    def of(cls, agent_id: uuid.UUID, pools: tuple[str, ...]) -> Agent:
        return cls(agent_id, pools, f"agent:{agent_id}")


@dataclass(frozen=True, slots=True)
class Stopped:
    """The attempt stops without a final write of this agent's; `status` is what the runner answers."""

    status: str | None


NOT_OURS = Stopped(None)
"""Taken by another agent, left waiting (a cache follower), no longer ours, or retried later."""
CANCELED = Stopped(JobStatus.CANCELED.value)
COMPLETED = Stopped(JobStatus.COMPLETED.value)
"""A cache follower completed from its source at the gate."""


class Unstartable(Exception):
    """The job was claimed, but what running it needs could not be prepared (an unexpected error)."""

    redact = NO_REDACTION
    with_usage = False

    def __init__(self, job_id: uuid.UUID, attempt: int, mode: str, error: Exception) -> None:
        super().__init__(f"attempt {attempt} could not start")
        self.job_id, self.attempt, self.mode, self.error = job_id, attempt, mode, error

    def log(self) -> None:
        log.error(
            "job %s attempt %s: unexpected error while starting\n%s",
            self.job_id,
            self.attempt,
            "".join(traceback.format_exception(self.error)),
        )


@dataclass(slots=True)
class Claim:
    job_id: uuid.UUID
    attempt: int
    started_at: datetime
    plan: Plan
    run: RunInput
    mode: str
    deadline_at: datetime | None
    redact: Redactor = NO_REDACTION
    """Replaces the workflow's secure variable values in everything the attempt stores or sends."""
    setup_error: dict[str, Any] | None = None
    """Set when the attempt cannot start (a secure variable cannot be decrypted): the job fails with it."""
    trace_context: dict[str, str] | None = None
    """Its submission's tracing context: its run is traced as its child (observability/tracing.py)."""
    notified: bool = False
    """The job has its own notification URL (its end queues a notice in the same transaction)."""

    @property
    def with_usage(self) -> bool:
        """Whether its end sums the usage of its model calls."""
        return self.plan.has_model_calls

    def time_left(self) -> tuple[float, str, str]:
        """Seconds left, and the error code and message to use when they run out (the tighter limit wins)."""
        left = self.plan.timeout_s - (utcnow() - self.started_at).total_seconds()
        code, message = "job_timeout", f"the job did not finish within its timeout of {self.plan.timeout_s} s"
        if self.deadline_at is not None:
            push_left = (self.deadline_at - utcnow()).total_seconds()
            if push_left < left:
                left, code, message = push_left, "push_timeout", "the job did not end within the push timeout"
        return left, code, message

    def log_left_to_lease(self, what: str) -> None:
        """Log the infrastructure error being handled: the attempt is left to its lease, which retries it."""
        log.warning(
            "job %s attempt %s: %s; it will be retried when its lease expires",
            self.job_id,
            self.attempt,
            what,
            exc_info=True,
        )

    def log_unexpected(self, exc: BaseException) -> None:
        # Formatted and redacted here: an exception's message may carry a secure variable's value.
        log.error(
            "job %s attempt %s: unexpected error\n%s",
            self.job_id,
            self.attempt,
            self.redact.text("".join(traceback.format_exception(exc))),
        )


Loaded = tuple[Plan, dict[str, Any]] | Exception
"""A claimed job's plan and the outputs of the steps it need not run again, or what prevents its start."""
_Claimed = tuple[ClaimedRow, Loaded]


class Claimer:
    """Takes jobs for one agent."""

    def __init__(self, ctx: Context, agent: Agent) -> None:
        self.ctx, self.agent = ctx, agent
        self.lease = ctx.settings.jobs.lease
        self._batch: Batcher[uuid.UUID, _Claimed] = Batcher(self._claim_batch)
        self._claiming: set[uuid.UUID] = set()

    async def claim(self, job_id: uuid.UUID) -> Claim | Stopped:
        """`job_id` claimed for this agent, or why not. Raises Unstartable for a job claimed that cannot
        start (it is this agent's to end)."""
        claim = await self._claim(job_id, followers=False)
        if claim is not None:
            return claim
        # Not claimable as usual: taken by another agent, or a cache follower (jobs/cache.py) that waits
        # for its in-flight source, is completed from it, or computes when the source failed.
        async with unit_of_work(self.ctx.engine) as uow:
            gate = await cache.gate(uow, self.ctx.ends, job_id)
        if gate.action == "completed":
            return COMPLETED
        if gate.action != "claim":
            return NOT_OURS
        return await self._claim(job_id, followers=True) or NOT_OURS

    async def _claim(self, job_id: uuid.UUID, *, followers: bool) -> Claim | None:
        claimed = await self._take(job_id, followers=followers)
        if claimed is None:
            return None
        row, loaded = claimed
        self.ctx.notifier.job_changed(job_id)  # committed: claimed and running
        if isinstance(loaded, Exception):  # the claim is committed: the job is ours to end
            raise Unstartable(job_id, row.attempt, row.mode, loaded)
        plan, done = loaded
        try:
            job_env, setup_error = workflow_env.decrypted(row.env, self.ctx.secrets), None
        except SecretsError as exc:
            job_env = workflow_env.NO_ENV
            setup_error = {"code": "secret_unavailable", "message": str(exc), "step": None}
        redact = redactor_for(job_env.secure)
        run = RunInput(
            job_id=str(job_id),
            attempt=row.attempt,
            inputs=row.inputs,
            variables=row.variables,
            env=job_env.values,
            done=done,
            redact=redact,
        )
        return Claim(
            job_id,
            row.attempt,
            row.started_at,
            plan,
            run,
            row.mode,
            row.deadline_at,
            redact,
            setup_error,
            row.trace_context,
            notified=row.notify_url is not None,
        )

    async def close(self) -> None:
        """Cancel a batch of claims still on its way (its transaction rolls back: the jobs stay pending)."""
        await self._batch.close()

    async def _take(self, job_id: uuid.UUID, *, followers: bool) -> _Claimed | None:
        """The usual claim goes in the next batch of this agent's claims (core/batch.py): the jobs a worker
        starts together cost one statement. A follower's, asked for after its gate, goes alone."""
        if followers:
            return (await self._claim_together([job_id], followers=True)).get(job_id)
        if job_id in self._claiming:  # woken twice: this agent is already claiming it
            return None
        self._claiming.add(job_id)
        try:
            return await self._batch.get(job_id)
        finally:
            self._claiming.discard(job_id)

    async def _claim_batch(self, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, _Claimed]:
        return await self._claim_together(job_ids, followers=False)

    async def _claim_together(self, job_ids: Sequence[uuid.UUID], *, followers: bool) -> dict[uuid.UUID, _Claimed]:
        """Claim `job_ids` in one transaction, and load what running each claimed one needs."""
        now = utcnow()
        agent = self.agent
        request = repo.ClaimRequest(
            agent_id=agent.id,
            actor=agent.actor,
            pools=agent.pools,
            now=now,
            lease_until=now + self.lease,
            followers=followers,
        )
        async with self.ctx.engine.begin() as conn:
            rows = await repo.claim_many(conn, job_ids, request)
            return {job_id: (row, await self._load(conn, job_id, row)) for job_id, row in rows.items()}

    async def _load(self, conn: AsyncConnection, job_id: uuid.UUID, row: Any) -> Loaded:
        """The job's plan and the outputs of the steps it need not run again (a retry skips what earlier
        attempts completed; a run-from-step job, the steps copied into it), or the unexpected error that
        prevents its start."""
        try:
            plan = await plan_for(conn, self.ctx.plans, row.version_id)
            done = await repo.completed_outputs(conn, job_id) if row.attempt > 1 or row.from_step else {}
        except Exception as exc:
            if retryable(exc):
                raise
            return exc
        return plan, done
