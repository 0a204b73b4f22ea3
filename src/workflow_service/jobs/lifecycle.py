"""One way out: every move of a job into a terminal state, and every return to pending, is made here.

`move` applies a guarded transition (repository.transition); `finish` is the agent's fenced end of a
running job with its step records (one statement on PostgreSQL, see jobs/repository/pg.py). Both then run the
follow-ups registered in `FOLLOW_UPS` for the status the job reached:

- *in the transaction* that ended the job (`in_transaction(conn, ended)`): it commits with the end or
  not at all, e.g. the push callback's delivery row;
- *after commit* (`after_commit(ended, context)`): work that must only see a durable end, e.g. the
  notice to sync waiters and parent jobs, completing the cache followers of a job.

The built-in follow-ups are in jobs/follow_ups.py and are registered once per process (`install`);
adding one (audit, metrics) is one `FOLLOW_UPS.register(...)` call there. A follow-up runs once for
every end it is registered for and decides itself whether it applies (a push delivery only for a push
job). A failing after-commit follow-up is logged and never stops the others: the end is already durable.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from workflow_service.core.clock import utcnow
from workflow_service.core.db import UnitOfWork
from workflow_service.core.notify import Notifier
from workflow_service.engine.executor import StepRecord
from workflow_service.jobs import repository as repo
from workflow_service.jobs.states import TERMINAL, JobStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ended:
    """A job that has just reached `status` (a terminal one, or pending again for a retry)."""

    job_id: uuid.UUID
    previous: JobStatus
    status: JobStatus
    actor: str
    reason: str | None
    mode: str
    cache_key: str | None
    cache_hit: bool
    parent_job_id: uuid.UUID | None

    @classmethod
    def of(cls, job_id: uuid.UUID, path: Sequence[JobStatus], actor: str, reason: str | None, row: Any) -> Ended:
        return cls(
            job_id, path[0], path[-1], actor, reason, row.mode, row.cache_key, bool(row.cache_hit), row.parent_job_id
        )


@dataclass(frozen=True, slots=True)
class Context:
    """What after-commit follow-ups work with: the database, and the notifier of the process that ended
    the job (None where there is none, e.g. a reconciler pass run without one)."""

    engine: AsyncEngine
    notifier: Notifier | None


InTransaction = Callable[[AsyncConnection, Ended], Awaitable[None]]
AfterCommit = Callable[[Ended, Context], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class FollowUp:
    name: str
    statuses: frozenset[JobStatus]
    in_transaction: InTransaction | None = None
    after_commit: AfterCommit | None = None
    modes: frozenset[str] | None = None
    """The job modes whose ends it applies to (None: all). Lets `finish` know, before it writes, whether
    the end must share a transaction with an in-transaction follow-up."""


@dataclass(slots=True)
class Registry:
    """The follow-ups, in the order they run."""

    items: list[FollowUp] = field(default_factory=list)

    def register(
        self,
        name: str,
        *,
        in_transaction: InTransaction | None = None,
        after_commit: AfterCommit | None = None,
        statuses: Iterable[JobStatus] = TERMINAL,
        modes: Iterable[str] | None = None,
    ) -> Callable[[], None]:
        """Run `in_transaction` and/or `after_commit` on every move into one of `statuses` (by default
        every terminal one). Returns a function that removes the registration."""
        follow_up = FollowUp(
            name, frozenset(statuses), in_transaction, after_commit, frozenset(modes) if modes is not None else None
        )
        self.items.append(follow_up)

        def unregister() -> None:
            if follow_up in self.items:
                self.items.remove(follow_up)

        return unregister

    def for_status(self, status: JobStatus, mode: str | None = None) -> list[FollowUp]:
        return [f for f in self.items if status in f.statuses and (mode is None or f.modes is None or mode in f.modes)]

    def needs_transaction(self, statuses: Iterable[JobStatus], mode: str) -> bool:
        """Whether an end of a job in `mode` into one of `statuses` has in-transaction work to share a
        transaction with."""
        return any(f.in_transaction is not None for s in statuses for f in self.for_status(s, mode))


FOLLOW_UPS = Registry()
_installed = False


def install() -> None:
    """Register the built-in follow-ups (jobs/follow_ups.py), once per process. Called at startup by the
    api and the worker; `move` and `finish` call it too, so a job can never end without them."""
    global _installed
    if _installed:
        return
    _installed = True
    from workflow_service.jobs import follow_ups

    follow_ups.register(FOLLOW_UPS)


Writes = Callable[[AsyncConnection], Awaitable[None]]


async def move(
    uow: UnitOfWork,
    job_id: uuid.UUID,
    path: Sequence[JobStatus],
    *,
    actor: str,
    notifier: Notifier | None,
    reason: str | None = None,
    values: dict[str, Any] | None = None,
    guards: Iterable[sa.ColumnElement[bool]] = (),
    at: Sequence[datetime] | None = None,
    writes: Writes | None = None,
) -> Ended | None:
    """Move the job along `path` (a guarded transition, see repository.transition) and, when this call
    won, make `writes` (what belongs to the end itself, e.g. the step records) and run the follow-ups.
    None when someone else moved the job first."""
    row = await repo.transition(
        uow.conn,
        job_id,
        repo.Move(path, actor, reason, values=values, guards=guards, at=at),
        returning=repo.ENDED_COLUMNS,
    )
    if row is None:
        return None
    if writes is not None:
        await writes(uow.conn)
    ended = Ended.of(job_id, path, actor, reason, row)
    await _follow(uow, ended, notifier)
    return ended


async def finish(
    uow: UnitOfWork,
    job_id: uuid.UUID,
    *,
    mode: str,
    attempt: int,
    agent_id: uuid.UUID,
    path: Sequence[JobStatus],
    at: Sequence[datetime],
    output: Any,
    error: dict[str, Any] | None,
    actor: str,
    records: Sequence[StepRecord],
    notifier: Notifier | None,
    with_usage: bool = True,
    writes: Writes | None = None,
) -> Ended | None:
    """The agent's end of its running job (see repository.finish), then the follow-ups. None when the job
    is no longer this agent's."""
    install()
    atomic = writes is not None or FOLLOW_UPS.needs_transaction([path[-1]], mode)
    end = repo.Finish(
        attempt=attempt,
        agent_id=agent_id,
        actor=actor,
        path=path,
        at=at,
        output=output,
        error=error,
        records=records,
        with_usage=with_usage,
    )
    row = await repo.finish(uow.conn, job_id, end, in_transaction=atomic)
    if row is None:
        return None
    if writes is not None:
        await writes(uow.conn)
    ended = Ended.of(job_id, path, actor, error["code"] if error else None, row)
    await _follow(uow, ended, notifier)
    return ended


def failing_steps(job_id: uuid.UUID, error: dict[str, Any], at: datetime | None = None) -> Writes:
    """`writes` for an end that interrupts the job: its steps still running fail with `error`."""
    when = at or utcnow()

    async def write(conn: AsyncConnection) -> None:
        await repo.fail_running_steps(conn, job_id, error, when)

    return write


async def _follow(uow: UnitOfWork, ended: Ended, notifier: Notifier | None) -> None:
    install()
    follow_ups = FOLLOW_UPS.for_status(ended.status)
    for follow_up in follow_ups:
        if follow_up.in_transaction is not None:
            await follow_up.in_transaction(uow.conn, ended)
    later = [f for f in follow_ups if f.after_commit is not None]
    if not later:
        return
    context = Context(uow.conn.engine, notifier)

    async def after_commit() -> None:
        for follow_up in later:
            assert follow_up.after_commit is not None
            try:
                await follow_up.after_commit(ended, context)
            except Exception:
                log.warning("job %s: follow-up %r failed after its end", ended.job_id, follow_up.name, exc_info=True)

    uow.after_commit(after_commit)
