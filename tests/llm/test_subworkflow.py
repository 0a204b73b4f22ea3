"""The `workflow` step: a deployed workflow run as a child job, linked both ways."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import WorkerFactory, wait_for_job
from tests.jobs.conftest import deploy_workflow

CHILD = {
    "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
    "variables": {"suffix": "!"},
    "steps": [{"id": "shout", "type": "transform", "output": {"loud": "{{ inputs.word | upper }}{{ vars.suffix }}"}}],
}
PARENT = {
    "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}},
    "steps": [
        {"id": "call", "type": "workflow", "workflow": "child", "inputs": {"word": "{{ inputs.word }}"}},
        {"id": "wrap", "type": "transform", "output": {"child_said": "{{ steps.call.output.loud }}"}},
    ],
}


async def run(client: httpx.AsyncClient, slug: str, inputs: dict[str, Any]) -> dict[str, Any]:
    submitted = await client.post(f"/v1/workflows/{slug}/versions/current/async", json={"inputs": inputs})
    assert submitted.status_code == 202, submitted.text
    return await wait_for_job(client, submitted.json()["id"], wait_s=20)


async def test_a_child_job_runs_and_its_output_becomes_the_step_output(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy_workflow(client, "child", CHILD)
    await deploy_workflow(client, "parent", PARENT)
    await start_worker()

    job = await run(client, "parent", {"word": "hey"})

    assert job["status"] == "completed", job["error"]
    assert job["output"] == {"child_said": "HEY!"}
    call = job["steps"][0]
    assert call["output"] == {"loud": "HEY!"}
    child = (await client.get(f"/v1/jobs/{call['detail']['child_job_id']}")).json()
    assert (child["workflow"]["slug"], child["status"], child["inputs"]) == ("child", "completed", {"word": "hey"})
    assert child["parent"] == {"job_id": job["id"], "step": "call"}
    assert job["parent"] is None


async def test_a_failed_child_fails_the_step(client: httpx.AsyncClient, start_worker: WorkerFactory) -> None:
    await deploy_workflow(client, "child", CHILD)
    passing = {"steps": [{"id": "call", "type": "workflow", "workflow": "child", "inputs": {"word": "{{ inputs.n }}"}}]}
    await deploy_workflow(client, "parent", passing)
    await start_worker()

    job = await run(client, "parent", {"n": 5})  # the child wants a string

    assert job["status"] == "failed"
    assert (job["error"]["code"], job["error"]["step"]) == ("workflow_error", "call")
    assert "$.inputs.word" in job["error"]["message"]


async def test_a_child_that_fails_while_running_is_child_failed(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    broken = {"steps": [{"id": "bad", "type": "transform", "output": "{{ inputs.missing }}"}]}
    await deploy_workflow(client, "child", broken)
    await deploy_workflow(client, "parent", {"steps": [{"id": "call", "type": "workflow", "workflow": "child"}]})
    await start_worker()

    job = await run(client, "parent", {})

    assert job["error"]["code"] == "child_failed"
    assert "template_error" in job["error"]["message"]


@pytest.mark.parametrize(
    ("target", "message"),
    [("drafty", "has never been deployed"), ("nowhere", "there is no workflow"), ("selfish", "cannot run itself")],
)
async def test_a_step_must_name_another_deployed_workflow(
    client: httpx.AsyncClient, engine: Any, target: str, message: str
) -> None:
    created = await client.post("/v1/workflows", json={"name": "drafty", "definition": CHILD})
    assert created.status_code == 201
    definition = {"steps": [{"id": "call", "type": "workflow", "workflow": target}]}
    assert (await client.post("/v1/workflows", json={"name": "selfish", "definition": definition})).is_success
    deployed = await client.post("/v1/workflows/selfish/deploy")
    assert deployed.status_code == 422
    [problem] = deployed.json()["errors"]
    assert problem["path"] == "$.steps[0].workflow"
    assert message in problem["message"]


async def test_a_job_shows_its_effective_and_overridden_variables(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "child", {**CHILD, "variables": {"suffix": "!", "prefix": ">"}})
    submitted = await client.post(
        "/v1/workflows/child/versions/current/async", json={"inputs": {"word": "x"}, "variables": {"suffix": "?"}}
    )
    job = (await client.get(f"/v1/jobs/{submitted.json()['id']}")).json()
    assert job["variables"] == {"suffix": "?"}
    assert job["effective_variables"] == {"suffix": "?", "prefix": ">"}
    assert job["overridden_variables"] == ["suffix"]
