"""Running a job on an agent: claim under a lease, execute with checkpoints, finish.

Every write is fenced by (status, attempt, agent): an agent whose lease expired and whose job was
handed to another agent finds its writes refused and walks away, so no job is finished twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from workflow_service.config import Settings
from workflow_service.core.clock import utcnow
from workflow_service.core.db import is_db_unavailable, unit_of_work
from workflow_service.core.dispatch import Dispatcher
from workflow_service.core.notify import Notifier
from workflow_service.core.secrets import NO_REDACTION, Redactor, SecretsError, redact_logs, redactor_for, secrets_for
from workflow_service.engine.definition import Plan, PlanCache
from workflow_service.engine.executor import Outcome, RunInput, StepRecord, Tools, execute
from workflow_service.errors import json_path
from workflow_service.jobs import cache, lifecycle, usage
from workflow_service.jobs import repository as repo
from workflow_service.jobs.children import ChildRunner
from workflow_service.jobs.states import JobStatus
from workflow_service.workflows import env as workflow_env
from workflow_service.workflows.service import plan_for

log = logging.getLogger(__name__)
S = JobStatus


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of the database error `exc` is or wraps, if any."""
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(code, str):
            return code
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


def retryable(exc: BaseException) -> bool:
    """An infrastructure error, never the job's fault: the database is unavailable (connection refused or
    dropped, shutting down, see core.db.is_db_unavailable) or rolled the transaction back (serialization
    failure, deadlock: SQLSTATE class 40). The attempt is retried, never failed, for it."""
    return is_db_unavailable(exc) or (_sqlstate(exc) or "").startswith("40")


def _database_error(exc: BaseException) -> BaseException | None:
    """The driver's exception when `exc` is (or wraps) a database error, else None."""
    current: BaseException | None = exc
    seen: set[int] = set()
    found: BaseException | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa.exc.StatementError | sa.exc.DBAPIError):
            found = current.orig if isinstance(current.orig, BaseException) else current
        elif type(current).__module__.startswith(("asyncpg", "sqlite3", "aiosqlite")):
            return current
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return found


def internal_error_message(exc: BaseException) -> str:
    """The message of the `internal_error` a job fails with for an unexpected `exc`: its kind, and for a
    database error its SQLSTATE, never the SQL statement or its parameters (the traceback is in the log)."""
    db = _database_error(exc)
    if db is not None:
        code = _sqlstate(db)
        return (
            f"unexpected error: a database statement failed ({type(db).__name__}"
            f"{f', SQLSTATE {code}' if code else ''}); the worker log has the details"
        )
    text = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else ""
    return f"unexpected error: {type(exc).__name__}: {text}" if text else f"unexpected error: {type(exc).__name__}"


class LostLease(Exception):
    """The job is no longer this agent's (lease expired and it moved on, or it was canceled)."""


