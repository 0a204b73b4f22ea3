"""Submitting and reading jobs over the API: validation, version locking, listing, events, pools, agents."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import WorkerFactory, eventually, wait_for_job
from tests.jobs.conftest import GREETER, RunnerFactory, deploy_workflow, submit
from workflow_service.jobs import repository as repo
from workflow_service.jobs.states import JobStatus

S = JobStatus
PROBLEM = "application/problem+json"


def problem_paths(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["status"] == response.status_code
    assert body["type"].startswith("urn:workflow-service:problem:")
    return [item["path"] for item in body.get("errors") or []]


# --- validation ---------------------------------------------------------------------------------


async def test_missing_required_input_is_a_422_naming_the_field(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    response = await client.post("/v1/workflows/greeter/versions/current/async", json={"inputs": {}})
    assert response.status_code == 422, response.text
    assert problem_paths(response) == ["$.inputs.name"]
    assert "name" in response.json()["detail"]


@pytest.mark.parametrize("field", ["inputs", "variables", "metadata"])
async def test_an_integer_too_large_to_store_is_a_422_and_nothing_is_stored(
    client: httpx.AsyncClient, engine: AsyncEngine, field: str
) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    body: dict[str, Any] = {"inputs": {"name": "Ada"}, field: {"greeting": 2**70}}
    if field == "inputs":
        body["inputs"]["big"] = 2**70
    response = await client.post("/v1/workflows/greeter/versions/current/async", json=body)
    assert response.status_code == 422, response.text
    assert problem_paths(response) == [f"$.{field}"]
    assert (await client.get("/v1/jobs")).json()["items"] == []


async def test_wrong_input_types_are_a_422_naming_each_field(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    response = await client.post(
        "/v1/workflows/greeter/versions/current/async", json={"inputs": {"name": 5, "count": "three"}}
    )
    assert response.status_code == 422, response.text
    assert sorted(problem_paths(response)) == ["$.inputs.count", "$.inputs.name"]


async def test_unknown_variable_is_a_422_naming_it(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    response = await client.post(
        "/v1/workflows/greeter/versions/current/async",
        json={"inputs": {"name": "Ada"}, "variables": {"greeting": "Hi", "salutation": "Dr"}},
    )
    assert response.status_code == 422, response.text
    assert problem_paths(response) == ["$.variables.salutation"]
    assert "greeting" in response.json()["errors"][0]["message"]  # says which variables exist


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ([1, 2], "$"),
        ("inputs", "$"),
        ({"inputs": {"name": "Ada"}, "priority": 1}, "$.priority"),
        ({"inputs": ["Ada"]}, "$.inputs"),
        ({"inputs": {"name": "Ada"}, "pool": "no spaces allowed"}, "$.pool"),
    ],
)
async def test_malformed_bodies_are_a_422(client: httpx.AsyncClient, engine: AsyncEngine, body: Any, path: str) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    response = await client.post("/v1/workflows/greeter/versions/current/async", json=body)
    assert response.status_code == 422, response.text
    assert path in problem_paths(response)


async def test_a_body_that_is_not_json_is_a_400(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    response = await client.post(
        "/v1/workflows/greeter/versions/current/async",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] == "malformed_body"
    assert problem_paths(response) == ["$"]


async def test_nothing_is_stored_when_a_submission_is_refused(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    refused = await client.post("/v1/workflows/greeter/versions/current/async", json={"inputs": {}})
    assert refused.status_code == 422
    listed = await client.get("/v1/jobs")
    assert listed.json()["items"] == []


async def test_unknown_workflow_is_a_404(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    response = await client.post("/v1/workflows/nope/versions/current/async", json={"inputs": {}})
    assert response.status_code == 404
    problem_paths(response)
    assert response.json()["code"] == "not_found"
    by_id = await client.post(f"/v1/workflows/{uuid.uuid4()}/versions/1/async", json={"inputs": {}})
    assert by_id.status_code == 404


async def test_unknown_version_is_a_404(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    response = await client.post("/v1/workflows/greeter/versions/2/async", json={"inputs": {"name": "Ada"}})
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"


async def test_a_version_that_is_not_a_number_is_a_422(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    response = await client.post("/v1/workflows/greeter/versions/latest/async", json={"inputs": {"name": "Ada"}})
    assert response.status_code == 422, response.text
    assert problem_paths(response) == ["path:version"]


async def test_a_never_deployed_workflow_is_a_409(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    created = await client.post("/v1/workflows", json={"name": "Draft only", "definition": GREETER})
    assert created.status_code == 201, created.text
    for version in ("current", "1"):
        response = await client.post(
            f"/v1/workflows/draft-only/versions/{version}/async", json={"inputs": {"name": "Ada"}}
        )
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "not_deployed"


# --- version locking ----------------------------------------------------------------------------


async def test_a_job_is_locked_to_the_version_resolved_at_submission(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    first = await submit(client, "greeter", {"name": "Ada"})
    assert first["version"] == 1

    v2 = {**GREETER, "variables": {"greeting": "Bonjour"}}
    updated = await client.put("/v1/workflows/greeter/draft", json={"definition": v2})
    assert updated.status_code == 200, updated.text
    deployed = await client.post("/v1/workflows/greeter/deploy")
    assert deployed.json()["number"] == 2
    second = await submit(client, "greeter", {"name": "Ada"})
    pinned = await submit(client, "greeter", {"name": "Ada"}, version="1")

    await start_worker()
    done = [await wait_for_job(client, j["id"]) for j in (first, second, pinned)]
    assert [(j["status"], j["version"]) for j in done] == [("completed", 1), ("completed", 2), ("completed", 1)]
    assert [j["output"]["greeting"] for j in done] == ["Hello, Ada!", "Bonjour, Ada!", "Hello, Ada!"]


# --- reading ------------------------------------------------------------------------------------


async def test_a_submitted_job_reads_back_as_pending(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workflow = await deploy_workflow(client, "greeter", GREETER)
    job = await submit(client, "greeter", {"name": "Ada"}, name="first", metadata={"ticket": 7})
    read = await client.get(f"/v1/jobs/{job['id']}")
    assert read.status_code == 200
    body = read.json()
    assert body["status"] == "pending"
    assert body["workflow"] == {"id": workflow["id"], "slug": "greeter"}
    assert body["inputs"] == {"name": "Ada"}
    assert body["name"] == "first"
    assert body["metadata"] == {"ticket": 7}
    assert body["pool"] == "default"
    assert (body["attempt"], body["agent_id"], body["output"], body["steps"]) == (0, None, None, [])


@pytest.mark.parametrize("suffix", ["", "/events"])
async def test_unknown_or_malformed_job_ids_are_a_404(
    client: httpx.AsyncClient, engine: AsyncEngine, suffix: str
) -> None:
    for job_id in (str(uuid.uuid4()), "not-a-uuid", "1234"):
        response = await client.get(f"/v1/jobs/{job_id}{suffix}")
        assert response.status_code == 404, (job_id, response.text)
        assert response.json()["code"] == "not_found"
        assert response.headers["content-type"].startswith(PROBLEM)


async def set_status(engine: AsyncEngine, job_id: str, path: list[JobStatus]) -> None:
    async with engine.begin() as conn:
        assert await repo.transition(conn, uuid.UUID(job_id), repo.Move(path, "test")) is not None


async def listed_ids(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/v1/jobs", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_list_filters(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    greeter = await deploy_workflow(client, "greeter", GREETER)
    await deploy_workflow(client, "other", GREETER)
    g1 = (await submit(client, "greeter", {"name": "a"}))["id"]
    g2 = (await submit(client, "greeter", {"name": "b"}))["id"]
    g3 = (await submit(client, "greeter", {"name": "c"}, pool="gpu"))["id"]
    o1 = (await submit(client, "other", {"name": "d"}))["id"]
    o2 = (await submit(client, "other", {"name": "e"}, pool="gpu"))["id"]
    await set_status(engine, g1, [S.PENDING, S.CANCELED])
    await set_status(engine, o1, [S.PENDING, S.FAILED])
    await set_status(engine, o2, [S.PENDING, S.CLAIMED, S.RUNNING])

    newest_first = [o2, o1, g3, g2, g1]
    assert await listed_ids(client) == newest_first
    assert await listed_ids(client, workflow="greeter") == [g3, g2, g1]
    assert await listed_ids(client, workflow=greeter["id"]) == [g3, g2, g1]
    assert await listed_ids(client, status="pending") == [g3, g2]
    assert await listed_ids(client, status=["canceled", "failed"]) == [o1, g1]
    assert await listed_ids(client, status="canceled,failed") == [o1, g1]
    assert await listed_ids(client, status=["canceled,running", "failed"]) == [o2, o1, g1]
    assert await listed_ids(client, pool="gpu") == [o2, g3]
    assert await listed_ids(client, pool="gpu", status="pending", workflow="greeter") == [g3]
    assert await listed_ids(client, pool="cpu") == []

    summary = (await client.get("/v1/jobs", params={"status": "failed"})).json()["items"][0]
    assert summary["workflow"]["slug"] == "other"
    assert summary["status"] == "failed"
    assert "inputs" not in summary  # the list carries summaries


async def test_list_rejects_unknown_status_and_workflow(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    response = await client.get("/v1/jobs", params={"status": "pending,finished"})
    assert response.status_code == 422, response.text
    assert problem_paths(response) == ["query:status"]
    assert "finished" in response.json()["detail"]
    missing = await client.get("/v1/jobs", params={"workflow": "nope"})
    assert missing.status_code == 404
    bad_cursor = await client.get("/v1/jobs", params={"cursor": "!!!"})
    assert bad_cursor.status_code == 422
    bad_limit = await client.get("/v1/jobs", params={"limit": 0})
    assert bad_limit.status_code == 422


async def test_cursor_pagination_walks_every_job_once_newest_first(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    submitted = [(await submit(client, "greeter", {"name": str(i)}))["id"] for i in range(7)]
    seen: list[str] = []
    pages: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/jobs", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        pages.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [3, 3, 1]
    assert seen == submitted[::-1]

    exact = (await client.get("/v1/jobs", params={"limit": 7})).json()
    assert len(exact["items"]) == 7
    assert exact["next_cursor"] is None
    filtered = (await client.get("/v1/jobs", params={"limit": 2, "status": "pending", "workflow": "greeter"})).json()
    rest = (await client.get("/v1/jobs", params={"limit": 10, "cursor": filtered["next_cursor"]})).json()
    assert [i["id"] for i in filtered["items"] + rest["items"]] == submitted[::-1]


async def test_events_give_the_full_history_with_actors(client: httpx.AsyncClient, start_worker: WorkerFactory) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    await start_worker()
    job = await wait_for_job(client, (await submit(client, "greeter", {"name": "Ada"}))["id"])
    assert job["status"] == "completed"
    response = await client.get(f"/v1/jobs/{job['id']}/events")
    assert response.status_code == 200
    events = response.json()["items"]
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        (None, "pending"),
        ("pending", "claimed"),
        ("claimed", "running"),
        ("running", "validating"),
        ("validating", "uploading"),
        ("uploading", "completed"),
    ]
    assert events[0]["actor"] == "admin"
    assert events[0]["reason"] == "submitted"
    assert {e["actor"] for e in events[1:]} == {f"agent:{job['agent_id']}"}
    times = [e["at"] for e in events]
    assert times == sorted(times)


# --- pools and agents ---------------------------------------------------------------------------


async def test_a_job_runs_only_on_an_agent_serving_its_pool(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    await start_worker(pools=("default",))
    gpu_job = await submit(client, "greeter", {"name": "Gpu"}, pool="gpu")
    # a default-pool job submitted after it completing shows the default worker is taking work
    default_job = await wait_for_job(client, (await submit(client, "greeter", {"name": "Cpu"}))["id"])
    assert default_job["status"] == "completed"
    still = (await client.get(f"/v1/jobs/{gpu_job['id']}")).json()
    assert (still["status"], still["attempt"], still["agent_id"]) == ("pending", 0, None)

    await start_worker(pools=("gpu",))
    done = await wait_for_job(client, gpu_job["id"])
    assert done["status"] == "completed"
    assert done["output"] == {"greeting": "Hello, Gpu!"}
    agents = (await client.get("/v1/agents")).json()["items"]
    by_pools = {tuple(a["pools"]): a["id"] for a in agents}
    assert done["agent_id"] == by_pools[("gpu",)]
    assert default_job["agent_id"] == by_pools[("default",)]


async def test_a_runner_refuses_a_job_outside_its_pools(client: httpx.AsyncClient, make_runner: RunnerFactory) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    job = await submit(client, "greeter", {"name": "Gpu"}, pool="gpu")
    default_runner = await make_runner(pools=("default",))
    assert await default_runner.run(uuid.UUID(job["id"])) is None
    assert (await client.get(f"/v1/jobs/{job['id']}")).json()["status"] == "pending"
    gpu_runner = await make_runner(pools=("cpu", "gpu"))
    assert await gpu_runner.run(uuid.UUID(job["id"])) == "completed"
    done = (await client.get(f"/v1/jobs/{job['id']}")).json()
    assert done["agent_id"] == str(gpu_runner.agent_id)


async def test_agents_are_listed_with_their_pools_and_status(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    assert (await client.get("/v1/agents")).json()["items"] == []
    await start_worker(pools=("default", "gpu"))

    async def listed() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await client.get("/v1/agents")).json()["items"]
        return items

    agents = await eventually(listed, what="the worker to register as an agent")
    assert len(agents) == 1
    agent = agents[0]
    assert agent["pools"] == ["default", "gpu"]
    assert agent["status"] == "online"
    assert agent["pid"] > 0
    assert agent["host"]
    online = (await client.get("/v1/agents", params={"status": "online"})).json()["items"]
    assert [a["id"] for a in online] == [agent["id"]]
    assert (await client.get("/v1/agents", params={"status": "offline"})).json()["items"] == []
    assert (await client.get("/v1/agents", params={"status": "asleep"})).status_code == 422


async def test_an_output_that_breaks_the_output_schema_fails_while_validating(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    definition = {**GREETER, "output_schema": {"type": "object", "properties": {"greeting": {"type": "integer"}}}}
    await deploy_workflow(client, "greeter", definition)
    await start_worker()
    job = await wait_for_job(client, (await submit(client, "greeter", {"name": "Ada"}))["id"])
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "output_invalid"
    assert "$.greeting" in job["error"]["message"]
    assert job["output"] is None
    assert job["steps"][0]["status"] == "completed"
    events = (await client.get(f"/v1/jobs/{job['id']}/events")).json()["items"]
    assert [(e["from_status"], e["to_status"]) for e in events][-2:] == [
        ("running", "validating"),
        ("validating", "failed"),
    ]
    assert events[-1]["reason"] == "output_invalid"
