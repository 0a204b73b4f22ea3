"""Retention: a workflow's `retention_days` (or `forever`, or its workspace's default) and the sweep that deletes
ended jobs past it in small batches, never active ones, with a clock the tests control; on PostgreSQL and
SQLite, and from the workers' periodic loop."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TOKEN, ClientFactory, WorkerFactory, connections, eventually, wait_for_job
from tests.deliveries.conftest import enable_push
from tests.jobs.conftest import GREETER, deploy_workflow, submit
from tests.jobs.people.conftest import People, add_workspace
from tests.workflows.conftest import assert_problem
from workflow_service.config import Settings
from workflow_service.core.clock import utcnow
from workflow_service.core.db import make_engine
from workflow_service.jobs.retention import Sweep, SweepReport, sweep
from workflow_service.migrate import upgrade
from workflow_service.models import Delivery, Job, JobEvent, JobStep

DAY = timedelta(days=1)


def in_workspace(connect: ClientFactory, workspace_id: uuid.UUID) -> httpx.AsyncClient:
    """The operator's client acting in the workspace (made by add_workspace)."""
    client = connect(TOKEN)
    client.headers["Wfs-Workspace"] = f"ws-{workspace_id.hex[-12:]}"
    return client


async def retention(client: httpx.AsyncClient, slug: str, days: Any) -> dict[str, Any]:
    response = await client.patch(f"/v1/workflows/{slug}/settings", json={"retention_days": days})
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    return settings


async def finished_at(engine: AsyncEngine, job_id: str, when: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.update(Job).where(Job.id == uuid.UUID(job_id)).values(finished_at=when))


async def existing(engine: AsyncEngine, job_ids: list[str]) -> set[str]:
    """Which of the jobs are still there."""
    async with engine.connect() as conn:
        there = {str(job_id) for job_id in (await conn.execute(sa.select(Job.id))).scalars()}
    return there & set(job_ids)


IDLE = "idle"
"""A pool no worker serves: its jobs stay pending."""


async def ended(client: httpx.AsyncClient, slug: str) -> str:
    """A job of `slug` that has ended (canceled while pending in a pool no worker serves)."""
    job = await submit(client, slug, {"name": "Ada"}, pool=IDLE)
    assert (await client.post(f"/v1/jobs/{job['id']}/cancel")).status_code == 200
    job_id: str = job["id"]
    return job_id


async def test_retention_is_a_workflow_setting_over_the_workspaces_default(
    connect: ClientFactory, engine: AsyncEngine, people: People
) -> None:
    workspace = await add_workspace(engine, retention_days=30)
    admin = in_workspace(connect, workspace)
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    shown = (await admin.get("/v1/workflows/greeter/settings")).json()
    assert (shown["retention_days"], shown["effective_retention_days"]) == (None, 30)
    assert (await retention(admin, "greeter", 7))["effective_retention_days"] == 7
    forever = await retention(admin, "greeter", "forever")
    assert (forever["retention_days"], forever["effective_retention_days"]) == ("forever", None)
    inherited = await retention(admin, "greeter", None)
    assert (inherited["retention_days"], inherited["effective_retention_days"]) == (None, 30)
    other = await people.user("owner", workspace)
    assert (await other.client.get("/v1/workflows/greeter/settings")).json()["retention_days"] is None
    viewer = await people.invite(await people.user("member", workspace), workflow, "viewer")
    assert_problem(
        await viewer.client.patch("/v1/workflows/greeter/settings", json={"retention_days": 1}), 403, "forbidden"
    )
    for bad in (0, 36501, -1, "never", 1.5, True):
        response = await admin.patch("/v1/workflows/greeter/settings", json={"retention_days": bad})
        problem = assert_problem(response, 422, "invalid_request")
        assert any(e["path"].startswith("$.retention_days") for e in problem["errors"]), (bad, problem)
    assert (await admin.get("/v1/workflows/greeter/settings")).json()["retention_days"] is None


