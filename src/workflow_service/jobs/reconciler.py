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
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.agents import service as agents
from workflow_service.config import Settings
from workflow_service.core.clock import utcnow
from workflow_service.core.db import UnitOfWork, unit_of_work
from workflow_service.core.dispatch import Dispatcher, job_of
from workflow_service.core.notify import Notifier
from workflow_service.jobs import lifecycle
from workflow_service.jobs import repository as repo
from workflow_service.jobs.states import RETRY_TRANSITIONS, JobStatus

log = logging.getLogger(__name__)
S = JobStatus


@dataclass(slots=True)
class ReconcileReport:
    retried: int = 0
    failed: int = 0
    requeued: int = 0
    agents_offline: int = 0
    discarded: int = 0


STRANDED_SCAN = 200
"""How many due messages at the head of each queue a pass looks at for ones stranded in progress."""


async def reconcile(
    engine: AsyncEngine,
    dispatcher: Dispatcher,
    settings: Settings,
    notifier: Notifier | None = None,
    pools: Sequence[str] = (),
) -> ReconcileReport:
    """One pass over the database; then, for each of `pools`, the queue's stranded messages. Returns what
    it did."""
    report = ReconcileReport()
    now = utcnow()
    wake: list[tuple[uuid.UUID, str, int]] = []
    async with unit_of_work(engine) as uow:
        conn = uow.conn
        # The agent enforces the timeout itself; this catches an agent that cannot (stuck, or a job left
        # behind), a lease later, so that an agent ending its job on time is never raced.
        for row in await repo.past_run_deadline(conn, now - timedelta(seconds=settings.lease_s), limit=500):
            status = S(row.status)
            if row.deadline_at is not None and row.deadline_at <= row.run_deadline_at:
                code, message = "push_timeout", "the job did not end within the push timeout"
            else:
                timeout_s = (row.run_deadline_at - row.started_at).total_seconds()
                code, message = "job_timeout", f"the job did not finish within its timeout of {timeout_s} s"
            steps = lifecycle.failing_steps(row.id, {"code": code, "message": message}, now)
            if await _fail(uow, row.id, status, code, message, now, notifier, repo.attempt_is(row.attempt), steps):
                report.failed += 1
        for row in await repo.expired_leases(conn, now, limit=500):
            status = S(row.status)
            expired = repo.lease_expired(now)
            if (status, S.PENDING) in RETRY_TRANSITIONS and row.attempt < row.max_attempts:
                won = await lifecycle.move(
                    uow,
                    row.id,
                    [status, S.PENDING],
                    actor="reconciler",
                    notifier=notifier,
                    guards=expired,
                    reason=f"lease expired (agent {row.agent_id} stopped responding); retrying",
                    # It was claimed in time: the queue timeout (first claim only) no longer applies.
                    values={"agent_id": None, "lease_expires_at": None, "enqueued_at": now, "queue_deadline_at": None},
                )
                if won is not None:
                    report.retried += 1
                    wake.append((row.id, row.pool, row.attempt))
            else:
                message = (
                    f"the agent running this job stopped responding; gave up after {row.attempt} attempt(s)"
                    if status in (S.CLAIMED, S.RUNNING)
                    else f"the agent stopped responding while the job was {status}"
                )
                if await _fail(uow, row.id, status, "lease_expired", message, now, notifier, expired):
                    report.failed += 1
        for row in await repo.past_deadline(conn, now, limit=500):
            queue_expired = row.queue_deadline_at is not None and row.queue_deadline_at < now
            code = "queue_timeout" if queue_expired else "push_timeout"
            message = (
                "no agent claimed the job within the workflow's queue timeout"
                if queue_expired
                else "the job did not end within the push timeout"
            )
            if await _fail(uow, row.id, S.PENDING, code, message, now, notifier):
                report.failed += 1
        stale = await repo.stale_pending(conn, now - timedelta(seconds=settings.requeue_after_s), limit=1000)
        if stale:
            await repo.mark_enqueued(conn, [r.id for r in stale], now)
            wake += [(r.id, r.pool, r.attempt) for r in stale]
            report.requeued = len(stale)
        report.agents_offline = await agents.mark_offline(conn, now - timedelta(seconds=settings.agent_offline_after_s))

        async def enqueue() -> None:
            await dispatcher.enqueue_many(wake, replace=True)

        if wake:
            uow.after_commit(enqueue)
    for pool in pools:
        report.discarded += await discard_stranded(engine, dispatcher, pool)
    if report.retried or report.failed or report.requeued or report.discarded:
        log.info("reconciler: %s", report)
    return report


async def _fail(
    uow: UnitOfWork,
    job_id: uuid.UUID,
    status: JobStatus,
    code: str,
    message: str,
    now: datetime,
    notifier: Notifier | None,
    guards: Iterable[sa.ColumnElement[bool]] = (),
    writes: lifecycle.Writes | None = None,
) -> bool:
    """Fail a job the reconciler gave up on (a lost lease, a deadline), with `code` as its error and reason."""
    won = await lifecycle.move(
        uow,
        job_id,
        [status, S.FAILED],
        actor="reconciler",
        notifier=notifier,
        reason=code,
        guards=guards,
        values={
            "lease_expires_at": None,
            "finished_at": now,
            "error": {"code": code, "message": message, "step": None},
        },
        writes=writes,
    )
    return won is not None


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
