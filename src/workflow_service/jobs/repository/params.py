"""What the status-changing queries take and return: the same objects whichever statement (PostgreSQL's
single one in pg.py, or the portable ones) does the work."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from workflow_service.engine.executor import StepRecord
from workflow_service.jobs.states import JobStatus


@dataclass(frozen=True, slots=True)
class Move:
    """A guarded status change along `path` (each hop checked against TRANSITIONS, each one job_event row
    by `actor` at its time in `at`, now by default), setting `values` too, when the job passes `guards`."""

    path: Sequence[JobStatus]
    actor: str
    reason: str | None = None
    values: Mapping[str, Any] | None = None
    guards: Iterable[sa.ColumnElement[bool]] = ()
    at: Sequence[datetime] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRequest:
    """An agent asking for a pending job in one of its `pools`, to hold until `lease_until`.

    A job waiting for an identical one in flight (a cache follower, see jobs/cache.py) is claimed only
    with `followers`: the runner asks jobs/cache.gate about it first."""

    agent_id: uuid.UUID
    actor: str
    pools: Sequence[str]
    now: datetime
    lease_until: datetime
    followers: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Finish:
    """The agent's end of its running job: fenced by `attempt` and `agent_id`, along `path` (one event per
    hop, at the times `at`), with the job's output or error and the step records not yet checkpointed.

    `with_usage` False (a plan without model calls) skips summing the steps' usage: it would be null."""

    attempt: int
    agent_id: uuid.UUID
    actor: str
    path: Sequence[JobStatus]
    at: Sequence[datetime]
    output: Any = None
    error: dict[str, Any] | None = None
    records: Sequence[StepRecord] = ()
    with_usage: bool = True

    @property
    def reason(self) -> str | None:
        """The events' reason: the error's code."""
        return self.error["code"] if self.error else None


@dataclass(frozen=True, slots=True)
class Search:
    """A listing's text search: jobs whose name or error message matches `pattern` (a LIKE pattern, case
    insensitive, its wildcards escaped with a backslash), jobs of `workflow_ids` (whose slug or name matched),
    and jobs whose id is from `ids[0]` to `ids[1]` (an id prefix)."""

    pattern: str
    workflow_ids: Sequence[uuid.UUID] = ()
    ids: tuple[uuid.UUID, uuid.UUID] | None = None


@dataclass(frozen=True, slots=True)
class Span:
    """From `start` (inclusive) to `end` (exclusive); None: open on that side."""

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobFilter:
    """Which jobs a listing shows (None or empty: any)."""

    workspace_id: uuid.UUID
    workflow_id: uuid.UUID | None = None
    statuses: Sequence[str] = ()
    pool: str | None = None
    caller: str | None = None
    """Only the jobs this actor created (`My jobs`)."""
    search: Search | None = None
    origins: Sequence[str] = ()
    callers: Sequence[str] = ()
    """Only the jobs one of these created (`job.caller` values)."""
    version: int | None = None
    created: Span = Span()
    finished: Span = Span()
    duration_us: tuple[int | None, int | None] = (None, None)
    """Microseconds from start to end, at least and at most; a bound leaves out the jobs without a duration."""


SORT_KEYS = ("created", "updated", "finished", "duration", "name", "workflow", "status", "steps")


@dataclass(frozen=True, slots=True)
class Sort:
    """A listing's order: by `key` (one of SORT_KEYS), then by id, both the same way."""

    key: str
    descending: bool = True


@dataclass(frozen=True, slots=True)
class After:
    """Where a page starts: after the row with this sort key (None: a job without one) and id."""

    key: Any
    id: uuid.UUID


class ClaimedRow(NamedTuple):
    """What running a claimed job needs."""

    attempt: int
    version_id: uuid.UUID
    inputs: dict[str, Any]
    variables: dict[str, Any]
    started_at: datetime
    mode: str
    deadline_at: datetime | None
    from_step: str | None
    cache_key: str | None
    trace_context: dict[str, str] | None
    """The submission's tracing context (observability/tracing.py), when it was traced."""
    notify_url: str | None
    """The job's own notification URL: its end sends a notice there (it shares the end's transaction)."""
    env: list[dict[str, Any]]
    """The workflow's environment variables as stored ({name, value, secure}), read with the claim."""


class EndedRow(NamedTuple):
    """tables.ENDED_COLUMNS of a finished job."""

    mode: str
    cache_key: str | None
    cache_hit: bool
    parent_job_id: uuid.UUID | None
    origin: str
    workflow_id: uuid.UUID
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    notify_url: str | None
