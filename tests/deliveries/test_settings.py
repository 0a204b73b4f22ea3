"""Endpoint settings over the API: ranges, push validation, the write-only access token, the signing
secret shown once, rotation, and the outbound policy applied to callback URLs when they are set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_settings, serving
from tests.deliveries.conftest import (
    ACCESS_TOKEN,
    WebhookReceiver,
    Workers,
    deploy,
    enable_push,
    push_workflow,
    submit_push,
)
from workflow_service.core.clock import utcnow
from workflow_service.core.http import OutboundPolicy
from workflow_service.core.secrets import Secrets
from workflow_service.errors import InvalidInput
from workflow_service.workflows import settings as endpoint_settings
from workflow_service.workflows.settings import PushSettingsUpdate, SettingsUpdate

PLAIN = Secrets([])
"""No WFS_SECRET_KEY: push secrets are stored as they are."""


async def patch(client: httpx.AsyncClient, body: dict[str, Any], slug: str = "greeter") -> httpx.Response:
    return await client.patch(f"/v1/workflows/{slug}/settings", json=body)


def error_paths(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["path"] for e in response.json()["errors"]}


@pytest.fixture
async def strict_client(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The API with no outbound allow-list: loopback and private callback URLs are refused."""
    async with serving(make_settings(outbound_allowlist=[])) as c:
        yield c


async def test_defaults(client: httpx.AsyncClient) -> None:
    await deploy(client, "greeter")
    response = await client.get("/v1/workflows/greeter/settings")
    assert response.status_code == 200
    body = response.json()
    assert body["sync_timeout_s"] == 180
    assert body["queue_timeout_s"] is None
    assert body["push"] == {
        "enabled": False, "callback_url": None, "has_access_token": False, "timeout_s": 180,
        "disabled_reason": None, "signing_secrets": 0,
    }  # fmt: skip
    assert body.get("signing_secret") is None
    assert (await client.get("/v1/workflows/nope/settings")).status_code == 404


@pytest.mark.parametrize("value", [59, 301, 0, -1, None, "soon"])
async def test_sync_timeout_out_of_range_is_422(client: httpx.AsyncClient, value: Any) -> None:
    await deploy(client, "greeter")
    assert error_paths(await patch(client, {"sync_timeout_s": value})) == {"$.sync_timeout_s"}
    assert (await client.get("/v1/workflows/greeter/settings")).json()["sync_timeout_s"] == 180


@pytest.mark.parametrize("value", [60, 300, 200])
async def test_sync_timeout_in_range_is_kept(client: httpx.AsyncClient, value: int) -> None:
    await deploy(client, "greeter")
    response = await patch(client, {"sync_timeout_s": value})
    assert response.status_code == 200, response.text
    assert response.json()["sync_timeout_s"] == value
    assert (await client.get("/v1/workflows/greeter/settings")).json()["sync_timeout_s"] == value


@pytest.mark.parametrize("value", [59, 601, 0, "x"])
async def test_push_timeout_out_of_range_is_422(client: httpx.AsyncClient, value: Any) -> None:
    await deploy(client, "greeter")
    assert error_paths(await patch(client, {"push": {"timeout_s": value}})) == {"$.push.timeout_s"}


async def test_push_timeout_may_be_60_to_600_or_none(client: httpx.AsyncClient) -> None:
    await deploy(client, "greeter")
    for value in (60, 600, None):
        response = await patch(client, {"push": {"timeout_s": value}})
        assert response.status_code == 200, response.text
        assert response.json()["push"]["timeout_s"] == value
        assert (await client.get("/v1/workflows/greeter/settings")).json()["push"]["timeout_s"] == value


async def test_unknown_fields_are_422(client: httpx.AsyncClient) -> None:
    await deploy(client, "greeter")
    assert error_paths(await patch(client, {"push": {"secret": "x"}})) == {"$.push.secret"}
    assert error_paths(await patch(client, {"colour": "red"})) == {"$.colour"}


