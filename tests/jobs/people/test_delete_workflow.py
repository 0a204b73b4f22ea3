"""DELETE /v1/workflows/{workflow}: the workflow with its versions, jobs (and theirs), keys, environment,
members and backups, in one transaction; refused while jobs are active unless asked to cancel them; nothing else
touched."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import issue_key
from tests.conftest import TOKEN, ClientFactory, WorkerFactory, wait_for_job
from tests.deliveries.conftest import enable_push
from tests.jobs.conftest import GREETER, deploy_workflow, submit
from tests.jobs.people.conftest import People, add_workspace
from tests.packages.importing import package, upload
from tests.workflows.conftest import assert_problem
from workflow_service.core.clock import utcnow
from workflow_service.jobs.ends import Ended

TABLES = (
    *("workflow", "workflow_version", "job", "job_step", "job_event", "delivery", "api_key"),
    *("workflow_env", "workflow_member", "audit_entry", "workflow_backup"),
)


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {t: int((await conn.execute(sa.text(f"SELECT count(*) FROM {t}"))).scalar_one()) for t in TABLES}


async def audit_entry(engine: AsyncEngine, workflow_id: str) -> None:
    """An audit entry about the workflow, as the audit log writes one (no foreign key: it outlives it)."""
    values = {"w": uuid.UUID(workflow_id), "at": utcnow(), "h": "0" * 64, "chain": f"test-{uuid.uuid4()}"}
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO audit_entry (chain, seq, at, actor, actor_name, action, category, workflow_id, "
                "description, prev_hash, hash) VALUES (:chain, 1, :at, 'admin', 'operator', 'workflow.deployed', "
                "'workflow', :w, 'deployed', :h, :h)"
            ),
            values,
        )


async def populated(admin: httpx.AsyncClient, people: People, slug: str) -> dict[str, Any]:
    """A workflow with two versions, an ended job with steps, an ended push job with its delivery, a key, an
    environment variable, a member, and a backup of its draft (an import made it)."""
    workflow = await deploy_workflow(admin, slug, GREETER)
    assert (await admin.post(f"/v1/workflows/{slug}/deploy")).status_code == 201
    await enable_push(admin, slug, "http://127.0.0.1:9/callback")
    await issue_key(admin, slug)
    assert (await admin.put(f"/v1/workflows/{slug}/env/REGION", json={"value": "eu"})).status_code == 201
    await people.member(workflow, "viewer")
    imported = await upload(admin, f"/v1/workflows/{slug}/import", package(GREETER), backup=True, on_conflict="keep")
    assert imported.status_code == 200, imported.text
    pushed = await admin.post(f"/v1/workflows/{slug}/versions/current/push", json={"inputs": {"name": "Ada"}})
    for job in (pushed.json(), await submit(admin, slug, {"name": "Bo"})):
        await wait_for_job(admin, job["id"])
    return workflow


async def test_a_workflow_is_deleted_with_everything_of_its_own_and_nothing_else(
    admin: httpx.AsyncClient, engine: AsyncEngine, people: People, start_worker: WorkerFactory
) -> None:
    await start_worker()
    doomed = await populated(admin, people, "doomed")
    await populated(admin, people, "kept")
    await audit_entry(engine, doomed["id"])
    before = await counts(engine)

    response = await admin.delete("/v1/workflows/doomed")

    assert (response.status_code, response.content) == (204, b"")
    after = await counts(engine)
    # exactly half of each of the workflows' own tables is gone: the other workflow's half, and the audit log, stay
    # (and the log has one entry more: the deletion's own)
    assert after == {t: n + 1 if t == "audit_entry" else n // 2 for t, n in before.items()}, (before, after)
    assert_problem(await admin.get("/v1/workflows/doomed"), 404, "not_found")
    assert_problem(await admin.delete("/v1/workflows/doomed"), 404, "not_found")
    assert (await admin.get("/v1/workflows/kept")).status_code == 200
    assert {j["workflow"]["slug"] for j in (await admin.get("/v1/jobs")).json()["items"]} == {"kept"}


async def test_active_jobs_refuse_the_deletion_unless_it_cancels_them(
    admin: httpx.AsyncClient, engine: AsyncEngine, ends: list[Ended]
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    pending = [await submit(admin, "greeter", {"name": n}) for n in ("A", "B")]
    ended = await submit(admin, "greeter", {"name": "C"})
    await admin.post(f"/v1/jobs/{ended['id']}/cancel")
    new = await admin.post(f"/v1/jobs/{ended['id']}/duplicate", json={"start": False})
    ends.clear()

    refused = await admin.delete("/v1/workflows/greeter")

    problem = assert_problem(refused, 409, "workflow_has_active_jobs")
    assert problem["active_jobs"] == 3  # two pending, one new
    assert "cancel_active=true" in problem["detail"]
    assert ends == []
    assert (await admin.get("/v1/workflows/greeter")).status_code == 200
    assert (await admin.get(f"/v1/jobs/{pending[0]['id']}")).json()["status"] == "pending"

    assert_problem(await admin.delete("/v1/workflows/greeter?cancel_active=maybe"), 422, "invalid_request")
    assert (await admin.delete("/v1/workflows/greeter?cancel_active=true")).status_code == 204
    canceled = {(e.job_id, e.previous.value, e.status.value, e.actor) for e in ends}
    assert canceled == {
        (uuid.UUID(pending[0]["id"]), "pending", "canceled", "admin"),
        (uuid.UUID(pending[1]["id"]), "pending", "canceled", "admin"),
        (uuid.UUID(new.json()["id"]), "new", "canceled", "admin"),
    }
    assert (await counts(engine))["job"] == 0


async def test_who_may_delete_a_workflow(admin: httpx.AsyncClient, connect: ClientFactory, people: People) -> None:
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    key = connect((await issue_key(admin, "greeter"))["key"])
    elsewhere = await add_workspace(people.engine)
    # a workflow of the same slug in another workspace, which nobody here may touch
    other_admin = connect(TOKEN)
    other_admin.headers["Wfs-Workspace"] = f"ws-{elsewhere.hex[-12:]}"
    await deploy_workflow(other_admin, "greeter", GREETER)
    stranger = await people.user("owner", elsewhere)
    for role in ("viewer", "runner", "editor"):
        member = await people.member(workflow, role)
        assert_problem(await member.client.delete("/v1/workflows/greeter"), 403, "forbidden")
    uninvited = await people.user()
    assert_problem(await uninvited.client.delete("/v1/workflows/greeter"), 404, "not_found")
    assert_problem(await key.delete("/v1/workflows/greeter"), 403, "forbidden")
    assert_problem(await admin.delete(f"/v1/workflows/{uuid.uuid4()}"), 404, "not_found")
    assert (await admin.get("/v1/workflows/greeter")).status_code == 200

    assert (await stranger.client.delete("/v1/workflows/greeter")).status_code == 204  # its own workspace's
    assert (await admin.get("/v1/workflows/greeter")).status_code == 200
    owner = await people.member(workflow, "owner")
    assert (await owner.client.delete(f"/v1/workflows/{workflow['id']}")).status_code == 204
    assert_problem(await other_admin.get("/v1/workflows/greeter"), 404, "not_found")
    second = await deploy_workflow(admin, "second", GREETER)
    manager = await people.user("admin")
    assert (await manager.client.delete(f"/v1/workflows/{second['slug']}")).status_code == 204
