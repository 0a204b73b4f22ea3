"""Firing: each reconciler pass turns the schedules' times that have come into jobs (architecture §12).

Every worker runs `fire_due` after its reconciler pass (worker/runtime.py; the embedded mode's in-process worker
too). Each schedule is handled in a transaction of its own, its row locked with SKIP LOCKED: two processes never
handle one schedule at once, and one that fails is retried at the next pass without holding up the others. A time
becomes a job through its `schedule_fire` row, whose key (schedule, time) is unique and which is inserted in the
job's transaction (jobs/intake.create, origin `schedule`, caller `schedule:<id>`): whatever races, one job per time.

- Times missed while no worker ran run late if they are within the catch-up window (the schedule's `catchup_s`,
  else WFS_SCHEDULE_CATCHUP_S, never less than three reconciler intervals); older ones are recorded as skipped,
  in one fire at the first of them that counts them (an outage of a per-second schedule leaves one row, not
  millions). A pass handles at most MAX_TIMES times of a schedule; the next pass goes on from there.
- When the schedule's previous job has not ended: `skip` records the time as skipped; `buffer_one` records it
  as buffered (one at most; further times are skipped) and a later pass runs it once that job has ended;
  `allow_all` runs it; `cancel_other` cancels that job through the lifecycle, then runs it.
- A time that cannot become a job (its version is gone, the workflow has no deployed version, the inputs no
  longer match the current version) is recorded as skipped with the reason; the loop goes on.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from workflow_service.context import Context
from workflow_service.core.clock import utcnow
from workflow_service.core.db import AnyRow, UnitOfWork, unit_of_work
from workflow_service.errors import JobEnded, NotDeployed, NotFound, ServiceError
from workflow_service.jobs import intake
from workflow_service.jobs import service as jobs
from workflow_service.jobs.states import JobStatus, is_terminal
from workflow_service.schedules import repository as repo
from workflow_service.schedules.reads import iso
from workflow_service.schedules.timing import EPSILON, Timing
from workflow_service.workflows import service as workflows
from workflow_service.workflows.refs import ScopedRef
from workflow_service.workflows.service import Target

log = logging.getLogger(__name__)

MAX_SCHEDULES = 100
"""Schedules one pass looks at."""
MAX_TIMES = 100
"""Times of one schedule one pass handles."""
COUNT_CAP = 100_000
"""Missed times a skipped fire counts exactly; beyond it, it says "more than"."""
PASSES_OF_GRACE = 3
"""The catch-up window is never shorter than this many reconciler intervals: a time is not missed only because
the passes are that far apart."""


@dataclass(slots=True)
class FireReport:
    created: int = 0
    skipped: int = 0
    buffered: int = 0
    canceled: int = 0


def caller_of(schedule_id: uuid.UUID) -> str:
    """The `caller` of the jobs a schedule makes (jobs/views.creator shows it as `created_by` kind `schedule`)."""
    return f"schedule:{schedule_id}"


def spec_of(row: AnyRow, target: Target, at: datetime, ctx: Context, *, backfill: bool = False) -> intake.JobSpec:
    """The job of the schedule `row` for its time `at`."""
    metadata: dict[str, object] = {"schedule_id": str(row.id), "scheduled_at": iso(at)}
    if backfill:
        metadata["backfill"] = True
    return intake.JobSpec(
        target=target,
        origin=intake.Origin.SCHEDULE,
        caller=caller_of(row.id),
        max_attempts=ctx.settings.jobs.max_attempts,
        inputs=row.inputs,
        variables=row.variables,
        name=row.name,
        metadata=metadata,
    )


async def resolve(uow: UnitOfWork, ctx: Context, row: AnyRow) -> Target | str:
    """The version the schedule's job runs now (`current` looked up now); or why there is none, as a reason."""
    version = "current" if row.version is None else str(row.version)
    try:
        return await workflows.resolve_target(
            uow.conn, ctx.plans, ScopedRef(str(row.workflow_id), row.workspace_id), version
        )
    except (NotFound, NotDeployed) as exc:
        return f"not run: {exc}"


async def fire_due(ctx: Context, *, now: datetime | None = None) -> FireReport:
    """One pass: every schedule whose time has come (or whose buffered time may now run), each in a transaction of
    its own. `now`: the pass's clock (the tests drive it)."""
    now = now or utcnow()
    report = FireReport()
    async with ctx.engine.connect() as conn:
        candidates = await repo.due(conn, now, MAX_SCHEDULES)
    for candidate in candidates:
        try:
            async with unit_of_work(ctx.engine) as uow:
                # The workflow's key first, then the schedule: a deletion of the workflow locks them in this order too.
                if await repo.hold_workflow(uow.conn, candidate.workflow_id):
                    row = await repo.lock_due(uow.conn, candidate.id, now)
                    if row is not None:
                        await _Firing(uow, ctx, row, now, report).run()
        except Exception:
            log.warning("schedule %s: firing failed; retrying at the next pass", candidate.id, exc_info=True)
    if report.created or report.skipped or report.buffered:
        log.info("schedules: %s", report)
    return report


