"""Schedules fired by real processes: two `workflow-service worker` processes racing on a per-second schedule, and
the embedded mode (SQLite, the in-process worker) firing one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import connections, eventually
from tests.jobs.conftest import GREETER, deploy_workflow
from tests.schedules.conftest import fires, jobs_of, make_schedule
from tests.worker.test_kill import Workers
from workflow_service.config import Settings
from workflow_service.migrate import upgrade

SECOND = timedelta(seconds=1)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    w = Workers(tmp_path)
    yield w
    w.stop_all()


async def _agents_online(client: httpx.AsyncClient, names: set[str]) -> bool:
    agents = (await client.get("/v1/agents")).json()["items"]
    return names <= {a["name"] for a in agents if a["status"] == "online"}


@pytest.mark.slow
async def test_two_worker_processes_make_one_job_per_second_and_miss_none(
    engine: AsyncEngine, client: httpx.AsyncClient, workers: Workers
) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    workers.spawn("first")
    workers.spawn("second")
    await eventually(lambda: _agents_online(client, {"first", "second"}), "both workers online", wait_s=20)
    start = (datetime.now(UTC) + SECOND).replace(microsecond=0)
    made = await make_schedule(client, interval=1, start_at=start.isoformat(), overlap="allow_all")
    await asyncio.sleep((start + 6 * SECOND - datetime.now(UTC)).total_seconds())
    paused_at = datetime.now(UTC)
    assert (await client.post(f"/v1/workflows/greeter/schedules/{made['id']}/pause")).status_code == 200

    recorded = await fires(engine, made["id"])
    times = [f.scheduled_at for f in recorded]
    assert times == [start + i * SECOND for i in range(len(times))], "a time was missed"  # from the start, no gap
    assert times[-1] >= paused_at - 2 * SECOND  # the passes (every 0.5 s) kept up to the pause
    assert all(f.outcome == "created" and f.job_id is not None for f in recorded)
    made_jobs = await jobs_of(engine, made["id"])
    assert sorted(j.metadata["scheduled_at"] for j in made_jobs) == [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in times]
    assert {j.id for j in made_jobs} == {f.job_id for f in recorded}  # one job per time, no second one

    async def all_completed() -> bool:
        return all(j.status == "completed" for j in await jobs_of(engine, made["id"]))

    await eventually(all_completed, "the scheduled jobs completed", wait_s=20)


async def test_the_embedded_mode_fires_schedules(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        admin_token=SecretStr("embedded"),
        database_url=None,
        redis_url=None,
        reconcile_interval_s=0.2,
    )
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    async with connections(settings) as connect, connect("embedded") as admin:
        await deploy_workflow(admin, "greeter", GREETER)
        made = await make_schedule(admin, interval=1, overlap="allow_all")
        url = f"/v1/workflows/greeter/schedules/{made['id']}"

        async def three_completed() -> list[dict[str, Any]]:
            recent: list[dict[str, Any]] = (await admin.get(url)).json()["recent"]
            done = [f for f in recent if f["job_status"] == "completed"]
            return done if len(done) >= 3 else []

        completed = await eventually(three_completed, "three scheduled jobs completed", wait_s=15)
        job = (await admin.get(f"/v1/jobs/{completed[0]['job_id']}")).json()
        assert (job["origin"], job["created_by"]["kind"], job["output"]) == (
            "schedule",
            "schedule",
            {"greeting": "Hello, Ada!"},
        )
        assert (await admin.post(f"{url}/pause")).json()["next_run_at"] is None
