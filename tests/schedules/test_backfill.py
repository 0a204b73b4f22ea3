"""Backfill: the times of a past interval run once each, through the same unique key as the schedule's own runs, on
PostgreSQL and on SQLite; what is refused, through the API."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.jobs.conftest import GREETER, deploy_workflow
from tests.schedules.conftest import Scheduler, make_schedule, utc
from tests.workflows.conftest import assert_problem

T0 = utc(2030, 1, 1)
HOUR = timedelta(hours=1)


async def test_a_backfill_runs_each_past_time_once(scheduler: Scheduler) -> None:
    schedule = await scheduler.create(cron="0 * * * *", start_at=T0.isoformat(), overlap="allow_all", catchup_s=0)
    await scheduler.fire(T0 + 5 * HOUR + timedelta(seconds=1))  # an outage: 00:00 to 04:00 skipped, 05:00 ran
    missed, ran = await scheduler.fires(schedule)
    assert (missed.outcome, ran.outcome) == ("skipped", "created")

    now = T0 + 6 * HOUR
    first = await scheduler.backfill(schedule, T0 - 2 * HOUR, T0 + 5 * HOUR, now)
    # before its start too: the backfill names its interval; 05:00 had run already
    assert (first.created, first.already_run) == (7, 1)
    assert [(t.scheduled_at, t.outcome) for t in first.times] == [
        (T0 + h * HOUR, "already_run" if h == 5 else "created") for h in range(-2, 6)
    ]
    assert first.times[7].job_id == ran.job_id
    again = await scheduler.backfill(schedule, T0, T0 + 5 * HOUR, now)
    assert (again.created, again.already_run) == (0, 6)

    recorded = await scheduler.fires(schedule)
    assert [f.scheduled_at for f in recorded] == [T0 + h * HOUR for h in range(-2, 6)]
    assert all(f.outcome == "created" and f.job_id is not None for f in recorded)
    assert [f.backfill for f in recorded] == [True] * 7 + [False]  # the skipped 00:00 ran: its fire is the backfill's
    jobs = await scheduler.jobs(schedule)
    assert len(jobs) == 8
    assert sorted(j.metadata["scheduled_at"] for j in jobs) == sorted({j.metadata["scheduled_at"] for j in jobs})
    assert all(j.metadata.get("backfill") for j in jobs if j.id != ran.job_id)
    row = await scheduler.row(schedule)
    assert (row.last_run_at, row.last_job_id) == (T0 + 5 * HOUR, ran.job_id)  # a backfill is not its last run


async def test_the_schedule_does_not_run_again_a_time_a_backfill_ran(scheduler: Scheduler) -> None:
    schedule = await scheduler.create(cron="0 * * * *", start_at=T0.isoformat(), overlap="allow_all")
    await scheduler.backfill(schedule, T0, T0 + HOUR, now=T0 + HOUR + timedelta(seconds=1))
    report = await scheduler.fire(T0 + HOUR + timedelta(seconds=2))
    assert report.created == 0
    assert len(await scheduler.jobs(schedule)) == 2
    assert (await scheduler.row(schedule)).next_run_at == T0 + 2 * HOUR


@pytest.fixture
async def scheduled(client: httpx.AsyncClient) -> dict[str, Any]:
    await deploy_workflow(client, "greeter", GREETER)
    return await make_schedule(client, cron="* * * * *")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"from": "2026-01-01T00:00:00Z", "to": "2025-12-31T00:00:00Z"}, "`to` is before `from`"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2099-01-01T00:00:00Z"}, "`to` is in the future"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}, "more than 1000 scheduled times"),
        ({"from": "2026-01-01T00:00:00", "to": "2026-01-01T01:00:00Z"}, None),
        ({"to": "2026-01-01T01:00:00Z"}, None),
    ],
)
async def test_refused_backfills(
    client: httpx.AsyncClient, scheduled: dict[str, Any], body: dict[str, Any], message: str | None
) -> None:
    response = await client.post(f"/v1/workflows/greeter/schedules/{scheduled['id']}/backfill", json=body)
    assert response.status_code == 422, response.text
    if message is not None:
        assert message in assert_problem(response, 422, "invalid_input")["detail"]
    assert (await client.get(f"/v1/workflows/greeter/schedules/{scheduled['id']}")).json()["recent"] == []


async def test_a_backfill_through_the_api(client: httpx.AsyncClient, scheduled: dict[str, Any]) -> None:
    url = f"/v1/workflows/greeter/schedules/{scheduled['id']}"
    body = {"from": "2026-06-01T10:00:00+02:00", "to": "2026-06-01T08:02:30Z"}
    done = await client.post(f"{url}/backfill", json=body)
    assert done.status_code == 200, done.text
    assert [t["scheduled_at"] for t in done.json()["times"]] == [f"2026-06-01T08:0{m}:00Z" for m in range(3)]
    shown = (await client.get(url)).json()
    assert [(f["scheduled_at"], f["outcome"], f["backfill"]) for f in shown["recent"]] == [
        (f"2026-06-01T08:0{m}:00Z", "created", True) for m in (2, 1, 0)
    ]
    job = (await client.get(f"/v1/jobs/{shown['recent'][0]['job_id']}")).json()
    assert (job["origin"], job["metadata"]["backfill"]) == ("schedule", True)


async def test_a_backfill_and_the_workflow_deletion_at_once_do_not_deadlock(
    client: httpx.AsyncClient, scheduled: dict[str, Any]
) -> None:
    url = f"/v1/workflows/greeter/schedules/{scheduled['id']}/backfill"
    body = {"from": "2026-06-01T00:00:00Z", "to": "2026-06-01T08:00:00Z"}  # 481 times: a while
    backfilled, deleted = await asyncio.gather(
        client.post(url, json=body), client.delete("/v1/workflows/greeter?cancel_active=true")
    )
    assert deleted.status_code == 204, deleted.text
    assert backfilled.status_code in (200, 404), backfilled.text  # before the deletion, or after it
    assert (await client.get("/v1/workflows/greeter")).status_code == 404