@dataclass(slots=True)
class _Firing:
    """One schedule in one pass: its row (locked), what it made, and what its row becomes."""

    uow: UnitOfWork
    ctx: Context
    row: AnyRow
    now: datetime
    report: FireReport
    timing: Timing = field(init=False)
    target: Target | str | None = None
    last_job: uuid.UUID | None = None
    last_run: datetime | None = None
    buffered: datetime | None = None

    async def run(self) -> None:
        row = self.row
        self.timing = Timing.of(row)
        self.last_job, self.last_run, self.buffered = row.last_job_id, row.last_run_at, row.buffered_at
        if self.buffered is not None and await self._active() is None:
            await self._create(self.buffered, buffered=True)
            self.buffered = None
        at = row.next_run_at
        if at is not None and at <= self.now:
            at = await self._skip_missed(at)
            handled = 0
            while at is not None and at <= self.now and handled < MAX_TIMES:
                await self._fire(at)
                at = self.timing.next_after(at)
                handled += 1
        values = {"next_run_at": at, "last_job_id": self.last_job, "last_run_at": self.last_run}
        values["buffered_at"] = self.buffered
        if any(getattr(row, name) != value for name, value in values.items()):  # a buffered time may still wait
            await repo.update(self.uow.conn, row.id, values)

    def _window(self) -> timedelta:
        catchup = self.row.catchup_s if self.row.catchup_s is not None else self.ctx.settings.schedule_catchup_s
        return max(
            timedelta(seconds=catchup), PASSES_OF_GRACE * timedelta(seconds=self.ctx.settings.reconcile_interval_s)
        )

    async def _skip_missed(self, at: datetime) -> datetime | None:
        """Record the times before the catch-up window as skipped (one fire, at the first); the first time in it."""
        window = self._window()
        cutoff = self.now - window
        if at >= cutoff:
            return at
        missed = self.timing.count(at, cutoff, COUNT_CAP)
        how_many = f"more than {COUNT_CAP}" if missed > COUNT_CAP else str(missed)
        await self._skip(
            at,
            f"missed: {how_many} scheduled time(s) from {iso(at)} to before {iso(cutoff)} passed while no worker "
            f"ran, longer ago than the catch-up window ({window.total_seconds():g} s)",
        )
        return self.timing.next_after(cutoff - EPSILON)

    async def _active(self) -> JobStatus | None:
        """The status of the schedule's previous job if it has not ended (None: it has, or there is none)."""
        if self.last_job is None:
            return None
        status = await repo.job_status(self.uow.conn, self.last_job)
        return None if status is None or is_terminal(JobStatus(status)) else JobStatus(status)

    async def _fire(self, at: datetime) -> None:
        """The time `at` has come: a job, unless the previous one is still running (the overlap policy)."""
        active = await self._active()
        policy = self.row.overlap
        if active is None or policy == "allow_all":
            await self._create(at)
            return
        previous = f"the previous job {self.last_job} was still {active}"
        if policy == "cancel_other":
            await self._cancel_previous()
            await self._create(at)
        elif policy == "buffer_one" and self.buffered is None:
            fire = {"schedule_id": self.row.id, "scheduled_at": at, "outcome": "buffered", "at": self.now}
            waits = f"overlap: waits for the previous job {self.last_job} ({active}) to end"
            if await repo.claim(self.uow.conn, {**fire, "reason": waits}):
                self.buffered = at
                self.report.buffered += 1
        elif policy == "buffer_one":
            await self._skip(at, f"overlap: {previous}, and the time {iso(self.buffered or at)} already waits for it")
        else:
            await self._skip(at, f"overlap: {previous}")

    async def _cancel_previous(self) -> None:
        assert self.last_job is not None
        try:
            await jobs.cancel(self.uow, self.ctx, str(self.last_job), actor=caller_of(self.row.id))
            self.report.canceled += 1
        except (JobEnded, NotFound):  # it ended (or was deleted) meanwhile
            pass

    async def _create(self, at: datetime, *, buffered: bool = False) -> None:
        """Make the job of the time `at` with its fire (a buffered time's fire becomes `created`); recorded as
        skipped, with why, when it cannot be made."""
        if self.target is None:
            self.target = await resolve(self.uow, self.ctx, self.row)
        if isinstance(self.target, str):
            await self._skip(at, self.target, buffered=buffered)
            return
        conn = self.uow.conn
        try:
            async with conn.begin_nested():
                if buffered:
                    fire_id = await repo.retake(
                        conn, self.row.id, at, "buffered", {"outcome": "created", "at": self.now, "reason": None}
                    )
                else:
                    fire = {"schedule_id": self.row.id, "scheduled_at": at, "outcome": "created", "at": self.now}
                    fire_id = await repo.claim(conn, fire)
                if fire_id is None:
                    return  # the time has a fire already (a backfill's): it is not run twice
                created = await intake.create(self.uow, self.ctx, spec_of(self.row, self.target, at, self.ctx))
                await repo.set_fire(conn, fire_id, {"job_id": created.job_id})
        except ServiceError as exc:
            await self._skip(at, f"not run: {exc}", buffered=buffered)
            return
        self.last_job, self.last_run = created.job_id, at
        self.report.created += 1

    async def _skip(self, at: datetime, reason: str, *, buffered: bool = False) -> None:
        conn = self.uow.conn
        if buffered:
            await repo.retake(
                conn, self.row.id, at, "buffered", {"outcome": "skipped", "at": self.now, "reason": reason}
            )
        else:
            fire = {"schedule_id": self.row.id, "scheduled_at": at, "outcome": "skipped", "reason": reason}
            await repo.claim(conn, {**fire, "at": self.now})
        self.report.skipped += 1
