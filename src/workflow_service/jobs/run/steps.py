"""Running a claimed job's plan: its steps with checkpoints, stopped by its timeout, a cancel, or the
news that it is no longer this agent's; what it stores is redacted and priced."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Mapping

from workflow_service.config import Price
from workflow_service.context import Context
from workflow_service.core.clock import utcnow
from workflow_service.core.secrets import Redactor, redact_logs
from workflow_service.engine.executor import Outcome, StepRecord, Tools, execute
from workflow_service.jobs import repository as repo
from workflow_service.jobs import usage
from workflow_service.jobs.children import ChildRunner
from workflow_service.jobs.run.claim import CANCELED, NOT_OURS, Agent, Claim, Stopped
from workflow_service.jobs.run.errors import LostLease, internal_error_message, retryable
from workflow_service.jobs.states import StepStatus
from workflow_service.observability.metrics import instruments

log = logging.getLogger(__name__)

ENDED = frozenset({StepStatus.COMPLETED.value, StepStatus.FAILED.value})
"""The statuses of a step that ran and ended (a skipped step did not run)."""
REDACTED_FIELDS = ("input", "output", "error", "detail")
"""StepRecord fields that may carry a secure value (those the record has)."""


def stored(claim: Claim, records: list[StepRecord], pricing: Mapping[str, Price]) -> list[StepRecord]:
    """The records as they are stored: priced, and redacted copies (the originals, whose outputs later
    steps read, are left as they are). The ended ones are counted in the metrics: each record of a step run
    passes here once when it has ended (a checkpoint, or the job's end)."""
    if pricing:
        records = usage.priced(pricing, records)
    _count(records)
    return _redacted(claim.redact, records)


def _count(records: list[StepRecord]) -> None:
    """Steps run by type and status, and the tokens and cost of their model calls by model."""
    metrics = instruments()
    for r in records:
        if r.status not in ENDED or r.finished_at is None:
            continue
        metrics.steps.labels(r.type, r.status).observe(max(0.0, (r.finished_at - r.started_at).total_seconds()))
        if r.model is None:
            continue
        if r.input_tokens:
            metrics.llm_tokens.labels(r.model, "input").inc(r.input_tokens)
        if r.output_tokens:
            metrics.llm_tokens.labels(r.model, "output").inc(r.output_tokens)
        if r.cost:
            metrics.llm_cost.labels(r.model).inc(r.cost)


def _redacted(redact: Redactor, records: list[StepRecord]) -> list[StepRecord]:
    if not redact:
        return records
    return [
        dataclasses.replace(r, **{f: redact(getattr(r, f)) for f in REDACTED_FIELDS if hasattr(r, f)}) for r in records
    ]


class StepRunner:
    """Runs claimed jobs' steps for one agent, and stops them when told to."""

    def __init__(self, ctx: Context, agent: Agent) -> None:
        self.ctx, self.agent = ctx, agent
        self.lease = ctx.settings.jobs.lease
        settings = ctx.settings
        self.tools = Tools(
            http=ctx.http,
            max_response_bytes=settings.outbound.max_response_bytes,
            default_timeout_s=settings.outbound.timeout_s,
            models=ctx.models,
            template_limits=ctx.limits,
            children=ChildRunner(ctx),
            max_output_bytes=settings.limits.step_output_bytes,
            tracer=ctx.tracer,
        )
        self._executing: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._canceled: set[uuid.UUID] = set()
        self._dropped: set[uuid.UUID] = set()

    async def cancel(self, job_id: uuid.UUID) -> None:
        """Interrupt `job_id` if it runs here (it was canceled; its status is already written)."""
        task = self._executing.get(job_id)
        if task is not None and not task.done():
            self._canceled.add(job_id)
            task.cancel()

    async def drop(self, job_id: uuid.UUID) -> None:
        """Stop executing `job_id` if it runs here: it is no longer ours (canceled, ended by the reconciler
        for its timeout, or retried elsewhere after our lease expired), so nothing we do would be kept."""
        task = self._executing.get(job_id)
        if task is not None and not task.done():
            self._dropped.add(job_id)
            task.cancel()

    async def run(self, claim: Claim) -> Outcome | Stopped:
        """The steps' outcome, interrupted by the job's timeout or an unexpected error; or why this agent
        stops without ending the job. Raises CancelledError when the worker itself is shutting down (the
        lease then brings the job back)."""
        outcome = Outcome()
        remaining, timeout_code, timeout_message = claim.time_left()
        try:
            await self._execute_within(claim, outcome, remaining)
        except asyncio.CancelledError:
            stopped = self._stopped(claim)
            if stopped is None:
                raise
            return stopped
        except TimeoutError:  # before the infrastructure check, which counts a TimeoutError as one
            outcome.interrupt(timeout_code, timeout_message)
        except LostLease:
            log.warning("job %s attempt %s: lost its lease; another agent has it", claim.job_id, claim.attempt)
            return NOT_OURS
        except Exception as exc:
            if retryable(exc):
                claim.log_left_to_lease("infrastructure error")
                return NOT_OURS
            claim.log_unexpected(exc)
            outcome.interrupt("internal_error", internal_error_message(exc))
        return outcome

    async def _execute_within(self, claim: Claim, outcome: Outcome, remaining: float) -> None:
        if remaining <= 0:
            raise TimeoutError
        job_id = claim.job_id
        execution = asyncio.create_task(self._execute(claim, outcome))
        self._executing[job_id] = execution
        try:
            try:
                done, _ = await asyncio.wait({execution}, timeout=remaining)
            except asyncio.CancelledError:  # the worker is shutting down: stop the steps too
                execution.cancel()
                raise
            if not done:
                execution.cancel()
                await asyncio.gather(execution, return_exceptions=True)
                raise TimeoutError
            execution.result()  # re-raises what the steps raised; CancelledError if canceled by a user
        finally:
            self._executing.pop(job_id, None)

    def _stopped(self, claim: Claim) -> Stopped | None:
        """Why the steps were cancelled: no longer ours, canceled by a user, or (None) the worker stops."""
        job_id = claim.job_id
        if job_id in self._dropped:
            self._dropped.discard(job_id)
            log.warning(
                "job %s attempt %s: no longer ours (canceled, timed out or retried elsewhere); stopped",
                job_id,
                claim.attempt,
            )
            return NOT_OURS
        if job_id not in self._canceled:
            return None
        self._canceled.discard(job_id)
        log.info("job %s: canceled while running; stopped", job_id)
        return CANCELED

    async def _execute(self, claim: Claim, outcome: Outcome) -> None:
        redact_logs(claim.redact)  # this task's context: every line logged while the steps run
        if claim.setup_error is not None:
            outcome.error = claim.setup_error
            return
        await execute(claim.plan, claim.run, self.tools, lambda records: self._checkpoint(claim, records), outcome)

    async def _checkpoint(self, claim: Claim, records: list[StepRecord]) -> None:
        async with self.ctx.engine.begin() as conn:
            until = utcnow() + self.lease
            if not await repo.extend_lease(conn, claim.job_id, claim.attempt, self.agent.id, until):
                raise LostLease
            await repo.upsert_steps(conn, claim.job_id, stored(claim, records, self.ctx.pricing))
        self.ctx.notifier.job_changed(claim.job_id)  # a step started or ended