async def test_the_sweep_deletes_ended_jobs_past_their_retention_and_keeps_the_rest(
    connect: ClientFactory, engine: AsyncEngine, start_worker: WorkerFactory
) -> None:
    workspace = await add_workspace(engine, retention_days=10)
    admin = in_workspace(connect, workspace)
    for slug in ("own", "inherits", "forever"):
        await deploy_workflow(admin, slug, GREETER)
    await retention(admin, "own", 60)  # longer than the workspace's 10: the workflow's own wins
    await retention(admin, "forever", "forever")
    kept_forever = [await ended(admin, "forever")]
    await start_worker()
    old = {slug: [await ended(admin, slug)] for slug in ("own", "inherits")}
    completed = await submit(admin, "inherits", {"name": "Bo"})  # with steps and events
    await wait_for_job(admin, completed["id"])
    old["inherits"].append(completed["id"])
    await enable_push(admin, "inherits", "http://127.0.0.1:9/callback")
    pushed = (await admin.post("/v1/workflows/inherits/versions/current/push", json={"inputs": {"name": "C"}})).json()
    old["inherits"].append(pushed["id"])  # with its callback delivery
    await wait_for_job(admin, pushed["id"])
    now = utcnow()
    recent = {slug: await ended(admin, slug) for slug in ("own", "inherits")}
    for job_id in recent.values():
        await finished_at(engine, job_id, now + 55 * DAY)
    active = [await submit(admin, slug, {"name": "D"}, pool=IDLE) for slug in ("own", "inherits")]
    new = await admin.post(f"/v1/jobs/{completed['id']}/duplicate", json={"start": False})
    active_ids = [j["id"] for j in active] + [new.json()["id"]]
    everything = kept_forever + old["own"] + old["inherits"] + list(recent.values()) + active_ids

    nothing_yet = await sweep(engine, Sweep(now=now + 9 * DAY, pause_s=0))
    assert nothing_yet == SweepReport()
    first = await sweep(engine, Sweep(now=now + 30 * DAY, pause_s=0))
    assert first.deleted == 3
    assert await existing(engine, everything) == set(everything) - set(old["inherits"])
    gone = [uuid.UUID(j) for j in old["inherits"]]
    async with engine.connect() as conn:
        for owned in (JobStep, JobEvent, Delivery):
            left = sa.select(sa.func.count()).select_from(owned).where(owned.job_id.in_(gone))
            assert (await conn.execute(left)).scalar() == 0, owned
    second = await sweep(engine, Sweep(now=now + 61 * DAY, pause_s=0))
    assert second.deleted == 1
    assert await existing(engine, everything) == set(kept_forever + list(recent.values()) + active_ids)
    much_later = await sweep(engine, Sweep(now=now + 3650 * DAY, pause_s=0))
    assert much_later.deleted == 2  # the recent ones, in time; never the active ones, nor the kept forever
    assert await existing(engine, everything) == set(kept_forever + active_ids)


async def test_a_workspace_without_a_default_keeps_jobs_forever(connect: ClientFactory, engine: AsyncEngine) -> None:
    workspace = await add_workspace(engine, retention_days=None)
    admin = in_workspace(connect, workspace)
    await deploy_workflow(admin, "greeter", GREETER)
    jobs = [await ended(admin, "greeter")]
    assert await sweep(engine, Sweep(now=utcnow() + 36500 * DAY, pause_s=0)) == SweepReport()
    assert await existing(engine, jobs) == set(jobs)


