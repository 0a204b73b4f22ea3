"""Event triggers under test: a workflow that greets a customer, triggers made over the API, and outside senders
that sign each event with the `standardwebhooks` library (or send a bearer token), over HTTP to the app."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import floor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks.webhooks import Webhook

from tests.conftest import TOKEN, ClientFactory, connections, make_settings
from tests.jobs.conftest import deploy_workflow
from workflow_service.config import Settings

KEY = Fernet.generate_key().decode()
"""The WFS_SECRET_KEY of the tests' service: signing secrets are stored encrypted with it."""
SHOP: dict[str, Any] = {
    "input_schema": {
        "type": "object",
        "properties": {"customer": {"type": "string"}, "amount": {"type": "number"}},
        "required": ["customer"],
        "additionalProperties": False,
    },
    "variables": {"greeting": "Thanks"},
    "steps": [
        {"id": "compose", "type": "transform", "output": {"text": "{{ vars.greeting }}, {{ inputs.customer }}!"}}
    ],
    "output": {"text": "{{ steps.compose.output.text }}"},
}
MAPPING: dict[str, Any] = {"inputs": {"customer": "{{ event.data.customer }}", "amount": "{{ event.data.amount }}"}}
"""The inputs of a payment event: `{"type": "payment.succeeded", "data": {"customer": ..., "amount": ...}}`."""


def payment(customer: str = "Ada", amount: float = 12.5) -> dict[str, Any]:
    return {"type": "payment.succeeded", "data": {"customer": customer, "amount": amount}}


@dataclass
class Sender:
    """An outside system posting events to a trigger's URL: with no credentials of the service, signing each event
    with the trigger's secret as Standard Webhooks say (the `standardwebhooks` library), or sending its token."""

    client: httpx.AsyncClient
    url: str
    secret: str
    sent: list[str] = field(default_factory=list)

    def signed(
        self, body: bytes, msg_id: str | None = None, at: datetime | None = None, secret: str | None = None
    ) -> dict[str, str]:
        """The Standard Webhooks headers of `body`."""
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        at = at or datetime.now(UTC)
        signature = Webhook(secret or self.secret).sign(msg_id, at, body)
        return {"webhook-id": msg_id, "webhook-timestamp": str(floor(at.timestamp())), "webhook-signature": signature}

    async def send(
        self,
        event: Any = None,
        *,
        msg_id: str | None = None,
        at: datetime | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        secret: str | None = None,
    ) -> httpx.Response:
        """POST `event` (or `body` as it is), signed, with `headers` on top."""
        raw = body if body is not None else json.dumps(event if event is not None else payment()).encode()
        sent = {"content-type": "application/json", **self.signed(raw, msg_id, at, secret), **(headers or {})}
        self.sent.append(sent["webhook-id"])
        return await self.client.post(self.url, content=raw, headers=sent)

    async def bearer(self, event: Any = None, *, token: str | None = None, **headers: str) -> httpx.Response:
        """POST `event` with `Authorization: Bearer <token>` (the trigger's by default)."""
        sent = {"authorization": f"Bearer {token or self.secret}", **headers}
        return await self.client.post(self.url, json=event if event is not None else payment(), headers=sent)


@dataclass
class Shop:
    """The app with the workflow `shop` deployed, the operator's client, and a way to make clients and senders."""

    admin: httpx.AsyncClient
    connect: ClientFactory
    engine: AsyncEngine

    def outsider(self) -> httpx.AsyncClient:
        """A client of the app that sends no credentials of the service."""
        client = self.connect(TOKEN)
        del client.headers["Authorization"]
        return client

    async def trigger(self, slug: str = "shop", **body: Any) -> dict[str, Any]:
        """A webhook trigger of `slug` (the payment mapping unless `body` says otherwise), as created (with its
        secret)."""
        made = await self.admin.post(
            f"/v1/workflows/{slug}/triggers", json={"type": "webhook", "name": "payments", "mapping": MAPPING, **body}
        )
        assert made.status_code == 201, made.text
        created: dict[str, Any] = made.json()
        return created

    async def sender(self, slug: str = "shop", **body: Any) -> tuple[dict[str, Any], Sender]:
        trigger = await self.trigger(slug, **body)
        return trigger, Sender(self.outsider(), trigger["url"], trigger["secret"])

    async def events(self, trigger: dict[str, Any]) -> list[dict[str, Any]]:
        """The trigger's events, newest first."""
        response = await self.admin.get(f"/v1/workflows/{trigger['workflow']['slug']}/triggers/{trigger['id']}/events")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def jobs(self, trigger: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every job (of the trigger), from the database: id, caller, origin, inputs, status."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT id, caller, origin, inputs, variables, name, status FROM job"))
            found = [dict(row._mapping) for row in rows]
        if trigger is not None:
            found = [job for job in found if job["caller"] == f"trigger:{trigger['id']}"]
        return found


def shop_settings(**overrides: Any) -> Settings:
    return make_settings(**{"secret_key": SecretStr(KEY), **overrides})


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    return shop_settings()


@pytest.fixture
async def shop(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Shop]:
    async with connections(settings) as connect:
        admin = connect(TOKEN)
        await deploy_workflow(admin, "shop", SHOP)
        yield Shop(admin, connect, engine)
