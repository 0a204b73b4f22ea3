"""Fixtures for the environment variable tests: settings with a WFS_SECRET_KEY, and helpers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_settings
from tests.deliveries.conftest import receiver  # noqa: F401  (the webhook receiver fixture)
from workflow_service.config import Settings
from workflow_service.models import WorkflowEnv

KEY = Fernet.generate_key().decode()
"""The WFS_SECRET_KEY of these tests."""
SECRET = "sk-live-9f8e7d6c5b4a"
"""A secure value: it must never appear in a response, a stored job or a callback."""

env_t: sa.Table = WorkflowEnv.__table__  # type: ignore[assignment]


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    return make_settings(secret_key=SecretStr(KEY))


async def create_workflow(client: httpx.AsyncClient, slug: str = "wf") -> None:
    definition = {"steps": [{"id": "s", "type": "transform", "output": "x"}]}
    response = await client.post("/v1/workflows", json={"name": slug, "slug": slug, "definition": definition})
    assert response.status_code == 201, response.text


async def put_var(client: httpx.AsyncClient, name: str, value: str, slug: str = "wf", **body: Any) -> httpx.Response:
    return await client.put(f"/v1/workflows/{slug}/env/{name}", json={"value": value, **body})


async def stored_value(engine: AsyncEngine, name: str) -> str:
    """The value column of the variable as it is in the database."""
    async with engine.connect() as conn:
        value: str = (await conn.execute(sa.select(env_t.c.value).where(env_t.c.name == name))).scalar_one()
    return value
