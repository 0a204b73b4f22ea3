"""Ending a job its agent ran: its output checked against the output schema, then its end written
through jobs/lifecycle.py; an attempt that cannot end as usual fails with an `internal_error`."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Protocol

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from workflow_service.context import Context
from workflow_service.core.clock import utcnow
from workflow_service.core.db import unit_of_work
from workflow_service.core.secrets import Redactor
from workflow_service.engine.executor import Outcome
from workflow_service.errors import json_path
from workflow_service.jobs import lifecycle
from workflow_service.jobs.run.claim import Agent, Claim
from workflow_service.jobs.run.errors import internal_error_message, retryable
from workflow_service.jobs.run.steps import stored
from workflow_service.jobs.states import JobStatus

log = logging.getLogger(__name__)
S = JobStatus

FAILED = (S.RUNNING, S.FAILED)
INVALID = (S.RUNNING, S.VALIDATING, S.FAILED)
COMPLETED = (S.RUNNING, S.VALIDATING, S.UPLOADING, S.COMPLETED)


class Attempt(Protocol):
    """What ending an attempt as failed needs to know of it (a Claim, or what could not start)."""

    @property
    def job_id(self) -> uuid.UUID: ...
    @property
    def attempt(self) -> int: ...
    @property
    def mode(self) -> str: ...
    @property
    def redact(self) -> Redactor: ...
    @property
    def with_usage(self) -> bool: ...


class Finisher:
    """Ends the jobs one agent ran."""

    def __init__(self, ctx: Context, agent: Agent) -> None:
        self.ctx, self.agent = ctx, agent

    async def finish(self, claim: Claim, outcome: Outcome) -> str | None:
        """End the job as its outcome says; its final status, or None when it is no longer ours or its
        end could not be written for now (its lease then expires and the attempt is retried)."""
        try:
            return await self._write(claim, outcome)
        except Exception as exc:
            if retryable(exc):
                claim.log_left_to_lease("could not record its end")
                return None
            # E.g. the database refused a value of the result: end the job anyway, without it.
            claim.log_unexpected(exc)
            return await self.fail(claim, exc)

    async def _write(self, claim: Claim, outcome: Outcome) -> str | None:
        path, times = _checked(claim, outcome)
        end = lifecycle.Finish(
            job_id=claim.job_id,
            mode=claim.mode,
            notified=claim.notified,
            attempt=claim.attempt,
            agent_id=self.agent.id,
            path=path,
            at=times,
            output=claim.redact(outcome.output) if outcome.error is None else None,
            error=claim.redact(outcome.error),
            actor=self.agent.actor,
            records=stored(claim, outcome.records, self.ctx.pricing),
            with_usage=claim.with_usage,
        )
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(4),
            reraise=True,
            wait=wait_exponential(multiplier=0.5, max=4),
            retry=retry_if_exception(retryable),
        ):
            with attempt:
                async with unit_of_work(self.ctx.engine) as uow:
                    won = await lifecycle.finish(uow, self.ctx.ends, end)
                if won is None:
                    log.warning("job %s attempt %s: finished, but it is no longer ours", claim.job_id, claim.attempt)
                    return None
        return path[-1].value

    async def fail(self, attempt: Attempt, exc: BaseException) -> str | None:
        """End the attempt `failed` with an `internal_error` when it cannot go on or end as usual (what it
        needs could not be prepared, or its final write was refused), in a fresh transaction and without
        a result or step records (one of which may be what was refused). Its follow-ups announce the end.
        None when even this cannot be written: the lease then expires and the reconciler takes over."""
        now = utcnow()
        error = attempt.redact({"code": "internal_error", "message": internal_error_message(exc), "step": None})
        end = lifecycle.Finish(
            job_id=attempt.job_id,
            mode=attempt.mode,
            attempt=attempt.attempt,
            agent_id=self.agent.id,
            path=FAILED,
            at=[now],
            output=None,
            error=error,
            actor=self.agent.actor,
            records=[],
            with_usage=attempt.with_usage,
            writes=lifecycle.failing_steps(attempt.job_id, error, now),
        )
        try:
            async with unit_of_work(self.ctx.engine) as uow:
                won = await lifecycle.finish(uow, self.ctx.ends, end)
        except Exception:
            log.error(
                "job %s attempt %s: could not record its failure either; its lease will expire",
                attempt.job_id,
                attempt.attempt,
                exc_info=True,
            )
            return None
        if won is None:
            log.warning("job %s attempt %s: failed, but it is no longer ours", attempt.job_id, attempt.attempt)
            return None
        return S.FAILED.value


def _checked(claim: Claim, outcome: Outcome) -> tuple[tuple[JobStatus, ...], list[datetime]]:
    """The path of the job's end and the times of its hops, once its output is checked against the
    output schema (a mismatch becomes the job's `output_invalid` error)."""
    times = [utcnow()]
    if outcome.error is not None:
        return FAILED, times
    validator = claim.plan.output_validator
    if validator is not None:
        problems = [
            {"path": json_path(list(e.absolute_path)), "message": e.message}
            for e in validator.iter_errors(outcome.output)
        ]
        if problems:
            summary = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
            outcome.error = {
                "code": "output_invalid",
                "step": None,
                "problems": problems,
                "message": f"the output does not match the output schema: {summary}",
            }
            times.append(utcnow())
            return INVALID, times
    times += [utcnow(), utcnow()]
    return COMPLETED, times
