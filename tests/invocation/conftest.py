"""Helpers for the invocation-contract tests: workflows of slow HTTP steps against the echo server,
the three invocation endpoints, and the states to poll for (with `tests.conftest.eventually`) instead of
sleeping."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.jobs.conftest import deploy_workflow

GREETER: dict[str, Any] = {
    "input_schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "count": {"type": "integer"}},
        "required": ["name"],
    },
    "steps": [{"id": "compose", "type": "transform", "output": {"text": "Hello, {{ inputs.name }}!"}}],
    "output": {"greeting": "{{ steps.compose.output.text }}"},
}
ADA: dict[str, Any] = {"inputs": {"name": "Ada"}}


def http_step(step_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "http", "url": url, **extra}


def http_workflow(*steps: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A definition of `steps` (http steps built with http_step), with top-level fields such as timeout_s."""
    return {"input_schema": {"type": "object"}, "steps": list(steps), **top}


deploy = deploy_workflow


def endpoint(slug: str, mode: str, version: str = "current") -> str:
    return f"/v1/workflows/{slug}/versions/{version}/{mode}"


async def invoke(
    client: httpx.AsyncClient,
    slug: str,
    mode: str,
    body: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    version: str = "current",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST to one of the invocation endpoints (`async`, `sync`, `push`)."""
    sent = dict(headers or {})
    if key is not None:
        sent["Idempotency-Key"] = key
    return await client.post(endpoint(slug, mode, version), json=ADA if body is None else body, headers=sent)


async def patch_settings(client: httpx.AsyncClient, slug: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.patch(f"/v1/workflows/{slug}/settings", json=body)
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    return settings


async def job_in_status(client: httpx.AsyncClient, job_id: str, *statuses: str) -> dict[str, Any] | None:
    response = await client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job if job["status"] in statuses else None


async def list_jobs(client: httpx.AsyncClient, workflow: str | None = None) -> list[dict[str, Any]]:
    response = await client.get("/v1/jobs", params={"workflow": workflow} if workflow else None)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def events(client: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/jobs/{job_id}/events")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def count_rows(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())
