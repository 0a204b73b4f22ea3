"""Helpers for the API key tests: the app with clients per bearer token, keys issued over the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import TOKEN, ClientFactory, connections
from workflow_service.config import Settings


@pytest.fixture
async def connect(settings: Settings) -> AsyncIterator[ClientFactory]:
    """One app (no worker); `connect(token)` is a client that sends `Authorization: Bearer <token>`."""
    async with connections(settings) as make:
        yield make


@pytest.fixture
def admin(connect: ClientFactory) -> httpx.AsyncClient:
    return connect(TOKEN)


async def issue_key(admin: httpx.AsyncClient, workflow: str, name: str = "ci") -> dict[str, Any]:
    """Create an API key for `workflow`; returns the 201 body (with the key)."""
    response = await admin.post(f"/v1/workflows/{workflow}/api-keys", json={"name": name})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
