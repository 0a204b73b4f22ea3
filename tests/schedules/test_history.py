"""`history_items`: the workflow's schedules in the trigger history's shape, on PostgreSQL and on SQLite."""

from __future__ import annotations

from datetime import timedelta

from tests.schedules.conftest import Scheduler, end_job, utc
from workflow_service.jobs.states import JobStatus
from workflow_service.schedules.history import history_items

T0 = utc(2030, 1, 1)
KEYS = {
    "kind", "id", "name", "description", "provider", "set_up_at", "last_run_at", "next_run_at", "frequency",
    "timezone", "start_at", "end_at", "paused", "recent",
}  # fmt: skip


async def test_the_schedules_as_trigger_history_items(scheduler: Scheduler) -> None:
    nightly = await scheduler.create(
        name="nightly", description="greets", cron="30 2 * * *", timezone="Europe/Berlin", start_at=T0.isoformat()
    )
    minutely = await scheduler.create(cron="* * * * *", start_at=T0.isoformat(), end_at="2031-01-01T00:00:00Z")
    await scheduler.fire(T0)
    [job] = await scheduler.jobs(minutely)
    await end_job(scheduler.ctx, job.id, JobStatus.CANCELED)
    for minute in (1, 2):
        await scheduler.fire(T0 + timedelta(minutes=minute))
    async with scheduler.engine.connect() as conn:
        items = await history_items(conn, nightly.workflow.id, recent=1)

    first, second = items
    assert set(first) == set(second) == KEYS
    assert {k: first[k] for k in KEYS - {"set_up_at", "recent"}} == {
        "kind": "schedule",
        "id": nightly.id,
        "name": "nightly",
        "description": "greets",
        "provider": "schedule",
        "last_run_at": None,
        "next_run_at": utc(2030, 1, 1, 1, 30),  # 02:30 CET
        "frequency": "At 02:30, every day (Europe/Berlin)",
        "timezone": "Europe/Berlin",
        "start_at": T0,
        "end_at": None,
        "paused": False,
    }
    assert (first["set_up_at"], first["recent"]) == (nightly.created_at, [])
    [latest] = second["recent"]  # one: `recent=1`, the newest
    [_, second_job] = await scheduler.jobs(minutely)
    assert latest == {"at": T0 + timedelta(minutes=2), "outcome": "skipped", "job_id": None, "reason": latest["reason"]}
    assert latest["reason"] == f"overlap: the previous job {second_job.id} was still pending"
    assert (second["last_run_at"], second["end_at"]) == (T0 + timedelta(minutes=1), utc(2031, 1, 1))
    async with scheduler.engine.connect() as conn:
        assert len((await history_items(conn, nightly.workflow.id))[1]["recent"]) == 3
