"""`GET /v1/jobs/{id}?steps=false`: the job without its step records, which can be much larger than the rest."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.conftest import OUTPUT_LIMIT, run_job
from tests.conftest import WorkerFactory


async def test_a_job_is_read_without_its_steps(
    client: httpx.AsyncClient, start_worker: WorkerFactory, engine: AsyncEngine
) -> None:
    await start_worker()
    big = "w" * (OUTPUT_LIMIT - 1000)
    job = await run_job(
        client,
        {"steps": [{"id": "first", "type": "transform", "output": "{{ inputs.text }}"},
                   {"id": "second", "type": "transform", "output": "{{ steps.first.output }}"}]},
        {"text": big},
    )  # fmt: skip
    assert job["status"] == "completed", job["error"]
    full = await client.get(f"/v1/jobs/{job['id']}")
    assert full.json()["steps"] is not None
    assert len(full.json()["steps"]) == 2
    assert (await client.get(f"/v1/jobs/{job['id']}", params={"steps": "true"})).json() == full.json()
    light = await client.get(f"/v1/jobs/{job['id']}", params={"steps": "false"})
    assert light.status_code == 200
    assert light.json() == {**full.json(), "steps": None}
    assert len(light.content) < len(full.content) / 2
    refused = await client.get(f"/v1/jobs/{job['id']}", params={"steps": "maybe"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["path"] == "query:steps"