class _Unstartable(Exception):
    """The job was claimed, but what running it needs could not be prepared (an unexpected error)."""

    def __init__(self, attempt: int, mode: str, error: Exception) -> None:
        super().__init__(f"attempt {attempt} could not start")
        self.attempt, self.mode, self.error = attempt, mode, error


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

    def time_left(self) -> tuple[float, str, str]:
        """Seconds left, and the error code and message to use when they run out (the tighter limit wins)."""
        left = self.plan.timeout_s - (utcnow() - self.started_at).total_seconds()
        code, message = "job_timeout", f"the job did not finish within its timeout of {self.plan.timeout_s} s"
        if self.deadline_at is not None:
            push_left = (self.deadline_at - utcnow()).total_seconds()
            if push_left < left:
                left, code, message = push_left, "push_timeout", "the job did not end within the push timeout"
        return left, code, message


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
        notifier: Notifier | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.engine, self.settings, self.plans, self.http = engine, settings, plans, http
        self.agent_id, self.pools = agent_id, pools
        self.actor = f"agent:{agent_id}"
        self.lease = timedelta(seconds=settings.lease_s)
        self.notifier = notifier or Notifier()
        self.secrets = secrets_for(settings)
        self._executing: dict[uuid.UUID, asyncio.Task[None]] = {}
        self.tools = Tools(
            http=http,
            max_response_bytes=settings.http_max_response_bytes,
            default_timeout_s=settings.http_default_timeout_s,
            models=settings.model_settings,
            template_limits=settings.template_limits,
            children=ChildRunner(engine, settings, plans, dispatcher, self.notifier) if dispatcher else None,
            max_output_bytes=settings.max_step_output_bytes,
        )
        self._canceled: set[uuid.UUID] = set()
        self._dropped: set[uuid.UUID] = set()
        self._held: set[uuid.UUID] = set()

    @property
    def running(self) -> list[uuid.UUID]:
        """The jobs this runner holds right now, from their claim to their final write: the only ones
        whose leases a heartbeat extends."""
        return list(self._held)

    async def cancel_local(self, job_id: uuid.UUID) -> None:
        """Interrupt `job_id` if it runs here (it was canceled; its status is already written)."""
        task = self._executing.get(job_id)
        if task is not None and not task.done():
            self._canceled.add(job_id)
            task.cancel()

    async def drop_local(self, job_id: uuid.UUID) -> None:
        """Stop executing `job_id` if it runs here: it is no longer ours (canceled, ended by the reconciler
        for its timeout, or retried elsewhere after our lease expired), so nothing we do would be kept."""
        task = self._executing.get(job_id)
        if task is not None and not task.done():
            self._dropped.add(job_id)
            task.cancel()

    async def run(self, job_id: uuid.UUID) -> str | None:
        """Claim and execute `job_id`. Returns its final status, or None if it was not ours to run."""
        try:
            claim = await self._claim(job_id)
            if claim is None:
                # Not claimable as usual: taken by another agent, or a cache follower (jobs/cache.py) that
                # waits for its in-flight source, is completed from it, or computes when the source failed.
                async with unit_of_work(self.engine) as uow:
                    gate = await cache.gate(uow, job_id, self.notifier)
                if gate.action == "completed":
                    return S.COMPLETED.value
                if gate.action != "claim":
                    return None
                claim = await self._claim(job_id, followers=True)
                if claim is None:
                    return None
        except _Unstartable as unstartable:
            log.error(
                "job %s attempt %s: unexpected error while starting\n%s",
                job_id,
                unstartable.attempt,
                "".join(traceback.format_exception(unstartable.error)),
            )
            return await self._fail_internal(job_id, unstartable.attempt, unstartable.mode, unstartable.error)
        self._held.add(job_id)
        try:
            return await self._run_claimed(claim)
        finally:
            self._held.discard(job_id)

    async def _run_claimed(self, claim: Claim) -> str | None:
        job_id = claim.job_id
        outcome = Outcome()
        remaining, timeout_code, timeout_message = claim.time_left()
        try:
            if remaining <= 0:
                raise TimeoutError
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
        except asyncio.CancelledError:
            if job_id in self._dropped:
                self._dropped.discard(job_id)
                log.warning(
                    "job %s attempt %s: no longer ours (canceled, timed out or retried elsewhere); stopped",
                    job_id,
                    claim.attempt,
                )
                return None
            if job_id not in self._canceled:
                raise  # the worker itself is shutting down: the lease brings the job back
            self._canceled.discard(job_id)
            log.info("job %s: canceled while running; stopped", job_id)
            return JobStatus.CANCELED.value
        except TimeoutError:  # before the infrastructure check, which counts a TimeoutError as one
            outcome.interrupt(timeout_code, timeout_message)
        except LostLease:
            log.warning("job %s attempt %s: lost its lease; another agent has it", job_id, claim.attempt)
            return None
        except Exception as exc:
            if retryable(exc):
                log.warning(
                    "job %s attempt %s: infrastructure error; it will be retried when its lease expires",
                    job_id,
                    claim.attempt,
                    exc_info=True,
                )
                return None
            self._log_unexpected(claim, exc)
            outcome.interrupt("internal_error", internal_error_message(exc))
        try:
            return await self._finish(claim, outcome)
        except Exception as exc:
            if retryable(exc):
                log.warning(
                    "job %s attempt %s: could not record its end; it will be retried when its lease expires",
                    job_id,
                    claim.attempt,
                    exc_info=True,
                )
                return None
            # E.g. the database refused a value of the result: end the job anyway, without it.
            self._log_unexpected(claim, exc)
            return await self._fail_internal(
                job_id, claim.attempt, claim.mode, exc, claim.redact, with_usage=claim.plan.has_model_calls
            )

    def _log_unexpected(self, claim: Claim, exc: BaseException) -> None:
        # Formatted and redacted here: an exception's message may carry a secure variable's value.
        log.error(
            "job %s attempt %s: unexpected error\n%s",
            claim.job_id,
            claim.attempt,
            claim.redact.text("".join(traceback.format_exception(exc))),
        )

    async def _fail_internal(
        self,
        job_id: uuid.UUID,
        attempt: int,
        mode: str,
        exc: BaseException,
        redact: Redactor = NO_REDACTION,
        with_usage: bool = False,
    ) -> str | None:
        """End the attempt `failed` with an `internal_error` when it cannot go on or end as usual (what it
        needs could not be prepared, or its final write was refused), in a fresh transaction and without
        a result or step records (one of which may be what was refused). Its follow-ups announce the end.
        None when even this cannot be written: the lease then expires and the reconciler takes over."""
        now = utcnow()
        error = redact({"code": "internal_error", "message": internal_error_message(exc), "step": None})
        try:
            async with unit_of_work(self.engine) as uow:
                won = await lifecycle.finish(
                    uow,
                    job_id,
                    mode=mode,
                    attempt=attempt,
                    agent_id=self.agent_id,
                    path=[S.RUNNING, S.FAILED],
                    at=[now],
                    output=None,
                    error=error,
                    actor=self.actor,
                    records=[],
                    notifier=self.notifier,
                    with_usage=with_usage,
                    writes=lifecycle.failing_steps(job_id, error, now),
                )
        except Exception:
            log.error(
                "job %s attempt %s: could not record its failure either; its lease will expire",
                job_id,
                attempt,
                exc_info=True,
            )
            return None
        if won is None:
            log.warning("job %s attempt %s: failed, but it is no longer ours", job_id, attempt)
            return None
        return S.FAILED.value

    async def _execute(self, claim: Claim, outcome: Outcome) -> None:
        redact_logs(claim.redact)  # this task's context: every line logged while the steps run
        if claim.setup_error is not None:
            outcome.error = claim.setup_error
            return
        await execute(claim.plan, claim.run, self.tools, lambda records: self._checkpoint(claim, records), outcome)

    async def _claim(self, job_id: uuid.UUID, followers: bool = False) -> Claim | None:
        now = utcnow()
        async with self.engine.begin() as conn:
            request = repo.ClaimRequest(
                agent_id=self.agent_id,
                actor=self.actor,
                pools=self.pools,
                now=now,
                lease_until=now + self.lease,
                followers=followers,
            )
            row = await repo.claim(conn, job_id, request)
            if row is None:
                return None
            try:
                plan = await plan_for(conn, self.plans, row.version_id)
                # A retry skips what earlier attempts completed; a run-from-step job, the steps copied into it.
                done = await repo.completed_outputs(conn, job_id) if row.attempt > 1 or row.from_step else {}
            except Exception as exc:
                if retryable(exc):
                    raise
                unstartable: Exception | None = exc
            else:
                unstartable = None
            setup_error = None
            try:
                job_env = workflow_env.decrypted(row.env, self.secrets)
            except SecretsError as exc:
                job_env, setup_error = (
                    workflow_env.NO_ENV,
                    {"code": "secret_unavailable", "message": str(exc), "step": None},
                )
        if unstartable is not None:  # the claim is committed: the job is ours to end
            raise _Unstartable(row.attempt, row.mode, unstartable)
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
        return Claim(job_id, row.attempt, row.started_at, plan, run, row.mode, row.deadline_at, redact, setup_error)

    async def _checkpoint(self, claim: Claim, records: list[StepRecord]) -> None:
        async with self.engine.begin() as conn:
            until = utcnow() + self.lease
            if not await repo.extend_lease(conn, claim.job_id, claim.attempt, self.agent_id, until):
                raise LostLease
            await repo.upsert_steps(conn, claim.job_id, _redact_records(claim.redact, self._priced(records)))

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
        output = claim.redact(outcome.output) if outcome.error is None else None
        error = claim.redact(outcome.error)
        records = _redact_records(claim.redact, self._priced(outcome.records))

        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(4),
            reraise=True,
            wait=wait_exponential(multiplier=0.5, max=4),
            retry=retry_if_exception(retryable),
        ):
            with attempt:
                async with unit_of_work(self.engine) as uow:
                    won = await lifecycle.finish(
                        uow,
                        claim.job_id,
                        mode=claim.mode,
                        attempt=claim.attempt,
                        agent_id=self.agent_id,
                        path=path,
                        at=times,
                        output=output,
                        error=error,
                        actor=self.actor,
                        records=records,
                        notifier=self.notifier,
                        with_usage=claim.plan.has_model_calls,
                    )
                if won is None:
                    log.warning("job %s attempt %s: finished, but it is no longer ours", claim.job_id, claim.attempt)
                    return None
        return path[-1].value

    def _priced(self, records: list[StepRecord]) -> list[StepRecord]:
        return usage.priced(self.settings.pricing, records) if self.settings.pricing else records


REDACTED_FIELDS = ("input", "output", "error", "detail")
"""StepRecord fields that may carry a secure value (those the record has)."""


def _redact_records(redact: Redactor, records: list[StepRecord]) -> list[StepRecord]:
    """Redacted copies of the records; the originals (whose outputs later steps read) are left as they are."""
    if not redact:
        return records
    return [
        dataclasses.replace(r, **{f: redact(getattr(r, f)) for f in REDACTED_FIELDS if hasattr(r, f)}) for r in records
    ]
