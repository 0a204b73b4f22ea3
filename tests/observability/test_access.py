"""Who may read /metrics (WFS_METRICS), the database figures read at most once per WFS_METRICS_CACHE_S however
many scrapes come, and /metrics in the embedded mode."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import issue_key
from tests.conftest import TOKEN, connections, eventually, make_settings, wait_for_job
from tests.jobs.conftest import GREETER, deploy_workflow, submit
from tests.observability.conftest import Samples, parse, scrape, value
from workflow_service.config import Settings
from workflow_service.core.db import make_engine
from workflow_service.migrate import upgrade
from workflow_service.observability.exposition import render
from workflow_service.observability.gauges import DatabaseGauges
from workflow_service.observability.metrics import instruments

SCRAPER = "scrape-only-" + "x" * 24


async def _sign_in_failures(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        query = sa.text("SELECT count(*) FROM audit_entry WHERE action = 'auth.sign_in_failed'")
        return int((await conn.execute(query)).scalar_one())


async def test_token_mode_takes_the_scrapers_token_or_the_operators(engine: AsyncEngine) -> None:
    async with connections(make_settings(metrics_token=SecretStr(SCRAPER))) as connect:
        admin = connect(TOKEN)
        await deploy_workflow(admin, "keyed", GREETER)
        key = (await issue_key(admin, "keyed"))["key"]
        assert (await connect(SCRAPER).get("/metrics")).status_code == 200
        assert (await admin.get("/metrics")).status_code == 200
        # Anyone else: no credential 401, a wrong one 401 (recorded as a sign-in failure), an API key 403.
        anonymous = connect("")
        missing = await anonymous.get("/metrics", headers={"Authorization": ""})
        assert missing.status_code == 401, missing.text
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.headers["www-authenticate"] == "Bearer"
        before = await _sign_in_failures(engine)
        wrong = await connect("not-the-token").get("/metrics")
        assert (wrong.status_code, wrong.json()["code"]) == (401, "unauthorized")
        assert await _sign_in_failures(engine) == before + 1
        refused = await connect(key).get("/metrics")
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
        assert refused.json()["detail"].startswith("an API key may only call its workflow's endpoints")
        # The metrics token opens /metrics and nothing else.
        assert (await connect(SCRAPER).get("/v1/jobs")).status_code == 401


async def test_open_mode_needs_no_token_and_off_serves_nothing(engine: AsyncEngine) -> None:
    async with connections(make_settings(metrics="open")) as connect:
        response = await connect("").get("/metrics", headers={"Authorization": ""})
        assert response.status_code == 200
        assert "wfs_jobs_submitted" in response.text
    async with connections(make_settings(metrics="off")) as connect:
        admin = connect(TOKEN)
        assert (await admin.get("/metrics")).status_code == 404
        assert (await admin.get("/healthz")).status_code == 200


@pytest.fixture
def job_counts() -> Iterator[list[str]]:
    """The statements reading the unfinished jobs by status that any engine runs meanwhile."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("SELECT job.status, job.pool, count(*)"):
            seen.append(statement)

    sa.event.listen(Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(Engine, "before_cursor_execute", record)


async def test_a_scrape_storm_reads_the_database_once(engine: AsyncEngine, job_counts: list[str]) -> None:
    async with connections(make_settings(metrics_cache_s=60.0)) as connect:
        admin = connect(TOKEN)
        await deploy_workflow(admin, "stormy", GREETER)
        await submit(admin, "stormy", {"name": "Ada"}, pool="nowhere")
        answers = await asyncio.gather(*(scrape(admin) for _ in range(20)))
        assert {value(m, "wfs_jobs", status="pending", pool="nowhere") for m in answers} == {1}
        assert len(job_counts) == 1
        await submit(admin, "stormy", {"name": "Bo"}, pool="nowhere")
        # Within the cache's time the figure stays what was read.
        assert value(await scrape(admin), "wfs_jobs", status="pending", pool="nowhere") == 1
        assert len(job_counts) == 1


async def test_the_gauges_are_read_again_once_stale(engine: AsyncEngine) -> None:
    now = [1000.0]
    gauges = DatabaseGauges(engine, max_age_s=5.0, clock=lambda: now[0])
    await asyncio.gather(*(gauges.refresh() for _ in range(10)))
    assert gauges.reads == 1
    now[0] += 4.9
    await gauges.refresh()
    assert gauges.reads == 1
    now[0] += 0.2
    await gauges.refresh()
    assert gauges.reads == 2


async def test_the_last_figures_are_served_when_the_database_cannot_be_read(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await deploy_workflow(client, "kept", GREETER)
    await submit(client, "kept", {"name": "Ada"}, pool="nowhere")
    now = [0.0]
    gauges = DatabaseGauges(engine, max_age_s=5.0, clock=lambda: now[0])
    await gauges.refresh()
    unreachable = make_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        gauges.engine, now[0] = unreachable, 60.0
        m = parse((await render(instruments(), gauges)).decode())
    finally:
        await unreachable.dispose()
    assert value(m, "wfs_jobs", status="pending", pool="nowhere") == 1  # as last read
    assert gauges.reads == 1
    assert value(m, "process_cpu_seconds_total") > 0  # and the process's own metrics, as always


async def test_metrics_in_the_embedded_mode(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, admin_token=SecretStr("embedded-admin"), database_url=None, redis_url=None)
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    slug = f"solo-{uuid.uuid4().hex[:8]}"
    async with connections(settings) as connect:
        admin = connect("embedded-admin")
        await deploy_workflow(admin, slug, GREETER)
        ids = [(await submit(admin, slug, {"name": name}))["id"] for name in ("Ada", "Bo", "Cy")]
        for job_id in ids:
            assert (await wait_for_job(admin, job_id))["status"] == "completed"

        async def counted() -> Samples | None:
            samples = await scrape(admin)
            done = value(samples, "wfs_jobs_ended_total", workflow=slug, status="completed", origin="api") == 3
            return samples if done else None

        m = await eventually(counted, "the ends counted")
        assert value(m, "wfs_jobs_submitted_total", workflow=slug, origin="api") == 3
        assert value(m, "wfs_job_duration_seconds_count", workflow=slug, status="completed") == 3
        assert value(m, "wfs_agents", status="online") == 1  # the in-process worker, read from SQLite
        route = {"method": "POST", "route": "/v1/workflows/{workflow}/versions/{version}/async"}
        assert value(m, "wfs_http_request_duration_seconds_count", status_class="2xx", **route) >= 3
