"""One app and one worker for the outputs tests, on PostgreSQL and Redis: the workflow `reports` ("Quarterly
Reports"), whose output is the `value` it was given (a transform step), after a model step (the model server echoes)
that gives each job a step with a model and its timing; the people who read its jobs, and helpers to run jobs."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import issue_key
from tests.conftest import TOKEN, connections, empty_database, make_settings, wait_for_job
from tests.llm.conftest import ModelServer
from workflow_service.worker.arq_worker import WorkerOptions, serve_worker

SLUG = "reports"
NAME = "Quarterly Reports"
DEFINITION: dict[str, Any] = {
    "model": {"provider": "openai", "name": "gpt-test", "temperature": 0},
    "input_schema": {"type": "object", "properties": {"value": {}}, "required": ["value"]},
    "steps": [
        {"id": "shape", "type": "transform", "output": "{{ inputs.value }}"},
        {"id": "ask", "type": "llm", "prompt": "Summarise the report"},
    ],
    "output": "{{ steps.shape.output }}",
}
IDLE = "idle"
"""A pool no worker serves: jobs submitted to it stay pending."""


@dataclass
class World:
    """The app's clients: the operator, a runner (who creates most jobs), a viewer of `reports`, a member not
    invited to it, and an API key of `reports`."""

    admin: httpx.AsyncClient
    runner: httpx.AsyncClient
    viewer: httpx.AsyncClient
    outsider: httpx.AsyncClient
    key: httpx.AsyncClient

    async def run(self, value: Any, name: str | None = None, client: httpx.AsyncClient | None = None) -> dict[str, Any]:
        """A job of `reports` with `value` as its output, run to its end (as the runner by default)."""
        body = {"inputs": {"value": value}, "name": name, "cache": "never"}
        response = await (client or self.runner).post(f"/v1/workflows/{SLUG}/versions/current/async", json=body)
        assert response.status_code == 202, response.text
        job = await wait_for_job(self.admin, response.json()["id"])
        assert job["status"] == "completed", job
        return job

    async def pending(self) -> dict[str, Any]:
        """A job of `reports` that stays pending."""
        body = {"inputs": {"value": "later"}, "pool": IDLE}
        response = await self.runner.post(f"/v1/workflows/{SLUG}/versions/current/async", json=body)
        assert response.status_code == 202, response.text
        job: dict[str, Any] = response.json()
        return job


async def _user(admin: httpx.AsyncClient, email: str, role: str | None) -> str:
    """A member of the workspace, invited to `reports` with `role` (None: not invited); their token."""
    made = await admin.post("/v1/users", json={"email": email, "name": email.split("@")[0], "role": "member"})
    assert made.status_code == 201, made.text
    if role is not None:
        shared = await admin.put(f"/v1/workflows/{SLUG}/members/{made.json()['id']}", json={"role": role})
        assert shared.status_code in (200, 201), shared.text
    token: str = made.json()["token"]
    return token


@pytest.fixture(scope="package")
async def world(session_engine: AsyncEngine, redis_client: aioredis.Redis) -> AsyncIterator[World]:
    async with session_engine.begin() as conn:
        await empty_database(conn)
    await redis_client.flushdb()
    model = ModelServer()
    model.start()
    settings = make_settings(openai_base_url=f"{model.url}/v1", openai_api_key=SecretStr("k"))
    stop = asyncio.Event()
    options = WorkerOptions(pools=("default",), concurrency=4, grace_s=2.0, handle_signals=False)
    worker = asyncio.create_task(serve_worker(settings, options, stop))
    try:
        async with connections(settings) as connect:
            admin = connect(TOKEN)
            made = await admin.post("/v1/workflows", json={"name": NAME, "slug": SLUG, "definition": DEFINITION})
            assert made.status_code == 201, made.text
            assert (await admin.post(f"/v1/workflows/{SLUG}/deploy")).status_code == 201
            yield World(
                admin=admin,
                runner=connect(await _user(admin, "runner@example.com", "runner")),
                viewer=connect(await _user(admin, "viewer@example.com", "viewer")),
                outsider=connect(await _user(admin, "outsider@example.com", None)),
                key=connect((await issue_key(admin, SLUG))["key"]),
            )
    finally:
        stop.set()
        await asyncio.gather(worker, return_exceptions=True)
        model.stop()


def pdf_text(content: bytes) -> str:
    """The text of every page of a PDF, read back."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def pages(content: bytes) -> int:
    return len(PdfReader(io.BytesIO(content)).pages)


async def download(client: httpx.AsyncClient, url: str, status: int = 200, **params: str) -> httpx.Response:
    """GET a file; its response, checked to have `status`."""
    response = await client.get(url, params=params)
    assert response.status_code == status, response.text
    return response
