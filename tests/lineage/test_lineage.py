"""Rerun, run from a step and duplicate: new jobs linked to their source, run by a real worker."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx

from tests.conftest import BASE_URL, WorkerFactory, wait_for_job
from tests.jobs.conftest import deploy_workflow, submit
from tests.servers import EchoServer

PIPELINE: dict[str, Any] = {
    "input_schema": {
        "type": "object",
        "properties": {"base": {"type": "string"}, "name": {"type": "string"}, "path": {"type": "string"}},
        "required": ["base", "name"],
    },
    "variables": {"greeting": "Hello", "suffix": "!"},
    "steps": [
        {
            "id": "fetch",
            "type": "http",
            "method": "POST",
            "url": "{{ inputs.base }}{{ inputs.path | default('/fetch') }}",
            "json": {"name": "{{ inputs.name }}"},
        },
        {"id": "shape", "type": "transform", "output": {"who": "{{ steps.fetch.output.body.json.name | upper }}"}},
        {
            "id": "compose",
            "type": "transform",
            "output": {"text": "{{ vars.greeting }}, {{ steps.shape.output.who }}{{ vars.suffix }}"},
        },
    ],
    "output": {"text": "{{ steps.compose.output.text }}"},
}


async def completed_source(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer, **body: Any
) -> dict[str, Any]:
    await deploy_workflow(client, "pipeline", PIPELINE)
    await start_worker()
    job = await submit(client, "pipeline", {"base": echo_server.url, "name": "ada"}, **body)
    done = await wait_for_job(client, job["id"])
    assert done["status"] == "completed", done
    return done


async def deploy_version(client: httpx.AsyncClient, definition: dict[str, Any]) -> int:
    updated = await client.put("/v1/workflows/pipeline/draft", json={"definition": definition})
    assert updated.status_code == 200, updated.text
    deployed = await client.post("/v1/workflows/pipeline/deploy")
    assert deployed.status_code == 201, deployed.text
    number: int = deployed.json()["number"]
    return number


async def create(client: httpx.AsyncClient, job_id: str, action: str, body: Any = None) -> dict[str, Any]:
    response = await client.post(f"/v1/jobs/{job_id}/{action}", json=body)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    assert response.headers["Location"] == f"{BASE_URL}/v1/jobs/{job['id']}"
    return job


async def test_rerun_is_a_new_job_with_the_same_inputs_variables_and_version_linked_to_its_source(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    source = await completed_source(client, start_worker, echo_server, variables={"suffix": "?"}, name="first")
    rerun = await create(client, source["id"], "rerun")
    assert rerun["id"] != source["id"]
    assert rerun["source"] == {"job_id": source["id"], "kind": "rerun", "from_step": None}
    assert (source["origin"], rerun["origin"]) == ("api", "rerun")
    assert (rerun["inputs"], rerun["variables"], rerun["version"], rerun["name"]) == (
        source["inputs"], {"suffix": "?"}, source["version"], "first",
    )  # fmt: skip
    assert rerun["status"] == "pending"
    assert rerun["steps"] == []
    done = await wait_for_job(client, rerun["id"])
    assert done["status"] == "completed", done
    assert done["output"] == {"text": "Hello, ADA?"}
    assert len(echo_server.requests) == 2  # a rerun runs every step again
    assert source["source"] is None
    assert (await client.get(f"/v1/jobs/{source['id']}")).json() == source
    listed = {j["id"]: j for j in (await client.get("/v1/jobs")).json()["items"]}
    assert listed[rerun["id"]]["source"] == rerun["source"]
    assert (listed[rerun["id"]]["origin"], listed[source["id"]]["origin"]) == ("rerun", "api")
    assert listed[source["id"]]["source"] is None


async def test_run_from_the_second_step_copies_the_first_without_calling_it_again(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    source = await completed_source(client, start_worker, echo_server)
    assert len(echo_server.requests) == 1
    job = await create(client, source["id"], "run-from-step", {"step": "shape", "variables": {"greeting": "Hi"}})
    assert job["source"] == {"job_id": source["id"], "kind": "run_from_step", "from_step": "shape"}
    assert job["variables"] == {"greeting": "Hi"}
    [copied] = job["steps"]
    assert (copied["id"], copied["status"]) == ("fetch", "completed")

    done = await wait_for_job(client, job["id"])
    assert done["status"] == "completed", done
    assert done["output"] == {"text": "Hi, ADA!"}
    assert len(echo_server.requests) == 1  # the http step was not called again
    fetch, shape, compose = done["steps"]
    original = source["steps"][0]
    assert fetch["output"] == original["output"]
    assert fetch["detail"] == {**(original["detail"] or {}), "copied_from": source["id"]}
    assert (fetch["started_at"], fetch["finished_at"]) == (original["started_at"], original["finished_at"])
    assert shape["status"] == compose["status"] == "completed"
    assert shape["detail"] is None or "copied_from" not in shape["detail"]
    assert [e["to_status"] for e in (await client.get(f"/v1/jobs/{job['id']}/events")).json()["items"]] == [
        "pending", "claimed", "running", "validating", "uploading", "completed",
    ]  # fmt: skip
    assert (await client.get(f"/v1/jobs/{source['id']}")).json() == source


async def test_run_from_step_with_new_inputs_runs_from_there_with_them(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    source = await completed_source(client, start_worker, echo_server)
    inputs = {"base": echo_server.url, "name": "grace"}
    job = await create(client, source["id"], "run-from-step", {"step": "fetch", "inputs": inputs})
    assert job["inputs"] == inputs
    assert job["steps"] == []
    done = await wait_for_job(client, job["id"])
    assert done["output"] == {"text": "Hello, GRACE!"}
    assert len(echo_server.requests) == 2


async def test_run_from_step_on_another_version_whose_earlier_steps_match(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    source = await completed_source(client, start_worker, echo_server)
    v2 = copy.deepcopy(PIPELINE)
    v2["steps"][2]["output"] = {"text": "{{ vars.greeting }} there, {{ steps.shape.output.who }}"}
    assert await deploy_version(client, v2) == 2
    job = await create(client, source["id"], "run-from-step", {"step": "compose", "version": 2})
    assert job["version"] == 2
    assert [s["id"] for s in job["steps"]] == ["fetch", "shape"]
    done = await wait_for_job(client, job["id"])
    assert done["status"] == "completed", done
    assert done["output"] == {"text": "Hello there, ADA"}
    assert len(echo_server.requests) == 1


async def test_run_from_step_on_a_version_whose_earlier_steps_differ_is_a_conflict(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    source = await completed_source(client, start_worker, echo_server)
    v2 = copy.deepcopy(PIPELINE)
    v2["steps"][1]["output"] = {"who": "{{ steps.fetch.output.body.json.name }}"}
    await deploy_version(client, v2)
    response = await client.post(
        f"/v1/jobs/{source['id']}/run-from-step", json={"step": "compose", "version": "current"}
    )
    assert response.status_code == 409, response.text
    assert (response.json()["code"], response.json()["step"]) == ("steps_differ", "shape")
    # The first step is identical in both versions, so running from the second one is fine.
    job = await create(client, source["id"], "run-from-step", {"step": "shape", "version": 2})
    assert (await wait_for_job(client, job["id"]))["output"] == {"text": "Hello, ada!"}
    assert len(echo_server.requests) == 1


async def test_run_from_step_validates_the_step_inputs_and_variables(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    source = await completed_source(client, start_worker, echo_server)
    url = f"/v1/jobs/{source['id']}/run-from-step"
    unknown = await client.post(url, json={"step": "nope"})
    assert unknown.status_code == 422, unknown.text
    assert [e["path"] for e in unknown.json()["errors"]] == ["$.step"]
    bad_inputs = await client.post(url, json={"step": "shape", "inputs": {"name": "x"}})
    assert (bad_inputs.status_code, bad_inputs.json()["code"]) == (422, "invalid_input")
    bad_variable = await client.post(url, json={"step": "shape", "variables": {"colour": "red"}})
    assert bad_variable.status_code == 422
    assert [e["path"] for e in bad_variable.json()["errors"]] == ["$.variables.colour"]
    assert len((await client.get("/v1/jobs")).json()["items"]) == 1


async def test_run_from_step_needs_the_source_to_have_completed_the_earlier_steps(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    await deploy_workflow(client, "pipeline", PIPELINE)
    await start_worker()
    job = await submit(client, "pipeline", {"base": echo_server.url, "name": "ada", "path": "/status/500"})
    failed = await wait_for_job(client, job["id"])
    assert failed["status"] == "failed"
    response = await client.post(f"/v1/jobs/{job['id']}/run-from-step", json={"step": "compose"})
    assert response.status_code == 409, response.text
    assert (response.json()["code"], response.json()["missing"]) == ("steps_not_completed", ["fetch", "shape"])
    # From the first step nothing is copied, so it is allowed (here with inputs that work).
    inputs = {"base": echo_server.url, "name": "ada"}
    again = await create(client, job["id"], "run-from-step", {"step": "fetch", "inputs": inputs})
    assert (await wait_for_job(client, again["id"]))["status"] == "completed"
    assert (await client.get(f"/v1/jobs/{job['id']}")).json() == failed


async def test_a_duplicate_left_new_is_not_run_until_started(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    source = await completed_source(client, start_worker, echo_server, metadata={"team": "a"}, name="orig")
    dup = await create(client, source["id"], "duplicate", {"start": False, "variables": {"greeting": "Hey"}})
    assert (dup["status"], dup["name"], dup["variables"]) == ("new", "orig", {"greeting": "Hey"})
    assert dup["metadata"] == {"team": "a"}
    assert dup["inputs"] == source["inputs"]
    assert dup["source"] == {"job_id": source["id"], "kind": "duplicate", "from_step": None}
    assert dup["origin"] == "duplicate"
    await asyncio.sleep(0.5)
    assert (await client.get(f"/v1/jobs/{dup['id']}")).json()["status"] == "new"
    assert len(echo_server.requests) == 1
    events = (await client.get(f"/v1/jobs/{dup['id']}/events")).json()["items"]
    assert [(e["from_status"], e["to_status"]) for e in events] == [(None, "new")]

    started = await client.post(f"/v1/jobs/{dup['id']}/start")
    assert started.status_code == 200, started.text
    assert started.json()["status"] in ("pending", "claimed", "running", "completed")
    done = await wait_for_job(client, dup["id"])
    assert done["output"] == {"text": "Hey, ADA!"}
    events = (await client.get(f"/v1/jobs/{dup['id']}/events")).json()["items"]
    assert [(e["from_status"], e["to_status"]) for e in events][:2] == [(None, "new"), ("new", "pending")]

    again = await client.post(f"/v1/jobs/{dup['id']}/start")
    assert again.status_code == 409
    assert (again.json()["code"], again.json()["job_status"]) == ("job_not_new", "completed")
    assert (await client.post(f"/v1/jobs/{source['id']}/start")).status_code == 409


async def test_a_started_duplicate_runs_at_once_with_its_new_name(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    source = await completed_source(client, start_worker, echo_server)
    dup = await create(client, source["id"], "duplicate", {"start": True, "name": "copy"})
    assert (dup["status"], dup["name"]) == ("pending", "copy")
    done = await wait_for_job(client, dup["id"])
    assert done["output"] == {"text": "Hello, ADA!"}
    assert len(echo_server.requests) == 2


async def test_a_new_job_can_be_canceled_and_then_not_started(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    source = await completed_source(client, start_worker, echo_server)
    dup = await create(client, source["id"], "duplicate", {"start": False})
    canceled = await client.post(f"/v1/jobs/{dup['id']}/cancel")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    events = (await client.get(f"/v1/jobs/{dup['id']}/events")).json()["items"]
    assert [(e["from_status"], e["to_status"]) for e in events] == [(None, "new"), ("new", "canceled")]
    started = await client.post(f"/v1/jobs/{dup['id']}/start")
    assert (started.status_code, started.json()["job_status"]) == (409, "canceled")


async def test_unknown_source_jobs_are_404(client: httpx.AsyncClient) -> None:
    bodies = {"rerun": None, "run-from-step": {"step": "a"}, "duplicate": {"start": True}, "start": None}
    for job_id in ("0190a000-0000-7000-8000-000000000000", "not-a-uuid"):
        for action, body in bodies.items():
            response = await client.post(f"/v1/jobs/{job_id}/{action}", json=body)
            assert (response.status_code, response.json()["code"]) == (404, "not_found"), (action, response.text)


BRANCHING: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"big": {"type": "boolean"}}, "required": ["big"]},
    "steps": [
        {"id": "check", "type": "condition", "if": "inputs.big", "then": "big", "else": "small"},
        {"id": "big", "type": "transform", "output": "big"},
        {"id": "small", "type": "transform", "output": "small"},
        {
            "id": "last",
            "type": "transform",
            "needs": ["big", "small"],
            "output": "{{ steps.big.output or steps.small.output }}",
        },
    ],
    "output": {"size": "{{ steps.last.output }}"},
}


async def test_a_run_from_a_step_after_a_condition_keeps_the_branch_the_condition_took(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    """The copied condition's choice holds: the branch it did not take stays skipped (the same holds for a
    retried attempt, which resumes from the steps its earlier attempt completed, as a run from a step does)."""
    await deploy_workflow(client, "branching", BRANCHING)
    await start_worker()
    for big, taken, other in ((True, "big", "small"), (False, "small", "big")):
        source = await wait_for_job(client, (await submit(client, "branching", {"big": big}))["id"])
        assert source["output"] == {"size": taken}, source
        # From `big`, the first step after the condition: its record is copied, the branches run again.
        job = await create(client, source["id"], "run-from-step", {"step": "big"})
        done = await wait_for_job(client, job["id"])
        assert done["status"] == "completed", done
        assert done["output"] == {"size": taken}, done
        statuses = {step["id"]: step["status"] for step in done["steps"]}
        assert (statuses["check"], statuses[taken], statuses[other]) == ("completed", "completed", "skipped"), done
