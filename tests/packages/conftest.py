"""The package tests' world: one app with a secret key, on an emptied database, and `Banking Assistant`, a
deployed workflow with every kind of step, guardrails, variables, endpoint settings and plain and secure
environment variables (and `Lookup`, the workflow its `workflow` step runs)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TOKEN, ClientFactory, connections, empty_database, make_settings
from workflow_service.packages.spec import FILES

KEY = Fernet.generate_key().decode()
"""The service's WFS_SECRET_KEY: secure values are stored encrypted with it."""
SECRET = "sk-live-9f8e7d6c5b4a"
"""The secure variable API_TOKEN's value, which no package without a passphrase may hold in any form."""
PUSH_TOKEN = "push-access-token-4411"
NAME = "Banking Assistant"
SLUG = "banking-assistant"
LOOKUP = {"steps": [{"id": "echo", "type": "transform", "output": {"found": "{{ inputs.q }}"}}]}
DEFINITION: dict[str, Any] = {
    "description": "Answers banking questions",
    "input_schema": {"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]},
    "output_schema": {"type": "object"},
    "variables": {"tone": "friendly", "limit": 3},
    "guardrails": {
        "inputs": [{"name": "no_secrets", "kind": "secrets", "action": "block"}],
        "llm_outputs": [{"kind": "deny_list", "words": ["confidential"], "action": "redact"}],
    },
    "model": {"provider": "openai", "name": "gpt-test", "temperature": 0.2, "max_tokens": 400},
    "timeout_s": 120,
    "steps": [
        {"id": "gate", "type": "condition", "if": "inputs.question", "then": "ask"},
        {"id": "ask", "type": "llm", "prompt": "In a {{ vars.tone }} tone: {{ inputs.question }}", "timeout_s": 30,
         "retry": {"max_attempts": 2, "backoff_s": 1}},
        {"id": "split", "type": "tool", "tool": "text.split", "args": {"text": "{{ steps.ask.output }}"}},
        {"id": "lookup", "type": "workflow", "workflow": "lookup", "inputs": {"q": "{{ inputs.question }}"}},
        {"id": "report", "type": "http", "method": "POST", "url": "http://127.0.0.1:9/report", "timeout_s": 10,
         "headers": {"Authorization": "Bearer {{ env.API_TOKEN }}"}, "json": {"region": "{{ env.REGION }}"}},
        {"id": "shape", "type": "transform", "output": {"parts": "{{ steps.split.output }}"}},
    ],
    "output": {"answer": "{{ steps.ask.output }}", "parts": "{{ steps.shape.output.parts }}"},
}  # fmt: skip
ENV = {
    "REGION": {"value": "eu-west", "notes": "where reports go"},
    "API_TOKEN": {"value": SECRET, "secure": True, "notes": "the report service's token"},
    "EMPTY_NOTES": {"value": "x"},
}


@dataclass
class World:
    """The app's clients (`admin`: the operator), the exported workflow's id and its signing secrets (which no
    package may hold)."""

    connect: ClientFactory
    admin: httpx.AsyncClient
    engine: AsyncEngine
    workflow_id: str = ""
    signing_secrets: list[str] = field(default_factory=list)

    async def ok(self, method: str, url: str, body: Any = None) -> Any:
        response = await self.admin.request(method, url, json=body)
        assert response.is_success, (method, url, response.text)
        return None if response.status_code == 204 else response.json()

    async def export(
        self, ref: str = SLUG, version: str | None = None, passphrase: str | None = None
    ) -> httpx.Response:
        params = {} if version is None else {"version": version}
        headers = {} if passphrase is None else {"X-Export-Passphrase": passphrase}
        return await self.admin.get(f"/v1/workflows/{ref}/export", params=params, headers=headers)


async def build(world: World) -> None:
    await world.ok("POST", "/v1/workflows", {"name": "Lookup", "definition": LOOKUP})
    await world.ok("POST", "/v1/workflows/lookup/deploy")
    made = await world.ok(
        "POST", "/v1/workflows", {"name": NAME, "description": "Our bank's helper", "definition": DEFINITION}
    )
    world.workflow_id = made["id"]
    await world.ok("POST", f"/v1/workflows/{SLUG}/deploy")
    for name, body in ENV.items():
        await world.ok("PUT", f"/v1/workflows/{SLUG}/env/{name}", body)
    push = {"enabled": True, "callback_url": "http://127.0.0.1:9/hook", "access_token": PUSH_TOKEN, "timeout_s": 120}
    settings = {"sync_timeout_s": 90, "queue_timeout_s": 600, "retention_days": 30, "push": push}
    enabled = await world.ok("PATCH", f"/v1/workflows/{SLUG}/settings", settings)
    rotated = await world.ok("POST", f"/v1/workflows/{SLUG}/settings/rotate-signing-secret")
    world.signing_secrets = [enabled["signing_secret"], rotated["signing_secret"]]


@pytest.fixture(scope="module")
async def world(session_engine: AsyncEngine, redis_client: aioredis.Redis) -> AsyncIterator[World]:
    """The world, made once for the module on an emptied database, served by one app."""
    async with session_engine.begin() as conn:
        await empty_database(conn)
    await redis_client.flushdb()
    async with connections(make_settings(secret_key=SecretStr(KEY))) as connect:
        made = World(connect, connect(TOKEN), session_engine)
        await build(made)
        yield made


def unzip(content: bytes) -> dict[str, bytes]:
    """The package's files by name, in the zip's order (which must be FILES')."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = archive.namelist()
        assert names == list(FILES)
        return {name: archive.read(name) for name in names}


def files_of(content: bytes) -> dict[str, Any]:
    return {name: json.loads(data) for name, data in unzip(content).items()}
