"""Helpers for the workflows API tests, and for writing a workflow's settings where the API would refuse the value."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.models import Workflow
from workflow_service.problems import PROBLEM_MEDIA_TYPE

workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]

GREETER: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "variables": {"greeting": "Hello"},
    "steps": [{"id": "compose", "type": "transform", "output": {"text": "{{ vars.greeting }}, {{ inputs.name }}!"}}],
    "output": {"greeting": "{{ steps.compose.output.text }}"},
}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and code; returns the body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:workflow-service:problem:{code}"
    assert body["code"] == code
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


async def create_workflow(
    client: httpx.AsyncClient, name: str = "Greeter", definition: Any = None, **extra: Any
) -> dict[str, Any]:
    body = {"name": name, "definition": GREETER if definition is None else definition, **extra}
    response = await client.post("/v1/workflows", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def deploy(client: httpx.AsyncClient, ref: str) -> dict[str, Any]:
    response = await client.post(f"/v1/workflows/{ref}/deploy")
    assert response.status_code == 201, response.text
    version: dict[str, Any] = response.json()
    return version


async def set_push_timeout(engine: AsyncEngine, slug: str, seconds: int) -> None:
    """The API only accepts 60-600 s; tests cannot wait a minute, so write a short one directly."""
    async with engine.begin() as conn:
        stored: dict[str, Any] = (
            await conn.execute(sa.select(workflow_t.c.settings).where(workflow_t.c.slug == slug))
        ).scalar_one()
        stored["push"]["timeout_s"] = seconds
        await conn.execute(workflow_t.update().where(workflow_t.c.slug == slug).values(settings=stored))
