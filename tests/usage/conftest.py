"""Fixtures for the usage, cost, estimate and cache tests: settings with a pricing table (and a secret
key, for secure variables), a worker pointed at the real local model server, and helpers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import WorkerFactory, make_settings, wait_for_job
from tests.llm.conftest import ModelServer
from workflow_service.config import Settings

PRICING = {
    "openai/gpt-test": {"input_per_1k": 2.0, "output_per_1k": 8.0},  # by provider/requested name
    "claude-test": {"input_per_1k": 1.0, "output_per_1k": 5.0},  # by bare name
}


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    return make_settings(pricing=PRICING, secret_key=SecretStr(Fernet.generate_key().decode()))


async def start(start_worker: WorkerFactory, server: ModelServer, **overrides: Any) -> None:
    await start_worker(
        openai_base_url=f"{server.url}/v1", openai_api_key=SecretStr("sk-test"), anthropic_base_url=server.url,
        anthropic_api_key=SecretStr("ant-test"), llm_backoff_s=0.05, **overrides,
    )  # fmt: skip


async def submit(client: httpx.AsyncClient, slug: str, endpoint: str = "async", **body: Any) -> httpx.Response:
    return await client.post(f"/v1/workflows/{slug}/versions/current/{endpoint}", json=body)


async def run(client: httpx.AsyncClient, slug: str, **body: Any) -> dict[str, Any]:
    """Submit a job (async) and wait for it to end."""
    response = await submit(client, slug, **body)
    assert response.status_code == 202, response.text
    return await wait_for_job(client, response.json()["id"], wait_s=20)
