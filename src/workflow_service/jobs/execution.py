"""Running a job on an agent: claim under a lease, execute with checkpoints, finish.

Every write is fenced by (status, attempt, agent): an agent whose lease expired and whose job was
handed to another agent finds its writes refused and walks away, so no job is finished twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from workflow_service.config import Settings
from workflow_service.core.clock import utcnow
from workflow_service.engine.definition import Plan, PlanCache
from workflow_service.engine.executor import Outcome, RunInput, StepRecord, execute
from workflow_service.jobs import repository as repo
from workflow_service.jobs.repository import job_t
from workflow_service.jobs.states import JobStatus
from workflow_service.problems import json_path
from workflow_service.workflows.service import plan_for

log = logging.getLogger(__name__)
S = JobStatus
INFRA_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, ConnectionError, OSError)


class LostLease(Exception):
    """The job is no longer this agent's (lease expired and it moved on, or it was canceled)."""


@dataclass(slots=True)
class Claim:
    job_id: uuid.UUID
    attempt: int
    started_at: datetime
    plan: Plan
    run: RunInput


class JobRunner:
    """Executes jobs for one agent. One per worker process (or embedded service)."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        plans: PlanCache,
        http: httpx.AsyncClient,
        agent_id: uuid.UUID,
        pools: tuple[str, ...],
    ) -> None:
        self.engine, self.settings, self.plans, self.http = engine, settings, plans, http
        self.agent_id, self.pools = agent_id, pools
        self.actor = f"agent:{agent_id}"
        self.lease = timedelta(seconds=settings.lease_s)

    def _fence(self, attempt: int) -> list[sa.ColumnElement[bool]]:
        return [job_t.c.attempt == attempt, job_t.c.agent_id == self.agent_id]

    async def run(self, job_id: uuid.UUID) -> str | None:
        """Claim and execute `job_id`. Returns its final status, or None if it was not ours to run."""
        claim = await self._claim(job_id)
        if claim is None:
            return None
        outcome = Outcome()
        remaining = claim.plan.timeout_s - (utcnow() - claim.started_at).total_seconds()
        try:
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(remaining):
                await execute(
                    claim.plan,
                    claim.run,
                    self.http,
                    lambda records: self._checkpoint(claim, records),
                    self.settings.http_max_response_bytes,
                    self.settings.http_default_timeout_s,
                    outcome,
                )
        except TimeoutError:
            outcome.interrupt("job_timeout", f"the job did not finish within its timeout of {claim.plan.timeout_s} s")
        except LostLease:
            log.warning("job %s attempt %s: lost its lease; another agent has it", job_id, claim.attempt)
            return None
        except INFRA_ERRORS:
            log.warning(
                "job %s attempt %s: infrastructure error; it will be retried when its lease expires",
                job_id,
                claim.attempt,
                exc_info=True,
            )
            return None
        except Exception as exc:
            log.exception("job %s: unexpected error", job_id)
            outcome.interrupt("internal_error", f"unexpected error: {type(exc).__name__}: {exc}")
        try:
            return await self._finish(claim, outcome)
        except INFRA_ERRORS:
            log.warning(
                "job %s attempt %s: could not record its end; it will be retried when its lease expires",
                job_id,
                claim.attempt,
                exc_info=True,
            )
            return None

    async def _claim(self, job_id: uuid.UUID) -> Claim | None:
        now = utcnow()
        async with self.engine.begin() as conn:
            row = await repo.claim(
                conn,
                job_id,
                agent_id=self.agent_id,
                pools=self.pools,
                lease_until=now + self.lease,
                now=now,
                actor=self.actor,
            )
            if row is None:
                return None
            plan = await plan_for(conn, self.plans, row.version_id)
            done = await repo.completed_outputs(conn, job_id) if row.attempt > 1 else {}
        run = RunInput(
            job_id=str(job_id), attempt=row.attempt, inputs=row.inputs, variables=row.variables, env={}, done=done
        )
        return Claim(job_id, row.attempt, row.started_at, plan, run)

    async def _checkpoint(self, claim: Claim, records: list[StepRecord]) -> None:
        async with self.engine.begin() as conn:
            stmt = (
                job_t.update()
                .where(job_t.c.id == claim.job_id, job_t.c.status == S.RUNNING.value, *self._fence(claim.attempt))
                .values(lease_expires_at=utcnow() + self.lease)
                .returning(job_t.c.id)
            )
            if (await conn.execute(stmt)).first() is None:
                raise LostLease
            await repo.upsert_steps(conn, claim.job_id, records)

    async def _finish(self, claim: Claim, outcome: Outcome) -> str | None:
        times = [utcnow()]
        path = [S.RUNNING, S.FAILED]
        if outcome.error is None and claim.plan.output_validator is not None:
            problems = [
                {"path": json_path(list(e.absolute_path)), "message": e.message}
                for e in claim.plan.output_validator.iter_errors(outcome.output)
            ]
            if problems:
                summary = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
                outcome.error = {
                    "code": "output_invalid",
                    "step": None,
                    "problems": problems,
                    "message": f"the output does not match the output schema: {summary}",
                }
                path = [S.RUNNING, S.VALIDATING, S.FAILED]
                times.append(utcnow())
        if outcome.error is None:
            path = [S.RUNNING, S.VALIDATING, S.UPLOADING, S.COMPLETED]
            times += [utcnow(), utcnow()]

        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(4),
            reraise=True,
            wait=wait_exponential(multiplier=0.5, max=4),
            retry=retry_if_exception_type(INFRA_ERRORS),
        ):
            with attempt:
                async with self.engine.begin() as conn:
                    won = await repo.finish(
                        conn, claim.job_id, attempt=claim.attempt, agent_id=self.agent_id, path=path, at=times,
                        output=outcome.output if outcome.error is None else None, error=outcome.error,
                        actor=self.actor, records=outcome.records,
                    )  # fmt: skip
                if not won:
                    log.warning("job %s attempt %s: finished, but it is no longer ours", claim.job_id, claim.attempt)
                    return None
        return path[-1].value
