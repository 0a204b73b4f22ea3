"""The reconciler: periodic, idempotent repair of everything Redis or a dead agent may have lost.

- a claimed/running job past its own run deadline (its first start plus the definition's timeout,
  or its push deadline if sooner) by more than a lease fails with `job_timeout` / `push_timeout`,
  even when a stuck agent keeps its lease alive;
- a claimed/running job whose lease expired goes back to pending (a retry) or, past its
  max attempts, fails with `lease_expired`;
- a pending job that no agent claimed within `requeue_after_s` is woken again, replacing whatever
  message Redis may still hold for it (the database is the only judge of what is pending);
- a pending job past its queue deadline fails with `queue_timeout` (past its push deadline, `push_timeout`);
- every end and retry goes through jobs/lifecycle.py, which runs the follow-ups (a push job's callback
  delivery in the same transaction, the notice to waiters after commit);
- agents silent for `agent_offline_after_s` are marked offline.

Safe to run in every worker at once: rows are locked with SKIP LOCKED and every change is a
guarded transition.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.agents import service as agents
from workflow_service.config import Settings
from workflow_service.context import Context
from workflow_service.core.clock import utcnow
from workflow_service.core.db import AnyRow, UnitOfWork, unit_of_work
from workflow_service.core.dispatch import Dispatcher, job_of
from workflow_service.jobs import lifecycle
from workflow_service.jobs import repository as repo
from workflow_service.jobs.ends import EndContext
from workflow_service.jobs.states import RETRY_TRANSITIONS, JobStatus

log = logging.getLogger(__name__)
S = JobStatus
ACTOR = "reconciler"


@dataclass(slots=True)
class ReconcileReport:
    retried: int = 0
    failed: int = 0
    requeued: int = 0
    agents_offline: int = 0
    discarded: int = 0


STRANDED_SCAN = 200
"""How many due messages at the head of each queue a pass looks at for ones stranded in progress."""


class Failure(NamedTuple):
    """Why the reconciler fails a job: its error's code (also the reason of the transition) and message."""

    code: str
    message: str


@dataclass(slots=True)
class _Pass:
    """One pass over the database: its transaction, its clock, what it wakes once committed, its report."""

    uow: UnitOfWork
    ends: EndContext
    now: datetime
    report: ReconcileReport = field(default_factory=ReconcileReport)
    wake: list[tuple[uuid.UUID, str, int]] = field(default_factory=list)

    async def fail(
        self,
        job_id: uuid.UUID,
        status: JobStatus,
        failure: Failure,
        guards: Iterable[sa.ColumnElement[bool]] = (),
        *,
        steps: bool = False,
    ) -> None:
        """Fail a job the reconciler gave up on (a lost lease, a deadline); with `steps`, its steps still
        running fail with it."""
        code, message = failure
        change = lifecycle.Move(
            job_id=job_id,
            path=[status, S.FAILED],
            actor=ACTOR,
            reason=code,
            guards=guards,
            values={
                "lease_expires_at": None,
                "finished_at": self.now,
                "error": {"code": code, "message": message, "step": None},
            },
            writes=lifecycle.failing_steps(job_id, {"code": code, "message": message}, self.now) if steps else None,
        )
        if await lifecycle.move(self.uow, self.ends, change) is not None:
            self.report.failed += 1


async def reconcile(ctx: Context, pools: Sequence[str] = ()) -> ReconcileReport:
    """One pass over the database; then, for each of `pools`, the queue's stranded messages. Returns what
    it did."""
    async with unit_of_work(ctx.engine) as uow:
        run = _Pass(uow, ctx.ends, utcnow())
        await _past_run_deadline(run, ctx.settings)
        await _expired_leases(run)
        await _past_queue_deadline(run)
        await _stale_pending(run, ctx.settings)
        run.report.agents_offline = await agents.mark_offline(uow.conn, run.now - ctx.settings.jobs.agent_offline_after)
        if run.wake:
            _wake_after_commit(uow, ctx.dispatcher, run.wake)
    report = run.report
    for pool in pools:
        report.discarded += await discard_stranded(ctx.engine, ctx.dispatcher, pool)
    if report.retried or report.failed or report.requeued or report.discarded:
        log.info("reconciler: %s", report)
    return report


def _wake_after_commit(uow: UnitOfWork, dispatcher: Dispatcher, wake: list[tuple[uuid.UUID, str, int]]) -> None:
    async def enqueue() -> None:
        await dispatcher.enqueue_many(wake, replace=True)

    uow.after_commit(enqueue)


