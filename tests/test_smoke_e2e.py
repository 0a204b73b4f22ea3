from __future__ import annotations

import httpx

from tests.conftest import BASE_URL, WorkerFactory, wait_for_job

GREETER = {
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "variables": {"greeting": "Hello"},
    "steps": [{"id": "compose", "type": "transform", "output": {"text": "{{ vars.greeting }}, {{ inputs.name }}!"}}],
    "output": {"greeting": "{{ steps.compose.output.text }}"},
}


async def test_async_job_runs_to_completion_on_an_arq_worker(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    created = await client.post("/v1/workflows", json={"name": "Greeter", "definition": GREETER})
    assert created.status_code == 201, created.text
    deployed = await client.post("/v1/workflows/greeter/deploy")
    assert deployed.status_code == 201, deployed.text
    await start_worker()
    submitted = await client.post(
        "/v1/workflows/greeter/versions/current/async",
        json={"inputs": {"name": "Ada"}, "variables": {"greeting": "Hi"}},
    )
    assert submitted.status_code == 202, submitted.text
    assert submitted.headers["Location"] == f"{BASE_URL}/v1/jobs/{submitted.json()['id']}"
    job = await wait_for_job(client, submitted.json()["id"])
    assert job["status"] == "completed", job
    assert job["output"] == {"greeting": "Hi, Ada!"}
    assert job["steps"][0]["status"] == "completed"
