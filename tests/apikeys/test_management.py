"""Issuing, listing and revoking API keys (admin routes), against real PostgreSQL."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.access.conftest import ClientFactory
from tests.apikeys.conftest import issue_key
from tests.jobs.conftest import GREETER, deploy_workflow
from tests.workflows.conftest import assert_problem

KEY_SHAPE = r"wfs_key_[0-9a-f]{12}_[A-Za-z0-9_-]{43}"
ASYNC = "/v1/workflows/{}/versions/current/async"
ADA = {"inputs": {"name": "Ada"}}


async def test_a_new_key_is_shown_once_and_only_its_hash_is_stored(
    admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    response = await admin.post("/v1/workflows/greeter/api-keys", json={"name": "billing system"})
    assert response.status_code == 201, response.text
    created = response.json()
    key = created["key"]
    assert set(created) == {
        "id",
        "name",
        "prefix",
        "created_at",
        "last_used_at",
        "expires_at",
        "created_by",
        "workflow",
        "key",
    }
    assert created["name"] == "billing system"
    assert created["workflow"] == {"id": workflow["id"], "slug": "greeter"}
    assert created["last_used_at"] is None
    assert key.startswith(created["prefix"] + "_")
    assert len(created["prefix"]) == len("wfs_key_") + 12
    assert re.fullmatch(KEY_SHAPE, key), key

    async with engine.connect() as conn:
        row = (await conn.execute(sa.text("SELECT * FROM api_key"))).mappings().one()
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert row["prefix"] == created["prefix"]
    secret = key.removeprefix(created["prefix"] + "_")
    assert all(secret not in str(value) for value in row.values())

    # Never again: not in the listing, not on the workflow.
    for path in ("/v1/workflows/greeter/api-keys", "/v1/workflows/greeter"):
        later = await admin.get(path)
        assert later.status_code == 200, later.text
        assert secret not in later.text


async def test_each_key_is_different(admin: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    keys = [await issue_key(admin, "greeter", f"k{i}") for i in range(5)]
    assert len({k["key"] for k in keys}) == 5
    assert len({k["prefix"] for k in keys}) == 5


async def test_the_list_shows_prefix_name_and_use_never_the_key(admin: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    await deploy_workflow(admin, "other", GREETER)
    first = await issue_key(admin, "greeter", "first")
    second = await issue_key(admin, "greeter", "second")
    await issue_key(admin, "other", "not mine")

    response = await admin.get("/v1/workflows/greeter/api-keys")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["name"] for i in items] == ["first", "second"]
    for item, created in zip(items, (first, second), strict=True):
        assert set(item) == {"id", "name", "prefix", "created_at", "last_used_at", "expires_at", "created_by"}
        assert item["id"] == created["id"]
        assert item["prefix"] == created["prefix"]
        assert item["created_at"] == created["created_at"]
        assert created["key"] not in response.text


async def test_keys_are_listed_by_workflow_id_too(admin: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    created = await issue_key(admin, workflow["id"])
    listed = (await admin.get(f"/v1/workflows/{workflow['id']}/api-keys")).json()["items"]
    assert [i["id"] for i in listed] == [created["id"]]


async def test_revoking_a_key_removes_it_from_the_list(admin: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    gone = await issue_key(admin, "greeter", "gone")
    kept = await issue_key(admin, "greeter", "kept")
    response = await admin.delete(f"/v1/workflows/greeter/api-keys/{gone['id']}")
    assert response.status_code == 204, response.text
    assert response.content == b""
    listed = (await admin.get("/v1/workflows/greeter/api-keys")).json()["items"]
    assert [i["id"] for i in listed] == [kept["id"]]
    async with engine.connect() as conn:
        revoked_at = (
            await conn.execute(sa.text("SELECT revoked_at FROM api_key WHERE id = :id"), {"id": uuid.UUID(gone["id"])})
        ).scalar_one()
    assert revoked_at is not None


@pytest.mark.parametrize("key_id", ["unknown-uuid", "not-a-uuid", "revoked", "other-workflows"])
async def test_deleting_a_key_that_is_not_there_is_a_404(
    admin: httpx.AsyncClient, engine: AsyncEngine, key_id: str
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    await deploy_workflow(admin, "other", GREETER)
    revoked = await issue_key(admin, "greeter")
    assert (await admin.delete(f"/v1/workflows/greeter/api-keys/{revoked['id']}")).status_code == 204
    ids = {
        "unknown-uuid": str(uuid.uuid4()),
        "not-a-uuid": "nope",
        "revoked": revoked["id"],
        "other-workflows": (await issue_key(admin, "other"))["id"],
    }
    response = await admin.delete(f"/v1/workflows/greeter/api-keys/{ids[key_id]}")
    assert_problem(response, 404, "not_found")
    if key_id == "other-workflows":  # and the other workflow's key still works for it
        listed = (await admin.get("/v1/workflows/other/api-keys")).json()["items"]
        assert [i["id"] for i in listed] == [ids[key_id]]


async def test_key_routes_of_an_unknown_workflow_are_a_404(admin: httpx.AsyncClient, engine: AsyncEngine) -> None:
    assert_problem(await admin.post("/v1/workflows/nope/api-keys", json={"name": "x"}), 404, "not_found")
    assert_problem(await admin.get("/v1/workflows/nope/api-keys"), 404, "not_found")
    assert_problem(await admin.delete(f"/v1/workflows/nope/api-keys/{uuid.uuid4()}"), 404, "not_found")


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x" * 201}, {"name": "ok", "scopes": ["all"]}])
async def test_a_bad_create_body_is_a_422(
    admin: httpx.AsyncClient, engine: AsyncEngine, body: dict[str, object]
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    assert_problem(await admin.post("/v1/workflows/greeter/api-keys", json=body), 422, "invalid_request")
    assert (await admin.get("/v1/workflows/greeter/api-keys")).json()["items"] == []


async def test_a_workflow_never_deployed_can_have_keys(admin: httpx.AsyncClient, engine: AsyncEngine) -> None:
    """Keys belong to the workflow, not to a version."""
    created = await admin.post("/v1/workflows", json={"name": "draft", "definition": GREETER})
    assert created.status_code == 201
    key = await issue_key(admin, "draft")
    assert (await admin.delete(f"/v1/workflows/draft/api-keys/{key['id']}")).status_code == 204


async def test_an_expiring_key_works_until_it_expires(
    connect: ClientFactory, admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    response = await admin.post("/v1/workflows/greeter/api-keys", json={"name": "ci", "expires_in_days": 30})
    assert response.status_code == 201, response.text
    created = response.json()
    expires_at = datetime.fromisoformat(created["expires_at"])
    assert timedelta(days=29, hours=23) < expires_at - datetime.now(UTC) <= timedelta(days=30)
    assert created["created_by"] == "admin"
    key = connect(created["key"])
    assert (await key.post(ASYNC.format("greeter"), json=ADA)).status_code == 202
    listed = (await admin.get("/v1/workflows/greeter/api-keys")).json()["items"]
    assert [(k["id"], k["expires_at"], k["created_by"]) for k in listed] == [
        (created["id"], created["expires_at"], "admin")
    ]
    async with engine.begin() as conn:  # time passes
        await conn.execute(
            sa.text("UPDATE api_key SET expires_at = :at WHERE id = :id"),
            {"at": datetime.now(UTC) - timedelta(seconds=1), "id": uuid.UUID(created["id"])},
        )
    refused = await key.post(ASYNC.format("greeter"), json=ADA)
    body = assert_problem(refused, 401, "unauthorized")
    assert body["detail"] == "the API key has expired"


@pytest.mark.parametrize("days", [0, -1, 3651, "soon", 1.5])
async def test_a_bad_expiry_is_a_422(admin: httpx.AsyncClient, engine: AsyncEngine, days: object) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    response = await admin.post("/v1/workflows/greeter/api-keys", json={"name": "ci", "expires_in_days": days})
    body = assert_problem(response, 422, "invalid_request")
    assert "expires_in_days" in str(body["errors"])
    assert (await admin.get("/v1/workflows/greeter/api-keys")).json()["items"] == []
