"""The API with small body and step-output limits, so that tests exceed them with little data; running a job."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_settings, wait_for_job
from tests.jobs.conftest import deploy_workflow
from workflow_service.config import Settings

BODY_LIMIT = 64 * 1024
OUTPUT_LIMIT = 16 * 1024


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    return make_settings(max_body_bytes=BODY_LIMIT, max_step_output_bytes=OUTPUT_LIMIT)


async def run_job(client: httpx.AsyncClient, definition: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    await deploy_workflow(client, "wf", {"input_schema": {"type": "object"}, **definition})
    response = await client.post("/v1/workflows/wf/versions/current/async", json={"inputs": inputs, "cache": "never"})
    assert response.status_code == 202, response.text
    return await wait_for_job(client, response.json()["id"], wait_s=20)
