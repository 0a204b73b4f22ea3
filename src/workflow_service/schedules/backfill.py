"""Backfill: run the scheduled times of a past interval, each through its fire's unique key, so that a time already
run (by the schedule itself or an earlier backfill) is not run again. A time recorded as skipped (missed, paused,
overlap) is run, its fire becoming `created`.

The times are those the cron expression or interval gives in [from, to], whether or not they fall within the
schedule's start and end (the request names its interval itself), at most BACKFILL_LIMIT of them (422 over it).
They run whatever the overlap policy and even while the schedule is paused: a backfill asks for every one of them.
All of them are made in one transaction, or none (422 when the inputs no longer match the version).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workflow_service.context import Context
from workflow_service.core.clock import utcnow
from workflow_service.core.db import UnitOfWork
from workflow_service.errors import Conflict, InvalidInput
from workflow_service.jobs import intake
from workflow_service.schedules import repository as repo
from workflow_service.schedules.firing import resolve, spec_of
from workflow_service.schedules.reads import iso
from workflow_service.schedules.schemas import BackfillRequest, BackfillResult, BackfillTime, ScheduleRead
from workflow_service.schedules.service import ScheduleRef, find, read
from workflow_service.schedules.timing import Timing

BACKFILL_LIMIT = 1000
"""Scheduled times one backfill may run."""


@dataclass(frozen=True, slots=True)
class Backfilled:
    schedule: ScheduleRead
    result: BackfillResult


async def backfill(
    uow: UnitOfWork, ctx: Context, ref: ScheduleRef, data: BackfillRequest, *, now: datetime | None = None
) -> Backfilled:
    """Run the schedule's times in [data.from_, data.to] that have not run (see the module docstring)."""
    now = now or utcnow()
    if data.to < data.from_:
        raise InvalidInput("`to` is before `from`", errors=[{"path": "$.to", "message": "before `from`"}])
    if data.to > now:
        raise InvalidInput(
            f"`to` is in the future ({iso(data.to)} is after {iso(now)}): a backfill runs past times only",
            errors=[{"path": "$.to", "message": "in the future"}],
        )
    found = await find(uow.conn, ref, for_update=True)  # a firing pass skips it meanwhile
    row = found.row
    times = Timing.of(row).times(data.from_, data.to, BACKFILL_LIMIT, bounded=False)
    if len(times) > BACKFILL_LIMIT:
        raise InvalidInput(
            f"more than {BACKFILL_LIMIT} scheduled times fall between {iso(data.from_)} and {iso(data.to)}; backfill "
            "a shorter interval",
            errors=[{"path": "$.to", "message": f"more than {BACKFILL_LIMIT} scheduled times"}],
        )
    target = await resolve(uow, ctx, row) if times else None
    if isinstance(target, str):
        raise Conflict(f"the schedule cannot run now: {target.removeprefix('not run: ')}")
    fires = await repo.fires_at(uow.conn, row.id, times)
    done: list[BackfillTime] = []
    for at in times:
        fire = fires.get(at)
        if fire is not None and fire.outcome != "skipped":
            done.append(BackfillTime(scheduled_at=at, outcome="already_run", job_id=fire.job_id))
            continue
        values = {"outcome": "created", "reason": None, "at": now, "backfill": True}
        if fire is not None:  # run a time that was skipped
            fire_id = await repo.retake(uow.conn, row.id, at, "skipped", values)
        else:
            fire_id = await repo.claim(uow.conn, {**values, "schedule_id": row.id, "scheduled_at": at})
        assert fire_id is not None, "the schedule's row is locked: no one else records its times meanwhile"
        assert target is not None
        created = await intake.create(uow, ctx, spec_of(row, target, at, ctx, backfill=True))
        await repo.set_fire(uow.conn, fire_id, {"job_id": created.job_id})
        done.append(BackfillTime(scheduled_at=at, outcome="created", job_id=created.job_id))
    made = sum(1 for time in done if time.outcome == "created")
    result = BackfillResult(created=made, already_run=len(done) - made, times=done)
    return Backfilled(await read(uow.conn, found.workflow, row.id), result)
