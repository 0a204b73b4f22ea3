"""One way out: every move of a job into a terminal state, and every return to pending, is made here.

`move` applies a guarded transition (repository.transition); `finish` is the agent's fenced end of a
running job with its step records (one statement on PostgreSQL, see jobs/repository/pg.py). Both then run
the follow-ups of the `EndContext` they are given (jobs/ends.py) for the status the job reached:

- *in the transaction* that ended the job (`in_transaction(conn, ended)`): it commits with the end or
  not at all, e.g. the push callback's delivery row;
- *after commit* (`after_commit(ended, ends)`): work that must only see a durable end, e.g. the
  notice to sync waiters and parent jobs, completing the cache followers of a job.

The built-in follow-ups are in jobs/follow_ups.py, registered once per process in `FOLLOW_UPS`, which
every process's `EndContext` holds (startup.assemble); adding one (audit, metrics) is one `register`
line there. A follow-up runs once for every end it is registered for and decides itself whether it
applies (a push delivery only for a push job). A failing after-commit follow-up is logged and never
stops the others: the end is already durable.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.clock import utcnow
from workflow_service.core.db import UnitOfWork
from workflow_service.jobs import repository as repo
from workflow_service.jobs.ends import EndContext, Ended

log = logging.getLogger(__name__)

Writes = repo.Writes


@dataclass(frozen=True, slots=True, kw_only=True)
class Move(repo.Move):
    """A guarded transition (repository.Move) of the job `job_id`."""

    job_id: uuid.UUID
    writes: Writes | None = None
    """What belongs to the end itself (failing the running step records, copying a cache source's
    records), made when the move wins, before its job_event rows and the follow-ups."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Finish(repo.Finish):
    """An agent's end (repository.Finish) of its running job `job_id`, in `mode`."""

    job_id: uuid.UUID
    mode: str
    notified: bool = False
    """The job has its own notification URL: its end shares a transaction with the notice's delivery."""
    writes: Writes | None = None


async def move(uow: UnitOfWork, ends: EndContext, change: Move) -> Ended | None:
    """Make `change` and, when this call won, its `writes`, then run the follow-ups. None when someone
    else moved the job first."""
    row = await repo.transition(
        uow.conn,
        change.job_id,
        change,
        returning=repo.ENDED_COLUMNS,
        then=change.writes,
    )
    if row is None:
        return None
    ended = Ended.of(change.job_id, change.path, change.actor, change.reason, row)
    await _follow(uow, ends, ended)
    return ended


async def finish(uow: UnitOfWork, ends: EndContext, end: Finish) -> Ended | None:
    """The agent's end of its running job (see repository.finish), then the follow-ups. None when the job
    is no longer this agent's."""
    atomic = end.writes is not None or ends.follow_ups.needs_transaction([end.path[-1]], end.mode, end.notified)
    row = await repo.finish(uow.conn, end.job_id, end, in_transaction=atomic)
    if row is None:
        return None
    if end.writes is not None:
        await end.writes(uow.conn)
    ended = Ended.of(end.job_id, end.path, end.actor, end.reason, row)
    await _follow(uow, ends, ended)
    return ended


def failing_steps(job_id: uuid.UUID, error: dict[str, Any], at: datetime | None = None) -> Writes:
    """`writes` for an end that interrupts the job: its steps still running fail with `error`."""
    when = at or utcnow()

    async def write(conn: AsyncConnection) -> None:
        await repo.fail_running_steps(conn, job_id, error, when)

    return write


async def _follow(uow: UnitOfWork, ends: EndContext, ended: Ended) -> None:
    follow_ups = ends.follow_ups.for_status(ended.status)
    for follow_up in follow_ups:
        if follow_up.in_transaction is not None:
            await follow_up.in_transaction(uow.conn, ended)
    later = [f for f in follow_ups if f.after_commit is not None]
    if not later:
        return

    async def after_commit() -> None:
        for follow_up in later:
            assert follow_up.after_commit is not None
            try:
                await follow_up.after_commit(ended, ends)
            except Exception:
                log.warning("job %s: follow-up %r failed after its end", ended.job_id, follow_up.name, exc_info=True)

    uow.after_commit(after_commit)
