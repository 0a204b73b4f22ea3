"""The env API: create, replace, read, list, delete; validation; secure values are write-only and
stored encrypted; secure values are refused without WFS_SECRET_KEY."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import BASE_URL, make_settings, serving
from tests.env.conftest import KEY, SECRET, create_workflow, put_var, stored_value


async def test_plain_variable_crud(client: httpx.AsyncClient) -> None:
    await create_workflow(client)
    created = await put_var(client, "API_BASE", "https://api.example.com", notes="the partner API")
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"{BASE_URL}/v1/workflows/wf/env/API_BASE"
    body = created.json()
    assert body["name"] == "API_BASE"
    assert body["value"] == "https://api.example.com"
    assert body["secure"] is False
    assert body["has_value"] is True
    assert body["notes"] == "the partner API"
    assert body["created_at"] == body["updated_at"]

    replaced = await put_var(client, "API_BASE", "https://v2.example.com")
    assert replaced.status_code == 200
    assert replaced.json()["value"] == "https://v2.example.com"
    assert replaced.json()["notes"] is None
    assert replaced.json()["created_at"] == body["created_at"]
    assert replaced.json()["updated_at"] > body["updated_at"]

    got = await client.get("/v1/workflows/wf/env/API_BASE")
    assert got.status_code == 200
    assert got.json() == replaced.json()

    assert (await put_var(client, "_OTHER", "")).status_code == 201  # an empty value is a value
    listed = await client.get("/v1/workflows/wf/env")
    assert listed.status_code == 200
    assert [item["name"] for item in listed.json()["items"]] == ["API_BASE", "_OTHER"]

    deleted = await client.delete("/v1/workflows/wf/env/API_BASE")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await client.get("/v1/workflows/wf/env/API_BASE")).status_code == 404
    again = await client.delete("/v1/workflows/wf/env/API_BASE")
    assert again.status_code == 404
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_variables_belong_to_their_workflow(client: httpx.AsyncClient) -> None:
    await create_workflow(client, "one")
    await create_workflow(client, "two")
    assert (await put_var(client, "NAME", "1", slug="one")).status_code == 201
    assert (await put_var(client, "NAME", "2", slug="two")).status_code == 201
    assert (await client.get("/v1/workflows/one/env/NAME")).json()["value"] == "1"
    assert (await client.get("/v1/workflows/two/env/NAME")).json()["value"] == "2"
    assert (await client.delete("/v1/workflows/one/env/NAME")).status_code == 204
    assert (await client.get("/v1/workflows/two/env/NAME")).json()["value"] == "2"


@pytest.mark.parametrize("name", ["lower", "9LIVES", "HAS-DASH", "A" * 129, "ÄPFEL", "SPACE X"])
async def test_bad_names_are_422_with_the_path(client: httpx.AsyncClient, name: str) -> None:
    await create_workflow(client)
    for response in (
        await put_var(client, name, "v"),
        await client.get(f"/v1/workflows/wf/env/{name}"),
        await client.delete(f"/v1/workflows/wf/env/{name}"),
    ):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["path"] for e in response.json()["errors"]] == ["path:name"]


async def test_longest_name_is_accepted(client: httpx.AsyncClient) -> None:
    await create_workflow(client)
    assert (await put_var(client, "A" * 128, "v")).status_code == 201


async def test_value_is_limited_to_64_kib(client: httpx.AsyncClient) -> None:
    await create_workflow(client)
    assert (await put_var(client, "BIG", "x" * 65536)).status_code == 201
    too_long = await put_var(client, "BIG", "x" * 65537)
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["path"] == "$.value"
    multibyte = await put_var(client, "BIG", "é" * 40000)  # 40000 characters, 80000 bytes
    assert multibyte.status_code == 422
    assert (await client.get("/v1/workflows/wf/env/BIG")).json()["value"] == "x" * 65536


@pytest.mark.parametrize(
    "body",
    [{}, {"value": 5}, {"value": None}, {"value": "v", "secure": "maybe"}, {"value": "v", "extra": 1}],
)
async def test_bad_bodies_are_422(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    await create_workflow(client)
    response = await client.put("/v1/workflows/wf/env/NAME", json=body)
    assert response.status_code == 422, response.text


async def test_unknown_workflow_is_404(client: httpx.AsyncClient) -> None:
    assert (await put_var(client, "NAME", "v", slug="nope")).status_code == 404
    assert (await client.get("/v1/workflows/nope/env/NAME")).status_code == 404
    assert (await client.get("/v1/workflows/nope/env")).status_code == 404
    assert (await client.delete("/v1/workflows/nope/env/NAME")).status_code == 404
    await create_workflow(client)
    missing = await client.get("/v1/workflows/wf/env/NAME")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


async def test_api_keys_read_but_cannot_change_variables(client: httpx.AsyncClient) -> None:
    """A key is a runner on its workflow: it reads what a viewer reads (never a secure value), changes nothing."""
    await create_workflow(client)
    issued = await client.post("/v1/workflows/wf/api-keys", json={"name": "caller"})
    assert issued.status_code == 201, issued.text
    headers = {"Authorization": f"Bearer {issued.json()['key']}"}
    assert (await put_var(client, "NAME", "v")).status_code == 201
    assert (await client.get("/v1/workflows/wf/env/NAME", headers=headers)).json()["value"] == "v"
    assert [v["name"] for v in (await client.get("/v1/workflows/wf/env", headers=headers)).json()["items"]] == ["NAME"]
    for method, path in [
        ("PUT", "/v1/workflows/wf/env/NAME"),
        ("DELETE", "/v1/workflows/wf/env/NAME"),
    ]:
        response = await client.request(method, path, headers=headers, json={"value": "x"})
        assert response.status_code == 403, (method, path, response.text)
    assert (await client.get("/v1/workflows/wf/env/NAME", headers={"Authorization": "Bearer wrong"})).status_code == 401
    assert (await client.get("/v1/workflows/wf/env/NAME")).json()["value"] == "v"


async def test_secure_value_is_never_returned(client: httpx.AsyncClient) -> None:
    await create_workflow(client)
    responses = [await put_var(client, "TOKEN", SECRET, secure=True, notes="partner token")]
    assert responses[0].status_code == 201
    body = responses[0].json()
    assert body["secure"] is True
    assert body["value"] is None
    assert body["has_value"] is True
    assert body["notes"] == "partner token"
    responses.append(await client.get("/v1/workflows/wf/env/TOKEN"))
    responses.append(await client.get("/v1/workflows/wf/env"))
    assert responses[-1].json()["items"][0]["value"] is None
    responses.append(await put_var(client, "TOKEN", SECRET + "-2", secure=True))  # replaced: 200
    assert responses[-1].status_code == 200
    # Problems never echo it either.
    responses.append(await put_var(client, "bad name", SECRET, secure=True))
    responses.append(await put_var(client, "TOKEN", SECRET + "x" * 70000, secure=True))
    responses.append(await client.put("/v1/workflows/wf/env/TOKEN", json={"value": SECRET, "secure": True, "x": 1}))
    responses.append(await put_var(client, "TOKEN", SECRET, slug="nope", secure=True))
    assert [r.status_code for r in responses[-4:]] == [422, 422, 422, 404]
    for response in responses:
        assert SECRET not in response.text


async def test_secure_value_is_stored_encrypted(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await create_workflow(client)
    assert (await put_var(client, "TOKEN", SECRET, secure=True)).status_code == 201
    stored = await stored_value(engine, "TOKEN")
    assert SECRET not in stored
    assert Fernet(KEY.encode()).decrypt(stored.encode()).decode() == SECRET
    # Made plain again, it is stored (and shown) as it is.
    assert (await put_var(client, "TOKEN", "public")).json()["value"] == "public"
    assert await stored_value(engine, "TOKEN") == "public"


@pytest.fixture
async def keyless(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The API as `serve` runs it without WFS_SECRET_KEY."""
    async with serving(make_settings()) as c:
        yield c


async def test_secure_variables_need_a_secret_key(keyless: httpx.AsyncClient) -> None:
    await create_workflow(keyless)
    refused = await put_var(keyless, "TOKEN", SECRET, secure=True)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "secret_key_required"
    assert "WFS_SECRET_KEY" in refused.json()["detail"]
    assert SECRET not in refused.text
    assert (await keyless.get("/v1/workflows/wf/env/TOKEN")).status_code == 404  # nothing was stored
    # Plain variables still work.
    assert (await put_var(keyless, "PLAIN", "value")).status_code == 201
    assert (await keyless.get("/v1/workflows/wf/env/PLAIN")).json()["value"] == "value"