async def test_enabling_push_needs_url_and_token(client: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
    await deploy(client, "greeter")
    response = await patch(client, {"push": {"enabled": True}})
    assert error_paths(response) == {"$.push.callback_url", "$.push.access_token"}
    assert "callback_url" in response.json()["detail"]
    assert "access_token" in response.json()["detail"]
    assert error_paths(await patch(client, {"push": {"enabled": True, "callback_url": receiver.url}})) == {
        "$.push.access_token"
    }
    response = await patch(client, {"push": {"enabled": True, "access_token": ACCESS_TOKEN}})
    assert error_paths(response) == {"$.push.callback_url"}
    assert ACCESS_TOKEN not in response.text
    # Nothing was saved by the refused updates.
    push = (await client.get("/v1/workflows/greeter/settings")).json()["push"]
    assert push["enabled"] is False
    assert push["callback_url"] is None
    assert push["has_access_token"] is False
    # Removing the URL of an enabled endpoint is refused the same way.
    await enable_push(client, "greeter", receiver.url)
    assert error_paths(await patch(client, {"push": {"callback_url": None}})) == {"$.push.callback_url"}


async def test_access_token_is_never_returned(
    client: httpx.AsyncClient, receiver: WebhookReceiver, workers: Workers
) -> None:
    await deploy(client, "greeter")
    seen: list[httpx.Response] = []
    seen.append(await patch(client, {"push": {"access_token": ACCESS_TOKEN}}))
    assert seen[-1].json()["push"]["has_access_token"] is True
    seen.append(await patch(client, {"push": {"enabled": True, "callback_url": receiver.url}}))
    receiver.secrets = [seen[-1].json()["signing_secret"]]
    seen.append(await client.get("/v1/workflows/greeter/settings"))
    seen.append(await client.post("/v1/workflows/greeter/settings/rotate-signing-secret"))
    seen.append(await client.get("/v1/workflows/greeter"))
    seen.append(await patch(client, {"push": {"access_token": ACCESS_TOKEN, "timeout_s": 5}}))  # a 422
    seen.append(await patch(client, {"push": {"access_token": ACCESS_TOKEN + "x" * 5000}}))  # too long: a 422
    await workers.start()
    job = await submit_push(client)
    [request] = await receiver.wait_for(1)
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"  # it is used...
    seen.append(await client.get(f"/v1/jobs/{job['id']}"))
    seen.append(await client.get(f"/v1/jobs/{job['id']}/deliveries"))
    seen.append(await client.post(f"/v1/jobs/{job['id']}/deliveries/redeliver"))
    seen.append(await client.get(f"/v1/jobs/{job['id']}/events"))
    seen.append(await client.get("/v1/jobs"))
    assert [r.status_code for r in seen] == [200, 200, 200, 200, 200, 422, 422, 200, 200, 201, 200, 200]
    for response in seen:  # ...and never shown
        assert ACCESS_TOKEN not in response.text, response.request.url


async def test_signing_secret_is_returned_only_once(client: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
    await deploy(client, "greeter")
    secret = await enable_push(client, "greeter", receiver.url)
    assert len(secret) > len("whsec_") + 40
    for response in (
        await client.get("/v1/workflows/greeter/settings"),
        await patch(client, {"sync_timeout_s": 90}),
        await patch(client, {"push": {"enabled": False}}),
        await patch(client, {"push": {"enabled": True}}),  # re-enabling keeps the same secret
        await client.get("/v1/workflows/greeter"),
    ):
        assert response.status_code == 200, response.text
        assert response.json().get("signing_secret") is None
        assert secret not in response.text
    assert (await client.get("/v1/workflows/greeter/settings")).json()["push"]["signing_secrets"] == 1

    rotated = await client.post("/v1/workflows/greeter/settings/rotate-signing-secret")
    assert rotated.status_code == 200
    new = rotated.json()["signing_secret"]
    assert new.startswith("whsec_")
    assert new != secret
    later = await client.get("/v1/workflows/greeter/settings")
    assert later.json()["signing_secret"] is None
    assert new not in later.text
    assert later.json()["push"]["signing_secrets"] == 2


async def test_rotation_makes_the_first_secret_without_push(client: httpx.AsyncClient) -> None:
    """A workflow without push gets a signing secret this way: it signs its jobs' own notices (notify_url)."""
    await deploy(client, "greeter")
    before = (await client.get("/v1/workflows/greeter/settings")).json()
    assert (before["push"]["enabled"], before["push"]["signing_secrets"]) == (False, 0)
    response = await client.post("/v1/workflows/greeter/settings/rotate-signing-secret")
    assert response.status_code == 200, response.text
    assert response.json()["signing_secret"].startswith("whsec_")
    after = (await client.get("/v1/workflows/greeter/settings")).json()
    assert (after["push"]["enabled"], after["push"]["signing_secrets"]) == (False, 1)
    assert (await client.post("/v1/workflows/nope/settings/rotate-signing-secret")).status_code == 404


async def test_rotated_out_secret_signs_for_24_hours() -> None:
    policy = OutboundPolicy(allow_private=True)
    update = SettingsUpdate(push=PushSettingsUpdate(enabled=True, callback_url="http://127.0.0.1/h", access_token="t"))
    stored, first = await endpoint_settings.apply({}, update, policy, PLAIN)
    assert first is not None
    assert endpoint_settings.active_secrets(stored, PLAIN) == [first]
    stored, second = endpoint_settings.rotate(stored, PLAIN)
    now = utcnow()
    assert endpoint_settings.active_secrets(stored, PLAIN, now) == [second, first]
    assert endpoint_settings.active_secrets(stored, PLAIN, now + timedelta(hours=23, minutes=59)) == [second, first]
    assert endpoint_settings.active_secrets(stored, PLAIN, now + timedelta(hours=24, minutes=1)) == [second]
    first_expiry = stored["push"]["secrets"][1]["expires_at"]
    stored, third = endpoint_settings.rotate(stored, PLAIN)  # a second rotation keeps the first's expiry
    assert stored["push"]["secrets"][2] == {**stored["push"]["secrets"][2], "expires_at": first_expiry}
    assert endpoint_settings.active_secrets(stored, PLAIN, now + timedelta(hours=23)) == [third, second, first]
    assert endpoint_settings.active_secrets(stored, PLAIN, now + timedelta(hours=24, minutes=1)) == [third]


async def test_access_token_update_does_not_need_resending_other_fields(
    client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    response = await patch(client, {"push": {"access_token": "another"}})
    assert response.status_code == 200
    push = response.json()["push"]
    assert push["enabled"] is True
    assert push["callback_url"] == receiver.url
    assert push["has_access_token"] is True


PRIVATE_URLS = [
    "http://127.0.0.1:9/hook",
    "http://localhost:9/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",  # CGNAT
    "http://169.254.169.254/latest/meta-data",  # cloud metadata
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_non_public_callback_urls_are_refused_when_set(url: str) -> None:
    update = SettingsUpdate(push=PushSettingsUpdate(callback_url=url))
    with pytest.raises(InvalidInput) as refused:
        await endpoint_settings.apply({}, update, OutboundPolicy(), PLAIN)
    assert refused.value.status == 422
    assert refused.value.extra["errors"][0]["path"] == "$.push.callback_url"
    # ...unless the operator allows them.
    stored, _ = await endpoint_settings.apply({}, update, OutboundPolicy(allow_private=True), PLAIN)
    assert stored["push"]["callback_url"] == url


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "/relative/hook", "not a url", "http:///nohost"])
async def test_non_http_callback_urls_are_refused(url: str) -> None:
    update = SettingsUpdate(push=PushSettingsUpdate(callback_url=url))
    with pytest.raises(InvalidInput):
        await endpoint_settings.apply({}, update, OutboundPolicy(allow_private=True), PLAIN)


async def test_allowlisted_network_is_accepted() -> None:
    policy = OutboundPolicy.from_settings(False, ["10.0.0.0/8"])
    stored, _ = await endpoint_settings.apply(
        {}, SettingsUpdate(push=PushSettingsUpdate(callback_url="http://10.9.9.9/h")), policy, PLAIN
    )
    assert stored["push"]["callback_url"] == "http://10.9.9.9/h"
    with pytest.raises(InvalidInput):
        await endpoint_settings.apply(
            {}, SettingsUpdate(push=PushSettingsUpdate(callback_url="http://192.168.0.1/")), policy, PLAIN
        )


async def test_private_callback_url_is_422_over_the_api_without_an_allowlist(
    strict_client: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    await deploy(strict_client, "greeter")
    response = await patch(
        strict_client, {"push": {"enabled": True, "callback_url": receiver.url, "access_token": ACCESS_TOKEN}}
    )
    assert error_paths(response) == {"$.push.callback_url"}
    assert "127.0.0.1" in response.json()["detail"]
    assert ACCESS_TOKEN not in response.text
    push = (await strict_client.get("/v1/workflows/greeter/settings")).json()["push"]
    assert push["enabled"] is False
    assert push["callback_url"] is None
