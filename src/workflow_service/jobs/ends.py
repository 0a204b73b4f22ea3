"""What a job's end is, and what follows it: the types jobs/lifecycle.py (which ends jobs) and
jobs/follow_ups.py (what follows an end, and may itself end jobs: a cache follower) both use.

They live apart from both, so that neither imports the other: the follow-ups a process runs reach
lifecycle through the `EndContext` it was built with at startup (see workflow_service/startup.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from workflow_service.core.notify import Notifier
from workflow_service.jobs.states import TERMINAL, JobStatus


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
    origin: str = "api"
    """jobs/intake.Origin's value: where the job came from."""
    workflow_id: uuid.UUID | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    """Its first start (None: it never started)."""
    finished_at: datetime | None = None
    """When it ended (None for a return to pending)."""
    notify_url: str | None = None
    """The job's own notification URL (JobCreate.notify_url), if it has one."""

    @classmethod
    def of(cls, job_id: uuid.UUID, path: Sequence[JobStatus], actor: str, reason: str | None, row: Any) -> Ended:
        return cls(
            job_id,
            path[0],
            path[-1],
            actor,
            reason,
            row.mode,
            row.cache_key,
            bool(row.cache_hit),
            row.parent_job_id,
            row.origin,
            row.workflow_id,
            row.created_at,
            row.started_at,
            row.finished_at,
            row.notify_url,
        )


NOTIFIED = "notified"
"""Not a job mode, but registered among a follow-up's `modes` like one: the follow-up applies to the ends of
jobs with their own notification URL (`Ended.notify_url`), whatever their mode."""

InTransaction = Callable[[AsyncConnection, "Ended"], Awaitable[None]]
AfterCommit = Callable[["Ended", "EndContext"], Awaitable[None]]


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

    def needs_transaction(self, statuses: Iterable[JobStatus], mode: str, notified: bool = False) -> bool:
        """Whether an end of a job in `mode` (`notified`: with its own notification URL) into one of `statuses`
        has in-transaction work to share a transaction with."""
        modes = (mode, NOTIFIED) if notified else (mode,)
        return any(f.in_transaction is not None for s in statuses for m in modes for f in self.for_status(s, m))


@dataclass(frozen=True, slots=True)
class EndContext:
    """What ends a job in this process: the follow-ups to run, and what after-commit ones work with (the
    database, and the process's notifier; None announces to no one, e.g. a job completed from the cache
    in the transaction that creates it, which no one can be waiting for yet). Built once at startup
    (`Context.ends`)."""

    engine: AsyncEngine
    notifier: Notifier | None
    follow_ups: Registry

    def unannounced(self) -> EndContext:
        return EndContext(self.engine, None, self.follow_ups)