@pytest.fixture
def deletes() -> Iterator[list[tuple[str, Any]]]:
    """The DELETE statements any engine runs meanwhile, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if statement.lstrip().startswith("DELETE FROM job"):
            seen.append((statement, parameters))

    sa.event.listen(Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(Engine, "before_cursor_execute", record)


async def test_the_sweep_deletes_in_bounded_batches_and_skips_locked_rows(
    connect: ClientFactory, engine: AsyncEngine, deletes: list[tuple[str, Any]]
) -> None:
    workspace = await add_workspace(engine, retention_days=1)
    admin = in_workspace(connect, workspace)
    await deploy_workflow(admin, "greeter", GREETER)
    jobs = [await ended(admin, "greeter") for _ in range(8)]
    later = utcnow() + 2 * DAY
    async with engine.connect() as holder, holder.begin():  # another transaction holds one of them
        await holder.execute(sa.text("SELECT 1 FROM job WHERE id = :id FOR UPDATE"), {"id": uuid.UUID(jobs[3])})
        report = await asyncio.wait_for(sweep(engine, Sweep(now=later, batch=3, pause_s=0)), 10)
    assert report == SweepReport(deleted=7, batches=3, largest_batch=3)
    assert len(deletes) == 3
    assert await existing(engine, jobs) == {jobs[3]}
    assert (await sweep(engine, Sweep(now=later, batch=3, pause_s=0))).deleted == 1  # the next sweep takes it


async def test_workers_sweep_periodically(
    connect: ClientFactory, engine: AsyncEngine, start_worker: WorkerFactory
) -> None:
    workspace = await add_workspace(engine, retention_days=1)
    admin = in_workspace(connect, workspace)
    await deploy_workflow(admin, "greeter", GREETER)
    job_id = await ended(admin, "greeter")
    await finished_at(engine, job_id, utcnow() - 2 * DAY)
    await start_worker(retention_sweep_s=0.2)
    await eventually(lambda: _gone(engine, job_id), "the worker's sweep", wait_s=10)


async def _gone(engine: AsyncEngine, job_id: str) -> bool:
    return not await existing(engine, [job_id])


async def test_retention_on_sqlite_in_the_embedded_worker(tmp_path: Path) -> None:
    """On SQLite: the sweep with a controlled clock and bounded batches, and the embedded worker's loop."""
    settings = Settings(
        data_dir=tmp_path,
        admin_token=SecretStr("embedded-admin"),
        database_url=None,
        redis_url=None,
        retention_sweep_s=0.2,
    )
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    sqlite = make_engine(settings.effective_database_url)
    try:
        async with connections(settings) as connect, connect("embedded-admin") as admin:
            for slug in ("greeter", "forever"):
                await deploy_workflow(admin, slug, GREETER)
            await retention(admin, "greeter", 30)
            await retention(admin, "forever", "forever")
            old = [await ended(admin, "greeter") for _ in range(5)]
            kept = [await ended(admin, "forever"), (await submit(admin, "greeter", {"name": "P"}, pool=IDLE))["id"]]
            report = await sweep(sqlite, Sweep(now=utcnow() + 31 * DAY, batch=2, pause_s=0))
            assert report == SweepReport(deleted=5, batches=3, largest_batch=2)
            assert await existing(sqlite, old + kept) == set(kept)
            async with sqlite.connect() as conn:
                events = sa.select(sa.func.count()).select_from(JobEvent)
                assert (await conn.execute(events)).scalar() == 3  # the kept jobs': pending, canceled; pending
            key = (await admin.post("/v1/workflows/greeter/api-keys", json={"name": "importer"})).json()
            async with connect(key["key"]) as as_key:  # (and on SQLite, a job shows its creator by name)
                by_key = await submit(as_key, "greeter", {"name": "K"}, pool=IDLE)
            kept.append(by_key["id"])
            shown = (await admin.get(f"/v1/jobs/{by_key['id']}")).json()["created_by"]
            assert shown == {"kind": "key", "id": key["id"], "name": "importer"}
            await retention(admin, "greeter", 1)
            swept = await ended(admin, "greeter")
            await finished_at(sqlite, swept, utcnow() - 2 * DAY)  # (made now: its id bounds how far back it ended)
            await eventually(lambda: _gone(sqlite, swept), "the embedded worker's sweep", wait_s=10)
            assert await existing(sqlite, kept) == set(kept)
    finally:
        await sqlite.dispose()
