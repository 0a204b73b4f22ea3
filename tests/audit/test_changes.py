"""What a configuration change records as changed: each changed field before and after, with the access token,
the signing secrets and secure variable values redacted (listed when they changed, never shown)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.audit.conftest import entries_since, last_entry_id
from tests.conftest import ClientFactory, make_settings
from tests.deliveries.conftest import GREETER, WebhookReceiver
from workflow_service.config import Settings

ACCESS_TOKEN = "callback-token-5b1e0c77"
SECRET_VALUE = "sk-live-0a1b2c3d4e5f"
R = "[redacted]"


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    return make_settings(secret_key=SecretStr(Fernet.generate_key().decode()))


async def _one(engine: AsyncEngine, response: httpx.Response, after_id: int) -> Mapping[str, Any]:
    """The one entry the request wrote."""
    assert response.is_success, response.text
    [entry] = await entries_since(engine, after_id)
    return entry


async def _change(
    engine: AsyncEngine, admin: httpx.AsyncClient, method: str, url: str, body: Any = None
) -> tuple[httpx.Response, Mapping[str, Any]]:
    before = await last_entry_id(engine)
    response = await admin.request(method, url, json=body)
    return response, await _one(engine, response, before)


def _never_shows(entry: Mapping[str, Any], *secrets: str) -> None:
    text = orjson.dumps(dict(entry), default=str).decode()
    for secret in secrets:
        assert secret not in text


async def test_settings_changes_redact_the_access_token_and_signing_secrets(
    admin: httpx.AsyncClient, engine: AsyncEngine, receiver: WebhookReceiver
) -> None:
    assert (await admin.post("/v1/workflows", json={"name": "g", "slug": "g", "definition": GREETER})).is_success
    push = {"enabled": True, "callback_url": receiver.url, "access_token": ACCESS_TOKEN}
    response, entry = await _change(engine, admin, "PATCH", "/v1/workflows/g/settings", {"push": push})
    secret = response.json()["signing_secret"]
    assert entry["action"] == "settings.updated"
    assert entry["changes"] == {
        "push.enabled": {"before": False, "after": True},
        "push.callback_url": {"before": None, "after": receiver.url},
        "push.access_token": {"before": None, "after": R},
        "push.signing_secrets": {"before": None, "after": R},
    }
    _never_shows(entry, ACCESS_TOKEN, secret)

    body = {"sync_timeout_s": 90, "push": {"access_token": ACCESS_TOKEN + "-2"}}
    _, entry = await _change(engine, admin, "PATCH", "/v1/workflows/g/settings", body)
    assert entry["changes"] == {
        "sync_timeout_s": {"before": 180, "after": 90},
        "push.access_token": {"before": R, "after": R},
    }
    assert "sync_timeout_s" in entry["description"]

    response, entry = await _change(engine, admin, "POST", "/v1/workflows/g/settings/rotate-signing-secret")
    assert entry["action"] == "settings.signing_secret_rotated"
    assert entry["changes"] == {"push.signing_secrets": {"before": R, "after": R}}
    _never_shows(entry, secret, response.json()["signing_secret"])


async def test_variable_values_are_shown_unless_secure(admin: httpx.AsyncClient, engine: AsyncEngine) -> None:
    assert (await admin.post("/v1/workflows", json={"name": "g", "slug": "g", "definition": GREETER})).is_success
    url = "/v1/workflows/g/env/API"
    _, created = await _change(engine, admin, "PUT", url, {"value": "plain", "notes": "the API"})
    assert (created["action"], created["target_id"], created["target_name"]) == ("env.created", "API", "API")
    assert created["changes"] == {
        "value": {"before": None, "after": "plain"},
        "secure": {"before": None, "after": False},
        "notes": {"before": None, "after": "the API"},
    }
    _, made_secure = await _change(engine, admin, "PUT", url, {"value": SECRET_VALUE, "secure": True})
    assert made_secure["action"] == "env.updated"
    assert made_secure["changes"] == {
        "value": {"before": "plain", "after": R},
        "secure": {"before": False, "after": True},
        "notes": {"before": "the API", "after": None},
    }
    _, replaced = await _change(engine, admin, "PUT", url, {"value": SECRET_VALUE + "-2", "secure": True})
    assert replaced["changes"] == {"value": {"before": R, "after": R}}
    _, deleted = await _change(engine, admin, "DELETE", url)
    assert deleted["action"] == "env.deleted"
    assert deleted["changes"] == {"value": {"before": R, "after": None}, "secure": {"before": True, "after": None}}
    for entry in (made_secure, replaced, deleted):
        _never_shows(entry, SECRET_VALUE)


async def test_drafts_deploys_and_keys_say_what_changed(admin: httpx.AsyncClient, engine: AsyncEngine) -> None:
    _, created = await _change(engine, admin, "POST", "/v1/workflows", {"name": "Greeter", "definition": GREETER})
    assert (created["target_name"], created["changes"]) == ("greeter", None)
    _, first = await _change(engine, admin, "POST", "/v1/workflows/greeter/deploy")
    assert first["changes"] == {"current_version": {"before": None, "after": 1}}
    assert "version 1" in first["description"]
    _, draft = await _change(
        engine, admin, "PUT", "/v1/workflows/greeter/draft", {"definition": {**GREETER, "description": "v2"}}
    )
    hashes = draft["changes"]["content_hash"]
    assert hashes["before"] != hashes["after"]
    _, second = await _change(engine, admin, "POST", "/v1/workflows/greeter/deploy")
    assert second["changes"] == {"current_version": {"before": 1, "after": 2}}

    response, issued = await _change(engine, admin, "POST", "/v1/workflows/greeter/api-keys", {"name": "ci"})
    key = response.json()
    assert (issued["target_id"], issued["target_name"]) == (key["id"], "ci")
    assert key["prefix"] in issued["description"]
    _never_shows(issued, key["key"])
    _, revoked = await _change(engine, admin, "DELETE", f"/v1/workflows/greeter/api-keys/{key['id']}")
    assert (revoked["action"], revoked["target_id"], revoked["target_name"]) == ("apikey.revoked", key["id"], "ci")


async def test_people_changes_name_whom_and_never_show_a_token(
    admin: httpx.AsyncClient, connect: ClientFactory, engine: AsyncEngine
) -> None:
    response, added = await _change(engine, admin, "POST", "/v1/users", {"email": "ada@example.com", "name": "Ada"})
    user = response.json()
    assert (added["action"], added["target_id"], added["target_name"]) == ("member.added", user["id"], user["email"])
    assert added["changes"] == {"role": {"before": None, "after": "member"}}
    _never_shows(added, user["token"])
    ada = connect(user["token"])
    before = await last_entry_id(engine)
    made = await ada.post("/v1/me/tokens", json={"name": "laptop"})
    issued = await _one(engine, made, before)
    assert (issued["action"], issued["actor"], issued["target_id"]) == (
        "token.created",
        f"user:{user['id']}",
        made.json()["id"],
    )
    assert made.json()["prefix"] in issued["description"]
    _never_shows(issued, made.json()["token"])

    _, promoted = await _change(engine, admin, "PATCH", f"/v1/users/{user['id']}", {"role": "admin"})
    assert promoted["changes"] == {"role": {"before": "member", "after": "admin"}}
    _, removed = await _change(engine, admin, "DELETE", "/v1/users/ada@example.com")
    assert removed["action"] == "member.removed"
    assert removed["changes"] == {"role": {"before": "admin", "after": None}}
    assert "2 token(s) revoked" in removed["description"]
