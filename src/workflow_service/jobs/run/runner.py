"""A job from its claim to its end: the one entry point the agent runtime calls (worker/runtime.py)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from workflow_service.context import Context
from workflow_service.jobs.run.claim import Agent, Claim, Claimer, Stopped, Unstartable
from workflow_service.jobs.run.finish import Finisher
from workflow_service.jobs.run.steps import StepRunner
from workflow_service.observability import tracing


class JobRunner:
    """Runs jobs for one agent: claims them (Claimer), runs their steps (StepRunner) and ends them
    (Finisher). One per worker process (or embedded service)."""

    def __init__(self, ctx: Context, agent: Agent) -> None:
        self.agent = agent
        self.claimer = Claimer(ctx, agent)
        self.steps = StepRunner(ctx, agent)
        self.finisher = Finisher(ctx, agent)
        self.tracer = ctx.tracer
        self._held: set[uuid.UUID] = set()

    @property
    def agent_id(self) -> uuid.UUID:
        return self.agent.id

    @property
    def running(self) -> list[uuid.UUID]:
        """The jobs this runner holds right now, from their claim to their final write: the only ones
        whose leases a heartbeat extends."""
        return list(self._held)

    async def cancel_local(self, job_id: uuid.UUID) -> None:
        """Interrupt `job_id` if it runs here (it was canceled; its status is already written)."""
        await self.steps.cancel(job_id)

    async def drop_local(self, job_id: uuid.UUID) -> None:
        """Stop executing `job_id` if it runs here: it is no longer ours."""
        await self.steps.drop(job_id)

    async def close(self) -> None:
        """Before the engine closes: nothing of this runner's is left using it (a batch of claims)."""
        await self.claimer.close()

    async def run(self, job_id: uuid.UUID) -> str | None:
        """Claim and execute `job_id`. Returns its final status, or None if it was not ours to run."""
        claimed_from = time.time_ns()
        try:
            claim = await self.claimer.claim(job_id)
        except Unstartable as unstartable:
            unstartable.log()
            return await self.finisher.fail(unstartable, unstartable.error)
        if isinstance(claim, Stopped):
            return claim.status
        self._held.add(job_id)
        try:
            if self.tracer is None:
                return (await self._execute(claim))[0]
            with tracing.job_run(self.tracer, job_id, claim.attempt, claim.trace_context, claimed_from) as span:
                status, error = await self._execute(claim)
                tracing.ended(span, status or "stopped", error)
                return status
        finally:
            self._held.discard(job_id)

    async def _execute(self, claim: Claim) -> tuple[str | None, dict[str, Any] | None]:
        """The claimed job's steps, then its end: its final status (None: not ours any more) and error."""
        outcome = await self.steps.run(claim)
        if isinstance(outcome, Stopped):
            return outcome.status, None
        return await self.finisher.finish(claim, outcome), outcome.error