async def _past_run_deadline(run: _Pass, settings: Settings) -> None:
    """A claimed/running job past its run deadline fails with `job_timeout` (`push_timeout`). The agent
    enforces the timeout itself; this catches an agent that cannot (stuck, or a job left behind), a
    lease later, so that an agent ending its job on time is never raced."""
    for row in await repo.past_run_deadline(run.uow.conn, run.now - settings.jobs.lease, limit=500):
        if row.deadline_at is not None and row.deadline_at <= row.run_deadline_at:
            failure = Failure("push_timeout", "the job did not end within the push timeout")
        else:
            timeout_s = (row.run_deadline_at - row.started_at).total_seconds()
            failure = Failure("job_timeout", f"the job did not finish within its timeout of {timeout_s} s")
        await run.fail(row.id, S(row.status), failure, repo.attempt_is(row.attempt), steps=True)


async def _expired_leases(run: _Pass) -> None:
    """A claimed/running job whose lease expired goes back to pending (a retry) or, past its max
    attempts, fails with `lease_expired`."""
    for row in await repo.expired_leases(run.uow.conn, run.now, limit=500):
        status = S(row.status)
        expired = repo.lease_expired(run.now)
        if (status, S.PENDING) in RETRY_TRANSITIONS and row.attempt < row.max_attempts:
            await _retry(run, row, status, expired)
            continue
        message = (
            f"the agent running this job stopped responding; gave up after {row.attempt} attempt(s)"
            if status in (S.CLAIMED, S.RUNNING)
            else f"the agent stopped responding while the job was {status}"
        )
        await run.fail(row.id, status, Failure("lease_expired", message), expired)


async def _retry(run: _Pass, row: AnyRow, status: JobStatus, expired: Iterable[sa.ColumnElement[bool]]) -> None:
    """Back to pending for another attempt, woken once committed."""
    retry = lifecycle.Move(
        job_id=row.id,
        path=[status, S.PENDING],
        actor=ACTOR,
        guards=expired,
        reason=f"lease expired (agent {row.agent_id} stopped responding); retrying",
        # It was claimed in time: the queue timeout (first claim only) no longer applies.
        values={"agent_id": None, "lease_expires_at": None, "enqueued_at": run.now, "queue_deadline_at": None},
    )
    if await lifecycle.move(run.uow, run.ends, retry) is not None:
        run.report.retried += 1
        run.wake.append((row.id, row.pool, row.attempt))


async def _past_queue_deadline(run: _Pass) -> None:
    """A pending job past its queue deadline fails with `queue_timeout` (past its push deadline,
    `push_timeout`)."""
    for row in await repo.past_deadline(run.uow.conn, run.now, limit=500):
        if row.queue_deadline_at is not None and row.queue_deadline_at < run.now:
            failure = Failure("queue_timeout", "no agent claimed the job within the workflow's queue timeout")
        else:
            failure = Failure("push_timeout", "the job did not end within the push timeout")
        await run.fail(row.id, S.PENDING, failure)


async def _stale_pending(run: _Pass, settings: Settings) -> None:
    """A pending job no agent claimed within `requeue_after_s` is woken again."""
    stale = await repo.stale_pending(run.uow.conn, run.now - settings.jobs.requeue_after, limit=1000)
    if stale:
        await repo.mark_enqueued(run.uow.conn, [r.id for r in stale], run.now)
        run.wake += [(r.id, r.pool, r.attempt) for r in stale]
        run.report.requeued = len(stale)


async def discard_stranded(engine: AsyncEngine, dispatcher: Dispatcher, pool: str) -> int:
    """Discard the messages at the head of `pool`'s queue that a dead worker left in progress and whose jobs
    have ended (a worker killed after its job's final write, before arq's own bookkeeping). Were enough of
    them left there, no worker would reach the messages behind them. Messages of jobs that have not ended
    are left alone: a live worker runs them, or the passes above wake them again, replacing the message."""
    stranded = await dispatcher.stranded(pool, STRANDED_SCAN)
    if not stranded:
        return 0
    jobs = {message: job_of(message) for message in stranded}
    async with engine.connect() as conn:
        unfinished = await repo.unfinished_among(conn, [j for j in jobs.values() if j is not None])
    ended = [message for message, job in jobs.items() if job not in unfinished]
    await dispatcher.discard(pool, ended)
    return len(ended)
