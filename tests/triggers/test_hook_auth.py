"""A trigger's URL is the one /v1 route the service's credentials do not open, and the only one that goes without
them: the authentication middleware passes exactly that path by, every other /v1 operation still answers 401
without a token, and the hook's own body is read by the route alone (not converted from YAML, not parsed before
the trigger's token is checked)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import SecretStr

from tests.audit.conftest import entries_since, last_entry_id
from tests.triggers.conftest import Shop, payment
from tests.workflows.conftest import assert_problem
from workflow_service.app import create_app
from workflow_service.config import Settings
from workflow_service.middleware import HOOK_PATH

HOOK = ("POST", "/v1/hooks/{trigger_id}")


def _operations() -> list[tuple[str, str]]:
    schema = create_app(Settings(admin_token=SecretStr("x"))).openapi()
    return sorted((m.upper(), p) for p, item in schema["paths"].items() if p.startswith("/v1/") for m in item)


def _filled(path: str) -> str:
    return re.sub(r"\{\w+\}", str(uuid.uuid4()), path)


async def test_every_other_v1_operation_needs_the_services_credentials(shop: Shop) -> None:
    outsider = shop.outsider()
    operations = _operations()
    assert HOOK in operations
    for method, path in operations:
        response = await outsider.request(method, _filled(path))
        if (method, path) == HOOK:
            assert_problem(response, 404, "not_found")  # no such trigger: answered without a credential
        else:
            assert_problem(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "path",
    ["/v1/hooks", "/v1/hooks/", "/v1/hooks/a/b", "/v1/hooks/a/", "/v1/hooksx/a", "/v1//hooks/a", "/v1/hook/a"],
)
async def test_paths_near_the_hooks_still_need_credentials(shop: Shop, path: str) -> None:
    response = await shop.outsider().post(path, json=payment())
    assert_problem(response, 401, "unauthorized")


def test_the_hook_path_is_exactly_the_hook_routes() -> None:
    app = create_app(Settings(admin_token=SecretStr("x")))
    for route in app.routes:
        if isinstance(route, APIRoute):
            sample = route.path.replace("{", "").replace("}", "")
            assert (HOOK_PATH.fullmatch(sample) is not None) == (route.path == HOOK[1]), route.path


async def test_behind_a_root_path_only_the_hook_goes_without_credentials(shop: Shop) -> None:
    trigger, sender = await shop.sender(auth="bearer")
    app = shop.admin._transport.app  # type: ignore[attr-defined]  # the app the Shop's clients reach
    transport = httpx.ASGITransport(app=app, root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as proxied:
        token = {"authorization": f"Bearer {sender.secret}"}
        hooked = await proxied.post(f"/api/v1/hooks/{trigger['id']}", json=payment(), headers=token)
        assert hooked.status_code == 202, hooked.text
        assert_problem(await proxied.get("/api/v1/workflows"), 401, "unauthorized")
        assert_problem(await proxied.post("/api/v1/hooks/a/b", json=payment()), 401, "unauthorized")
    assert len(await shop.jobs(trigger)) == 1


async def test_a_token_sent_to_a_hook_is_no_sign_in(shop: Shop) -> None:
    """The authentication middleware does not read a hook's Authorization: a wrong token there is the trigger's
    refusal (recorded in its events), not a failed sign-in to the service (in the audit log)."""
    trigger, sender = await shop.sender(auth="bearer")
    wrong = {"authorization": "Bearer wfs_key_000000000000_" + "x" * 40}
    before = await last_entry_id(shop.engine)
    assert_problem(await sender.client.post(sender.url, json=payment(), headers=wrong), 401, "unauthorized")
    assert list(await entries_since(shop.engine, before)) == []
    assert (await shop.events(trigger))[0]["outcome"] == "rejected"
    assert_problem(await sender.client.get("/v1/workflows", headers=wrong), 401, "unauthorized")
    [failed] = await entries_since(shop.engine, before)
    assert failed["action"] == "auth.sign_in_failed"


async def test_a_hooks_body_is_the_routes_to_read(shop: Shop) -> None:
    trigger, sender = await shop.sender(auth="bearer")
    # Not converted from YAML (a signature is over the bytes sent): refused as not JSON, nothing made.
    as_yaml = await sender.client.post(
        sender.url,
        content=b"type: payment.succeeded\ndata: {customer: Ada}\n",
        headers={"authorization": f"Bearer {sender.secret}", "content-type": "application/yaml"},
    )
    assert_problem(as_yaml, 415, "unsupported_media_type")
    # Not read before the trigger's token is checked: a NUL in it would otherwise be a 422 before the route ran.
    nul: dict[str, Any] = {"data": {"customer": "A\u0000da"}}
    refused = await sender.client.post(sender.url, json=nul, headers={"authorization": "Bearer wrong"})
    assert_problem(refused, 401, "unauthorized")
    assert await shop.jobs() == []
    assert [e["status"] for e in await shop.events(trigger)] == [401, 415]
