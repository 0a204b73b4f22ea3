"""API keys in the embedded mode: the same code on SQLite with the in-process worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import SecretStr

from tests.conftest import connections, wait_for_job
from tests.jobs.conftest import GREETER, deploy_workflow
from workflow_service.config import Settings
from workflow_service.migrate import upgrade

TOKEN = "embedded-admin"


async def test_a_key_submits_reads_and_is_revoked_on_sqlite(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, admin_token=SecretStr(TOKEN), database_url=None, redis_url=None)
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    async with connections(settings) as connect, connect(TOKEN) as admin:
        await deploy_workflow(admin, "greeter", GREETER)
        created = (await admin.post("/v1/workflows/greeter/api-keys", json={"name": "ci"})).json()
        async with connect(created["key"]) as key:
            response = await key.post("/v1/workflows/greeter/versions/current/async", json={"inputs": {"name": "Ada"}})
            assert response.status_code == 202, response.text
            job = await wait_for_job(key, response.json()["id"])
            assert job["output"] == {"greeting": "Hello, Ada!"}
            events = (await key.get(f"/v1/jobs/{job['id']}/events")).json()["items"]
            assert events[0]["actor"] == f"key:{created['id']}"
            assert [j["id"] for j in (await key.get("/v1/jobs")).json()["items"]] == [job["id"]]
            listed = (await admin.get("/v1/workflows/greeter/api-keys")).json()["items"]
            assert listed[0]["last_used_at"] is not None

            assert (await admin.delete(f"/v1/workflows/greeter/api-keys/{created['id']}")).status_code == 204
            assert (await key.get(f"/v1/jobs/{job['id']}")).status_code == 401
