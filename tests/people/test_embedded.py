"""People in the embedded mode: the same code on SQLite with the in-process worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import SecretStr

from tests.conftest import connections, wait_for_job
from tests.jobs.conftest import GREETER, deploy_workflow
from tests.workflows.conftest import assert_problem
from workflow_service.config import Settings
from workflow_service.migrate import upgrade

TOKEN = "embedded-admin"


async def test_a_workspace_its_users_tokens_and_sharing_on_sqlite(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, admin_token=SecretStr(TOKEN), database_url=None, redis_url=None)
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    async with connections(settings) as connect:
        body = {"slug": "acme", "name": "Acme", "owner": {"email": "Ada@Example.com", "name": "Ada"}}
        created = (await connect(TOKEN).post("/v1/workspaces", json=body)).json()
        assert_problem(await connect(TOKEN).post("/v1/workspaces", json=body), 409, "conflict")
        owner = connect(created["owner_token"])
        await deploy_workflow(owner, "greeter", GREETER)
        added = (await owner.post("/v1/users", json={"email": "bo@example.com", "name": "Bo"})).json()
        member = connect(added["token"])
        assert_problem(await member.get("/v1/workflows/greeter"), 404, "not_found")
        shared = await owner.put(f"/v1/workflows/greeter/members/{added['id']}", json={"role": "runner"})
        assert shared.status_code == 201, shared.text

        submitted = await member.post("/v1/workflows/greeter/versions/current/async", json={"inputs": {"name": "Bo"}})
        assert submitted.status_code == 202, submitted.text
        job = await wait_for_job(member, submitted.json()["id"])
        assert job["output"] == {"greeting": "Hello, Bo!"}
        assert_problem(await member.post("/v1/workflows/greeter/deploy"), 403, "forbidden")

        laptop = (await member.post("/v1/me/tokens", json={"name": "laptop"})).json()
        assert (await connect(laptop["token"]).get("/v1/me")).json()["user"]["email"] == "bo@example.com"
        listed = (await member.get("/v1/me/tokens")).json()["items"]
        assert listed[0]["last_used_at"] is not None
        assert (await member.delete(f"/v1/me/tokens/{laptop['id']}")).status_code == 204
        assert_problem(await connect(laptop["token"]).get("/v1/me"), 401, "unauthorized")

        assert_problem(
            await owner.patch(f"/v1/users/{created['owner']['id']}", json={"role": "member"}), 409, "conflict"
        )
        assert (await owner.patch("/v1/workspace", json={"retention_days": 7})).json()["retention_days"] == 7
        assert (await owner.delete(f"/v1/users/{added['id']}")).status_code == 204
        assert_problem(await member.get("/v1/me"), 401, "unauthorized")
        assert (await owner.get("/v1/workflows/greeter/members")).json()["items"] == []
