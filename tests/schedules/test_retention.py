"""The record of a schedule's times goes with its workflow's retention, on PostgreSQL and on SQLite."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import default_ref
from tests.schedules.conftest import Scheduler, utc
from workflow_service.jobs.retention import Sweep, sweep
from workflow_service.workflows import repository as workflow_repo

T0 = utc(2030, 1, 1)
DAY = timedelta(days=1)


async def test_fires_older_than_the_retention_are_deleted_with_the_jobs(scheduler: Scheduler) -> None:
    kept_forever = await scheduler.create(cron="0 0 * * *", start_at=T0.isoformat(), overlap="allow_all")
    for day in range(4):
        await scheduler.fire(T0 + day * DAY)
    assert len(await scheduler.fires(kept_forever)) == 4
    assert (await sweep(scheduler.engine, Sweep(now=T0 + 4 * DAY, pause_s=0))).fires == 0  # no retention set

    async with scheduler.engine.begin() as conn:
        workflow = await workflow_repo.get(conn, default_ref("greeter"))
        assert workflow is not None
        await workflow_repo.set_settings(conn, workflow.id, {"retention_days": 2})
    report = await sweep(scheduler.engine, Sweep(now=T0 + 3 * DAY + timedelta(hours=1), pause_s=0))
    assert report.fires == 2
    assert [f.scheduled_at for f in await scheduler.fires(kept_forever)] == [T0 + 2 * DAY, T0 + 3 * DAY]
