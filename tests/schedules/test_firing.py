"""The firing pass, driven by a clock of the test's own, on PostgreSQL and on the embedded SQLite: one job per time,
catch-up after an outage, the overlap policies, the version each run takes, and what cannot run."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import default_ref
from tests.jobs.conftest import GREETER
from tests.schedules.conftest import ADA, Scheduler, end_job, utc
from workflow_service.core.db import unit_of_work
from workflow_service.jobs import deletion
from workflow_service.jobs.states import JobStatus
from workflow_service.models import WorkflowVersion
from workflow_service.schedules.firing import COUNT_CAP, MAX_TIMES
from workflow_service.workflows import service as workflows
from workflow_service.workflows.schemas import DraftUpdate

T0 = utc(2030, 1, 1)
"""When the schedules start: after their creation, so that their first time is T0."""
SECOND, MINUTE = timedelta(seconds=1), timedelta(minutes=1)
version_t: sa.Table = WorkflowVersion.__table__  # type: ignore[assignment]


async def test_a_time_that_has_come_becomes_one_job_with_its_fire(scheduler: Scheduler) -> None:
    schedule = await scheduler.create(name="five", cron="*/5 * * * *", start_at=T0.isoformat(), overlap="allow_all")
    assert schedule.next_run_at == T0
    assert (await scheduler.fire(T0 - SECOND)).created == 0
    assert (await scheduler.fire(T0 + SECOND)).created == 1

    [job] = await scheduler.jobs(schedule)
    assert (job.origin, job.caller, job.status, job.name) == ("schedule", f"schedule:{schedule.id}", "pending", "five")
    assert (job.inputs, job.version_number) == (ADA, 1)
    assert job.metadata == {"schedule_id": str(schedule.id), "scheduled_at": "2030-01-01T00:00:00Z"}
    [fire] = await scheduler.fires(schedule)
    assert (fire.scheduled_at, fire.outcome, fire.job_id, fire.at, fire.reason) == (
        T0,
        "created",
        job.id,
        T0 + SECOND,
        None,
    )
    row = await scheduler.row(schedule)
    assert (row.next_run_at, row.last_run_at, row.last_job_id) == (T0 + 5 * MINUTE, T0, job.id)

    assert (await scheduler.fire(T0 + 2 * SECOND)).created == 0  # a time runs once
    assert (await scheduler.fire(T0 + 5 * MINUTE)).created == 1
    assert [f.scheduled_at for f in await scheduler.fires(schedule)] == [T0, T0 + 5 * MINUTE]


async def test_times_missed_in_the_catch_up_window_run_late_and_older_ones_are_skipped_in_one_fire(
    scheduler: Scheduler,
) -> None:
    schedule = await scheduler.create(cron="* * * * *", start_at=T0.isoformat(), overlap="allow_all", catchup_s=600)
    now = T0 + timedelta(hours=3, seconds=30)  # every process was down for three hours
    report = await scheduler.fire(now)

    skipped, *created = await scheduler.fires(schedule)
    assert (skipped.scheduled_at, skipped.outcome, skipped.job_id) == (T0, "skipped", None)
    assert skipped.reason == (
        "missed: 171 scheduled time(s) from 2030-01-01T00:00:00Z to before 2030-01-01T02:50:30Z passed while no "
        "worker ran, longer ago than the catch-up window (600 s)"
    )
    late = [T0 + timedelta(hours=2, minutes=m) for m in range(51, 61)]
    assert [(f.scheduled_at, f.outcome) for f in created] == [(at, "created") for at in late]
    assert len(await scheduler.jobs(schedule)) == 10
    assert (report.created, report.skipped) == (10, 1)
    assert (await scheduler.row(schedule)).next_run_at == T0 + timedelta(hours=3, minutes=1)


async def test_a_long_outage_of_a_per_second_schedule_leaves_one_row_for_what_it_missed(scheduler: Scheduler) -> None:
    schedule = await scheduler.create(interval=1, start_at=T0.isoformat())  # the default window: an hour
    await scheduler.fire(T0 + timedelta(days=30))

    missed, *handled = await scheduler.fires(schedule)
    assert missed.reason.startswith(f"missed: more than {COUNT_CAP} scheduled time(s) from 2030-01-01T00:00:00Z")
    assert len(handled) == MAX_TIMES  # a pass handles at most this many; the next goes on from there
    window_start = T0 + timedelta(days=30) - timedelta(hours=1)
    assert handled[0].scheduled_at == window_start
    assert [f.outcome for f in handled] == ["created"] + ["skipped"] * (MAX_TIMES - 1)  # overlap: skip
    assert handled[1].reason.startswith("overlap: the previous job")
    assert (await scheduler.row(schedule)).next_run_at == window_start + MAX_TIMES * SECOND


async def test_a_missed_count_is_exact_below_the_cap(scheduler: Scheduler) -> None:
    schedule = await scheduler.create(interval=60, start_at=T0.isoformat(), catchup_s=0)
    await scheduler.fire(T0 + timedelta(days=1, seconds=0.2))  # the window is never less than 3 passes (1.5 s)
    missed, ran = await scheduler.fires(schedule)
    assert missed.reason.startswith("missed: 1440 scheduled time(s)")
    assert (ran.scheduled_at, ran.outcome) == (T0 + timedelta(days=1), "created")


async def test_overlap_skip(scheduler: Scheduler) -> None:
    schedule = await scheduler.create(cron="* * * * *", start_at=T0.isoformat())
    await scheduler.fire(T0)
    [first] = await scheduler.jobs(schedule)
    await scheduler.fire(T0 + MINUTE)
    _, skipped = await scheduler.fires(schedule)
    assert (skipped.outcome, skipped.reason) == ("skipped", f"overlap: the previous job {first.id} was still pending")

    await end_job(scheduler.ctx, first.id, JobStatus.CANCELED)
    await scheduler.fire(T0 + 2 * MINUTE)
    assert [f.outcome for f in await scheduler.fires(schedule)] == ["created", "skipped", "created"]


async def test_overlap_buffer_one_runs_one_waiting_time_once_the_previous_job_ends(scheduler: Scheduler) -> None:
    schedule = await scheduler.create(cron="* * * * *", start_at=T0.isoformat(), overlap="buffer_one")
    await scheduler.fire(T0)
    [first] = await scheduler.jobs(schedule)
    await scheduler.fire(T0 + MINUTE)
    await scheduler.fire(T0 + 2 * MINUTE)
    _, buffered, skipped = await scheduler.fires(schedule)
    assert (buffered.scheduled_at, buffered.outcome, buffered.job_id) == (T0 + MINUTE, "buffered", None)
    assert skipped.reason == (
        f"overlap: the previous job {first.id} was still pending, and the time 2030-01-01T00:01:00Z already "
        "waits for it"
    )
    assert (await scheduler.row(schedule)).buffered_at == T0 + MINUTE
    assert (await scheduler.fire(T0 + 2 * MINUTE + SECOND)).created == 0  # still running: it waits

    await end_job(scheduler.ctx, first.id)
    report = await scheduler.fire(T0 + 2 * MINUTE + 2 * SECOND)
    assert report.created == 1
    _, ran, _ = await scheduler.fires(schedule)
    [_, second] = await scheduler.jobs(schedule)
    assert (ran.outcome, ran.job_id, ran.at) == ("created", second.id, T0 + 2 * MINUTE + 2 * SECOND)
    assert second.metadata["scheduled_at"] == "2030-01-01T00:01:00Z"
    row = await scheduler.row(schedule)
    assert (row.buffered_at, row.last_job_id, row.last_run_at) == (None, second.id, T0 + MINUTE)


async def test_overlap_allow_all_and_cancel_other(scheduler: Scheduler) -> None:
    every = await scheduler.create(cron="* * * * *", start_at=T0.isoformat(), overlap="allow_all")
    canceling = await scheduler.create(cron="* * * * *", start_at=T0.isoformat(), overlap="cancel_other")
    await scheduler.fire(T0)
    report = await scheduler.fire(T0 + MINUTE)
    assert (report.created, report.canceled) == (2, 1)
    assert [j.status for j in await scheduler.jobs(every)] == ["pending", "pending"]
    canceled, running = await scheduler.jobs(canceling)
    assert (canceled.status, running.status) == ("canceled", "pending")
    assert canceled.error["message"] == f"canceled by schedule:{canceling.id}"
    assert [f.outcome for f in await scheduler.fires(canceling)] == ["created", "created"]


async def test_current_follows_deploys_and_a_number_stays(scheduler: Scheduler) -> None:
    current = await scheduler.create(cron="* * * * *", start_at=T0.isoformat(), overlap="allow_all")
    pinned = await scheduler.create(cron="* * * * *", start_at=T0.isoformat(), overlap="allow_all", version=1)
    await _redeploy(scheduler, {**GREETER, "variables": {"greeting": "Hi"}})
    await scheduler.fire(T0)
    assert [j.version_number for j in await scheduler.jobs(current)] == [2]
    assert [j.version_number for j in await scheduler.jobs(pinned)] == [1]


async def test_what_cannot_run_is_skipped_with_why_and_the_others_run(scheduler: Scheduler) -> None:
    broken = await scheduler.create(cron="* * * * *", start_at=T0.isoformat(), overlap="allow_all")
    pinned = await scheduler.create(cron="* * * * *", start_at=T0.isoformat(), overlap="allow_all", version=1)
    needs_city = {**GREETER, "input_schema": {**GREETER["input_schema"], "required": ["name", "city"]}}
    await _redeploy(scheduler, needs_city)
    report = await scheduler.fire(T0)
    assert (report.created, report.skipped) == (1, 1)
    [skipped] = await scheduler.fires(broken)
    assert skipped.outcome == "skipped"
    assert skipped.reason.startswith("not run: $.inputs.city: 'city' is a required property")
    assert [f.outcome for f in await scheduler.fires(pinned)] == ["created"]

    gone = await scheduler.create(
        cron="* * * * *", start_at=T0.isoformat(), version=2, inputs={"name": "Ada", "city": "Paris"}
    )
    async with scheduler.engine.begin() as conn:  # its version disappears (only the database can do that)
        await conn.execute(version_t.delete().where(version_t.c.number == 2))
    await scheduler.fire(T0 + MINUTE)
    lost = await scheduler.fires(gone)
    assert [(f.scheduled_at, f.outcome, f.reason) for f in lost] == [
        (at, "skipped", "not run: workflow 'greeter' has no version 2") for at in (T0, T0 + MINUTE)
    ]
    assert len(await scheduler.jobs(pinned)) == 2  # the loop went on


async def test_pause_after_a_failed_run(
    scheduler: Scheduler,
) -> None:
    pausing = await scheduler.create(cron="* * * * *", start_at=T0.isoformat(), pause_after_failure=True)
    going_on = await scheduler.create(cron="* * * * *", start_at=T0.isoformat())
    await scheduler.fire(T0)
    [failed] = await scheduler.jobs(pausing)
    [other] = await scheduler.jobs(going_on)
    await end_job(scheduler.ctx, failed.id)
    await end_job(scheduler.ctx, other.id)

    row = await scheduler.row(pausing)
    assert (row.paused, row.paused_reason) == (True, f"paused after its job {failed.id} failed")
    assert not (await scheduler.row(going_on)).paused
    report = await scheduler.fire(T0 + MINUTE)
    assert report.created == 1  # only the one still running
    async with scheduler.engine.connect() as conn:
        entry = (await conn.execute(sa.text("SELECT * FROM audit_entry WHERE action = 'schedule.paused'"))).one()
    assert (entry.actor, entry.target_id, uuid.UUID(str(entry.workflow_id))) == (
        "system",
        str(pausing.id),
        pausing.workflow.id,
    )


async def test_a_canceled_run_does_not_pause(scheduler: Scheduler) -> None:
    schedule = await scheduler.create(cron="* * * * *", start_at=T0.isoformat(), pause_after_failure=True)
    await scheduler.fire(T0)
    [job] = await scheduler.jobs(schedule)
    await end_job(scheduler.ctx, job.id, JobStatus.CANCELED)
    assert not (await scheduler.row(schedule)).paused


async def test_passes_racing_make_one_job_per_time(scheduler: Scheduler) -> None:
    schedules = [
        await scheduler.create(cron="* * * * *", start_at=T0.isoformat(), overlap="allow_all") for _ in range(3)
    ]
    now = T0 + 20 * MINUTE
    reports = await asyncio.gather(*(scheduler.fire(now) for _ in range(4)))
    assert sum(r.created for r in reports) == 3 * 21
    for schedule in schedules:
        times = [j.metadata["scheduled_at"] for j in await scheduler.jobs(schedule)]
        assert len(times) == len(set(times)) == 21


async def test_deleting_the_workflow_deletes_its_schedules(scheduler: Scheduler) -> None:
    schedule = await scheduler.create(cron="* * * * *", start_at=T0.isoformat())
    await scheduler.fire(T0)
    async with unit_of_work(scheduler.engine) as uow:
        await deletion.delete_workflow(uow, scheduler.ctx, default_ref("greeter"), actor="admin", cancel_active=True)
    assert await scheduler.fires(schedule) == []
    async with scheduler.engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM schedule"))).scalar() == 0
    assert (await scheduler.fire(T0 + MINUTE)).created == 0


async def _redeploy(scheduler: Scheduler, definition: dict[str, Any]) -> None:
    async with unit_of_work(scheduler.engine) as uow:
        await workflows.update_draft(uow.conn, default_ref("greeter"), DraftUpdate(definition=definition), "")
        await workflows.deploy(uow.conn, default_ref("greeter"), "")


async def test_a_pass_and_the_workflow_deletion_at_once_do_not_deadlock(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    await scheduler.create(cron="* * * * *", start_at=T0.isoformat(), overlap="allow_all")

    async def delete() -> None:
        async with unit_of_work(scheduler.engine) as uow:
            await deletion.delete_workflow(
                uow, scheduler.ctx, default_ref("greeter"), actor="admin", cancel_active=True
            )

    with caplog.at_level(logging.WARNING, logger="workflow_service.schedules.firing"):
        await asyncio.gather(scheduler.fire(T0 + 99 * MINUTE), delete())  # a pass of 100 jobs, or none
    assert [r.getMessage() for r in caplog.records] == []
    async with scheduler.engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM job"))).scalar() == 0
