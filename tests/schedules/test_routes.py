"""The schedule routes through the API on PostgreSQL: what a schedule shows, what is refused and where, changes,
pause and resume, deletion."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import BASE_URL
from tests.jobs.conftest import GREETER, deploy_workflow, direct_context
from tests.schedules.conftest import ADA, fires, make_schedule, schedule_t, utc
from tests.workflows.conftest import assert_problem
from workflow_service.schedules.firing import fire_due

S = "/v1/workflows/greeter/schedules"
START = "2030-03-30T12:00:00+02:00"


@pytest.fixture
async def greeter(client: httpx.AsyncClient) -> dict[str, Any]:
    return await deploy_workflow(client, "greeter", GREETER)


def paths(response: httpx.Response) -> list[str]:
    """Where a 422 says the request is wrong: by the service's checks (`invalid_input`) or the body's."""
    code = response.json().get("code")
    assert code in ("invalid_input", "invalid_request"), response.text
    return [e["path"] for e in assert_problem(response, 422, code)["errors"]]


async def test_a_schedule_shows_its_frequency_and_next_run_in_utc_and_in_its_zone(
    client: httpx.AsyncClient, greeter: dict[str, Any]
) -> None:
    body = {"cron": "30 2 * * *", "timezone": "Europe/Berlin", "start_at": START, "inputs": ADA}
    response = await client.post(S, json={**body, "description": "nightly greeting"})
    assert response.status_code == 201, response.text
    made = response.json()
    assert response.headers["Location"] == f"{BASE_URL}{S}/{made['id']}"
    assert made["frequency"] == made["name"] == "At 02:30, every day (Europe/Berlin)"
    # 31 March 2030 is the day Berlin skips 02:00-03:00: its 02:30 runs once, at 03:30 CEST
    assert made["next_run_at"] == "2030-03-31T01:30:00Z"
    assert made["next_run_local"] == "2030-03-31T03:30:00+02:00"
    assert made["workflow"] == {"id": greeter["id"], "slug": "greeter"}
    expected: dict[str, Any] = {
        "description": "nightly greeting",
        "cron": "30 2 * * *",
        "interval_s": None,
        "timezone": "Europe/Berlin",
        "start_at": "2030-03-30T10:00:00Z",
        "end_at": None,
        "version": "current",
        "inputs": ADA,
        "variables": {},
        "overlap": "skip",
        "pause_after_failure": False,
        "catchup_s": None,
        "paused": False,
        "last_run_at": None,
        "last_job_id": None,
        "buffered_at": None,
        "created_by": "admin",
        "recent": [],
    }
    assert {k: made[k] for k in expected} == expected
    assert (await client.get(f"{S}/{made['id']}")).json() == made
    every = await make_schedule(client, interval="PT15M", name="quarterly", version=1, start_at=START)
    assert (every["interval_s"], every["frequency"], every["version"]) == (900, "Every 15 minutes", 1)
    assert every["next_run_at"] == "2030-03-30T10:00:00Z"
    listed = (await client.get(S)).json()["items"]
    assert [s["id"] for s in listed] == [made["id"], every["id"]]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"cron": "0 * * * *", "timezone": "Mars/Olympus"}, ["$.timezone"]),
        ({"cron": "0 * * * *", "interval": 60}, ["$.cron", "$.interval"]),
        ({}, ["$.cron", "$.interval"]),
        ({"cron": "0 * * * * *"}, ["$.cron"]),
        ({"cron": "0 0 31 2 *"}, ["$.cron"]),
        ({"interval": "P1M"}, ["$.interval"]),
        ({"interval": 0}, ["$.interval"]),
        ({"interval": 60, "inputs": {}}, ["$.inputs.name"]),
        ({"interval": 60, "inputs": {"name": 5}}, ["$.inputs.name"]),
        ({"interval": 60, "variables": {"nope": 1}}, ["$.variables.nope"]),
        ({"interval": 60, "version": 9}, ["$.version"]),
        ({"interval": 60, "version": "latest"}, ["$.version"]),
        ({"interval": 60, "version": 0}, ["$.version"]),
        ({"interval": 60, "start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"}, ["$.end_at"]),
        ({"interval": 60, "end_at": "2020-01-01T00:00:00Z"}, ["$.end_at"]),
        ({"interval": 60, "start_at": "2030-01-01T00:00:00"}, ["$.start_at"]),
        ({"interval": 60, "overlap": "queue"}, ["$.overlap"]),
        ({"interval": 60, "catchup_s": -1}, ["$.catchup_s"]),
        ({"interval": 60, "every": "day"}, ["$.every"]),
    ],
)
async def test_bad_schedules_are_refused_naming_the_field(
    client: httpx.AsyncClient, greeter: dict[str, Any], engine: AsyncEngine, body: dict[str, Any], where: list[str]
) -> None:
    response = await client.post(S, json={"inputs": ADA, **body})
    assert paths(response) == where
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(schedule_t))).scalar() == 0


async def test_a_workflow_never_deployed_has_no_schedules_and_missing_ones_are_404(client: httpx.AsyncClient) -> None:
    await client.post("/v1/workflows", json={"name": "draft", "definition": GREETER})
    refused = await client.post("/v1/workflows/draft/schedules", json={"interval": 60, "inputs": ADA})
    assert_problem(refused, 409, "not_deployed")
    assert_problem(await client.post("/v1/workflows/missing/schedules", json={"interval": 60}), 404, "not_found")
    await deploy_workflow(client, "greeter", GREETER)
    made = await make_schedule(client, interval=60)
    for url in (f"{S}/{uuid.uuid4()}", f"{S}/not-an-id", f"/v1/workflows/draft/schedules/{made['id']}"):
        assert_problem(await client.get(url), 404, "not_found")
        assert_problem(await client.post(f"{url}/pause"), 404, "not_found")
    assert (await client.get(f"{S}/{made['id']}")).status_code == 200


async def test_changing_a_schedule(client: httpx.AsyncClient, greeter: dict[str, Any]) -> None:
    made = await make_schedule(client, cron="0 9 * * *", start_at=START)
    url = f"{S}/{made['id']}"
    moved = await client.patch(url, json={"cron": "0 18 * * *", "timezone": "America/New_York"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["frequency"], moved.json()["next_run_at"]) == (
        "At 18:00, every day (America/New_York)",
        "2030-03-30T22:00:00Z",
    )
    switched = (await client.patch(url, json={"interval": 3600})).json()
    assert (switched["cron"], switched["interval_s"], switched["next_run_at"]) == (None, 3600, "2030-03-30T10:00:00Z")
    renamed = (await client.patch(url, json={"name": "hourly", "description": None, "catchup_s": 60})).json()
    assert (renamed["name"], renamed["catchup_s"], renamed["next_run_at"]) == ("hourly", 60, switched["next_run_at"])
    assert (await client.patch(url, json={"name": "hourly"})).json() == renamed  # the same again: nothing changes

    for body, where in (
        ({"name": None}, ["$.name"]),
        ({"pause_after_failure": None}, ["$.pause_after_failure"]),
        ({"overlap": None}, ["$.overlap"]),
        ({"interval": None}, ["$.cron", "$.interval"]),
        ({"cron": "0 * * * *", "interval": 60}, ["$.cron", "$.interval"]),
        ({"inputs": {"name": 1}}, ["$.inputs.name"]),
        ({"version": 2}, ["$.version"]),
        ({"timezone": "Nowhere/Land"}, ["$.timezone"]),
    ):
        assert paths(await client.patch(url, json=body)) == where, body
    assert (await client.get(url)).json() == renamed  # nothing of the refused changes was stored


async def test_pause_resume_and_the_times_that_passed_while_paused(
    client: httpx.AsyncClient, greeter: dict[str, Any], engine: AsyncEngine
) -> None:
    day_ago = datetime.now(UTC) - timedelta(days=1) + timedelta(seconds=30)
    made = await make_schedule(client, interval=60, start_at=day_ago.isoformat())
    url = f"{S}/{made['id']}"
    paused = (await client.post(f"{url}/pause")).json()
    assert (paused["paused"], paused["next_run_at"], paused["paused_reason"]) == (True, None, "paused by admin")
    assert (await client.post(f"{url}/pause")).json() == paused  # already paused: as it was
    async with engine.begin() as conn:  # as if it had been paused since its start, a day ago
        await conn.execute(schedule_t.update().values(next_run_at=day_ago))
    resumed = (await client.post(f"{url}/resume")).json()
    assert (resumed["paused"], resumed["paused_at"], resumed["paused_reason"]) == (False, None, None)
    assert datetime.fromisoformat(resumed["next_run_at"]) > datetime.now(UTC)
    [skipped] = resumed["recent"]
    assert skipped["outcome"] == "skipped"
    assert skipped["reason"].startswith("paused: 1440 scheduled time(s) from ")
    assert (await client.post(f"{url}/resume")).json() == resumed


async def test_deleting_a_schedule_keeps_its_jobs(
    client: httpx.AsyncClient, greeter: dict[str, Any], engine: AsyncEngine
) -> None:
    made = await make_schedule(client, interval=60, start_at="2030-01-01T00:00:00Z")
    async with direct_context(engine) as ctx:
        await fire_due(ctx, now=utc(2030, 1, 1, 0, 0, 1))
    shown = (await client.get(f"{S}/{made['id']}")).json()
    [fire] = shown["recent"]
    assert (fire["outcome"], fire["job_status"], fire["scheduled_at"]) == ("created", "pending", "2030-01-01T00:00:00Z")
    assert (shown["last_run_at"], shown["last_job_id"]) == ("2030-01-01T00:00:00Z", fire["job_id"])
    job = (await client.get(f"/v1/jobs/{fire['job_id']}")).json()
    assert (job["origin"], job["created_by"]["kind"], job["created_by"]["id"]) == ("schedule", "schedule", made["id"])

    assert (await client.delete(f"{S}/{made['id']}")).status_code == 204
    assert_problem(await client.get(f"{S}/{made['id']}"), 404, "not_found")
    assert await fires(engine, made["id"]) == []
    assert (await client.get(f"/v1/jobs/{fire['job_id']}")).status_code == 200
    assert_problem(await client.delete(f"{S}/{made['id']}"), 404, "not_found")
