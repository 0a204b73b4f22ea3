"""PATCH /v1/jobs/{id}: rename a job in any state; replace the variables of one that has not started."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import WorkerFactory, wait_for_job
from tests.jobs.conftest import GREETER, ContextFactory, deploy_workflow, submit
from tests.jobs.people.conftest import People, refused_own_job_action
from tests.workflows.conftest import assert_problem
from workflow_service.core.db import unit_of_work
from workflow_service.jobs import service
from workflow_service.jobs.schemas import JobUpdate


async def new_job(client: httpx.AsyncClient, slug: str = "greeter") -> dict[str, Any]:
    """A job left `new` (a duplicate not started)."""
    source = await submit(client, slug, {"name": "Ada"})
    copy = await client.post(f"/v1/jobs/{source['id']}/duplicate", json={"start": False})
    assert copy.status_code == 201, copy.text
    job: dict[str, Any] = copy.json()
    assert job["status"] == "new"
    return job


async def test_a_new_jobs_variables_are_replaced_and_it_runs_with_them(
    admin: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    job = await new_job(admin)
    response = await admin.patch(f"/v1/jobs/{job['id']}", json={"variables": {"greeting": "Salut"}, "name": "fr"})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["name"], changed["variables"], changed["status"]) == ("fr", {"greeting": "Salut"}, "new")
    assert changed["effective_variables"] == {"greeting": "Salut"}
    # replaced, not merged: an empty object removes the overrides
    assert (await admin.patch(f"/v1/jobs/{job['id']}", json={"variables": {}})).json()["variables"] == {}
    await admin.patch(f"/v1/jobs/{job['id']}", json={"variables": {"greeting": "Hola"}})
    await start_worker()
    assert (await admin.post(f"/v1/jobs/{job['id']}/start")).status_code == 200
    done = await wait_for_job(admin, job["id"])
    assert (done["status"], done["output"], done["name"]) == ("completed", {"greeting": "Hola, Ada!"}, "fr")


@pytest.mark.parametrize("state", ["new", "pending", "canceled"])
async def test_a_job_is_renamed_in_any_state(admin: httpx.AsyncClient, state: str) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    job = await new_job(admin) if state == "new" else await submit(admin, "greeter", {"name": "Ada"})
    if state == "canceled":
        await admin.post(f"/v1/jobs/{job['id']}/cancel")
    renamed = await admin.patch(f"/v1/jobs/{job['id']}", json={"name": "monthly report"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["status"]) == ("monthly report", state)
    cleared = await admin.patch(f"/v1/jobs/{job['id']}", json={"name": None})
    assert cleared.json()["name"] is None
    assert (await admin.get(f"/v1/jobs/{job['id']}")).json()["name"] is None


@pytest.mark.parametrize("state", ["pending", "canceled"])
async def test_variables_of_a_started_job_are_a_conflict(admin: httpx.AsyncClient, state: str) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    job = await submit(admin, "greeter", {"name": "Ada"}, variables={"greeting": "Hi"})
    if state == "canceled":
        await admin.post(f"/v1/jobs/{job['id']}/cancel")
    response = await admin.patch(f"/v1/jobs/{job['id']}", json={"variables": {"greeting": "Yo"}, "name": "x"})
    problem = assert_problem(response, 409, "job_not_new")
    assert problem["job_status"] == state
    assert state in problem["detail"]
    after = (await admin.get(f"/v1/jobs/{job['id']}")).json()
    assert (after["variables"], after["name"]) == ({"greeting": "Hi"}, None)  # nothing changed, not even the name


@pytest.mark.parametrize(
    ("body", "path", "code"),
    [
        ({"status": "completed"}, "$.status", "invalid_request"),
        ({"name": "x" * 201}, "$.name", "invalid_request"),
        ({"variables": None}, "$.variables", "invalid_request"),
        ({"variables": ["greeting"]}, "$.variables", "invalid_request"),
        ({"variables": {"nope": 1}}, "$.variables.nope", "invalid_input"),
    ],
)
async def test_a_bad_change_is_refused_naming_the_field(
    admin: httpx.AsyncClient, body: Any, path: str, code: str
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    job = await new_job(admin)
    problem = assert_problem(await admin.patch(f"/v1/jobs/{job['id']}", json=body), 422, code)
    assert path in [e["path"] for e in problem["errors"]], problem
    assert (await admin.get(f"/v1/jobs/{job['id']}")).json()["variables"] == {}


async def test_who_may_change_a_job(admin: httpx.AsyncClient, people: People) -> None:
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    creator = await people.member(workflow, "runner")
    job = await submit(creator.client, "greeter", {"name": "Ada"})
    url = f"/v1/jobs/{job['id']}"
    for client, status, code in await refused_own_job_action(people, admin, workflow):
        assert_problem(await client.patch(url, json={"name": "taken"}), status, code)
    assert (await admin.get(url)).json()["name"] is None
    for client, name in [(creator.client, "mine"), ((await people.member(workflow, "owner")).client, "owners")]:
        response = await client.patch(url, json={"name": name})
        assert (response.status_code, response.json()["name"]) == (200, name)
    assert_problem(await admin.patch(f"/v1/jobs/{uuid.uuid4()}", json={"name": "x"}), 404, "not_found")
    assert_problem(await admin.patch("/v1/jobs/not-an-id", json={"name": "x"}), 404, "not_found")


async def test_the_change_reports_what_it_changed(
    admin: httpx.AsyncClient, engine: AsyncEngine, make_context: ContextFactory
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    job = await new_job(admin)
    ctx = await make_context()
    change = JobUpdate(name="renamed", variables={"greeting": "Hey"})
    async with unit_of_work(engine) as uow:
        updated = await service.update(uow, ctx, job["id"], change, actor="admin")
    assert updated.before == {"name": None, "variables": {}}
    assert updated.after == {"name": "renamed", "variables": {"greeting": "Hey"}}
    assert updated.job.name == "renamed"
    async with unit_of_work(engine) as uow:  # the same again changes nothing
        again = await service.update(uow, ctx, job["id"], change, actor="admin")
    assert (again.before, again.after) == ({}, {})
