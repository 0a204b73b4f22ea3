"""Helpers for the API key tests: the app with clients per bearer token, keys issued over the API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.conftest import TOKEN
from workflow_service.app import create_app
from workflow_service.config import Settings

ClientFactory = Callable[[str], httpx.AsyncClient]


@pytest.fixture
async def connect(settings: Settings) -> AsyncIterator[ClientFactory]:
    """One app (no worker); `connect(token)` is a client that sends `Authorization: Bearer <token>`."""
    app = create_app(settings)
    clients: list[httpx.AsyncClient] = []
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)

        def make(token: str) -> httpx.AsyncClient:
            client = httpx.AsyncClient(
                transport=transport, base_url="http://testserver", headers={"Authorization": f"Bearer {token}"}
            )
            clients.append(client)
            return client

        yield make
        for client in clients:
            await client.aclose()


@pytest.fixture
def admin(connect: ClientFactory) -> httpx.AsyncClient:
    return connect(TOKEN)


async def issue_key(admin: httpx.AsyncClient, workflow: str, name: str = "ci") -> dict[str, Any]:
    """Create an API key for `workflow`; returns the 201 body (with the key)."""
    response = await admin.post(f"/v1/workflows/{workflow}/api-keys", json={"name": name})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
