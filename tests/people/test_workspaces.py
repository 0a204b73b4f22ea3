"""Workspaces: the operator creates them with their first owner; users list theirs; owners and admins change them;
`GET /v1/me` says who the caller is."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import issue_key
from tests.conftest import BASE_URL, TOKEN
from tests.jobs.conftest import GREETER, deploy_workflow
from tests.people.conftest import ClientFactory, Team, add_user, as_operator, create_workspace
from tests.workflows.conftest import assert_problem
from workflow_service.models import DEFAULT_WORKSPACE_ID

OWNER = {"email": "ada@example.com", "name": "Ada"}


async def _users_named(engine: AsyncEngine, email: str) -> int:
    async with engine.connect() as conn:
        stmt = sa.text("SELECT count(*) FROM app_user WHERE email = :email")
        return int((await conn.execute(stmt, {"email": email})).scalar_one())


async def test_the_operator_creates_a_workspace_with_its_owner_and_the_owners_first_token(
    connect: ClientFactory, admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    body = {"slug": "acme", "name": "Acme", "owner": {"email": "  Ada@Example.COM ", "name": "Ada"}}
    response = await admin.post("/v1/workspaces", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["Location"] == f"{BASE_URL}/v1/workspace"
    workspace = created["workspace"]
    assert (workspace["slug"], workspace["name"], workspace["retention_days"]) == ("acme", "Acme", None)
    assert created["owner"]["email"] == "ada@example.com"  # stored lower-cased, trimmed
    assert (created["owner"]["name"], created["owner"]["role"]) == ("Ada", "owner")
    assert created["owner_token"].startswith("wfs_pat_")

    owner = connect(created["owner_token"])
    me = (await owner.get("/v1/me")).json()
    assert me == {
        "kind": "user",
        "actor": f"user:{created['owner']['id']}",
        "name": "ada@example.com",
        "workspace": {"id": workspace["id"], "slug": "acme"},
        "workspace_role": "owner",
        "user": {"id": created["owner"]["id"], "email": "ada@example.com", "name": "Ada"},
        "workflow": None,
    }
    assert (await owner.get("/v1/workspace")).json() == workspace
    [token] = (await owner.get("/v1/me/tokens")).json()["items"]
    assert (token["name"], token["expires_at"], token["revoked_at"]) == ("initial", None, None)
    # The operator reads it by naming it.
    assert (await as_operator(connect, "acme").get("/v1/workspace")).json() == workspace


async def test_the_owners_first_token_may_expire(admin: httpx.AsyncClient, connect: ClientFactory) -> None:
    created = await create_workspace(admin, "acme", owner_token_expires_in_days=7)
    [token] = (await connect(created["owner_token"]).get("/v1/me/tokens")).json()["items"]
    expires = datetime.fromisoformat(token["expires_at"]) - datetime.fromisoformat(token["created_at"])
    assert expires == timedelta(days=7)


async def test_an_existing_user_becomes_the_owner_of_a_new_workspace(
    admin: httpx.AsyncClient, connect: ClientFactory, engine: AsyncEngine
) -> None:
    first = await create_workspace(admin, "acme", owner="ada@example.com")
    second = await create_workspace(admin, "globex", owner="ADA@example.com")
    assert second["owner"]["id"] == first["owner"]["id"]
    assert await _users_named(engine, "ada@example.com") == 1
    # one user, two workspaces: each token acts in its own
    for created, slug in ((first, "acme"), (second, "globex")):
        me = (await connect(created["owner_token"]).get("/v1/me")).json()
        assert (me["workspace"]["slug"], me["workspace_role"]) == (slug, "owner")
    listed = (await connect(first["owner_token"]).get("/v1/workspaces")).json()
    assert [(w["slug"], w["role"]) for w in listed["items"]] == [("globex", "owner"), ("acme", "owner")]


async def test_a_duplicate_slug_is_a_conflict(admin: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await create_workspace(admin, "acme")
    response = await admin.post("/v1/workspaces", json={"slug": "acme", "name": "Again", "owner": OWNER})
    assert "acme" in assert_problem(response, 409, "conflict")["detail"]
    # nothing of it was kept: the owner's user was not made
    assert await _users_named(engine, "ada@example.com") == 0
    assert_problem(
        await admin.post("/v1/workspaces", json={"slug": "default", "name": "D", "owner": OWNER}), 409, "conflict"
    )


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"slug": "Acme", "name": "A", "owner": OWNER}, "$.slug"),
        ({"slug": "a_b", "name": "A", "owner": OWNER}, "$.slug"),
        ({"slug": "x" * 65, "name": "A", "owner": OWNER}, "$.slug"),
        ({"slug": "", "name": "A", "owner": OWNER}, "$.slug"),
        ({"slug": str(uuid.uuid4()), "name": "A", "owner": OWNER}, "$.slug"),
        ({"name": "A", "owner": OWNER}, "$.slug"),
        ({"slug": "acme", "owner": OWNER}, "$.name"),
        ({"slug": "acme", "name": "", "owner": OWNER}, "$.name"),
        ({"slug": "acme", "name": "A"}, "$.owner"),
        ({"slug": "acme", "name": "A", "owner": {"email": "ada@example.com"}}, "$.owner.name"),
        ({"slug": "acme", "name": "A", "owner": {"email": "not an email", "name": "Ada"}}, "$.owner.email"),
        ({"slug": "acme", "name": "A", "owner": {"email": "ada@localhost", "name": "Ada"}}, "$.owner.email"),
        ({"slug": "acme", "name": "A", "owner": {"email": "a@b@c.com", "name": "Ada"}}, "$.owner.email"),
        ({"slug": "acme", "name": "A", "owner": OWNER, "retention_days": 0}, "$.retention_days"),
        ({"slug": "acme", "name": "A", "owner": OWNER, "retention_days": 36501}, "$.retention_days"),
        (
            {"slug": "acme", "name": "A", "owner": OWNER, "owner_token_expires_in_days": 0},
            "$.owner_token_expires_in_days",
        ),
        ({"slug": "acme", "name": "A", "owner": OWNER, "color": "red"}, "$.color"),
    ],
)
async def test_a_bad_workspace_is_refused_naming_the_field(
    admin: httpx.AsyncClient, engine: AsyncEngine, body: dict[str, Any], path: str
) -> None:
    problem = assert_problem(await admin.post("/v1/workspaces", json=body), 422, "invalid_request")
    assert [e["path"] for e in problem["errors"]] == [path]
    assert path in problem["detail"]
    listed = (await admin.get("/v1/workspaces")).json()["items"]
    assert [w["slug"] for w in listed] == ["default"]


async def test_only_the_operator_creates_workspaces(
    team: Team, admin: httpx.AsyncClient, connect: ClientFactory
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    key = connect((await issue_key(admin, "greeter"))["key"])
    body = {"slug": "mine", "name": "Mine", "owner": OWNER}
    for client in (team.owner.client, team.admin.client, team.member.client, key):
        problem = assert_problem(await client.post("/v1/workspaces", json=body), 403, "forbidden")
        assert "operator" in problem["detail"] or "API key" in problem["detail"]
    assert "mine" not in {w["slug"] for w in (await admin.get("/v1/workspaces")).json()["items"]}


async def test_the_operator_lists_every_workspace_a_page_at_a_time(
    admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    for slug in ("one", "two", "three"):
        await create_workspace(admin, slug)
    first = (await admin.get("/v1/workspaces", params={"limit": 2})).json()
    assert [(w["slug"], w["role"]) for w in first["items"]] == [("three", None), ("two", None)]
    rest = (await admin.get("/v1/workspaces", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [w["slug"] for w in rest["items"]] == ["one", "default"]
    assert rest["next_cursor"] is None
    assert_problem(await admin.get("/v1/workspaces", params={"cursor": "!!"}), 422, "invalid_input")
    assert_problem(await admin.get("/v1/workspaces", params={"limit": 0}), 422, "invalid_request")


async def test_a_user_lists_only_their_workspaces_with_their_role(
    team: Team, admin: httpx.AsyncClient, connect: ClientFactory
) -> None:
    other = await create_workspace(admin, "globex")
    await add_user(connect(other["owner_token"]), team.member.email, "admin", issue_token=False)
    listed = (await team.member.client.get("/v1/workspaces")).json()["items"]
    assert [(w["slug"], w["role"]) for w in listed] == [("globex", "admin"), ("acme", "member")]
    assert [w["slug"] for w in (await team.owner.client.get("/v1/workspaces")).json()["items"]] == ["acme"]


async def test_owners_and_admins_change_the_workspace(team: Team, connect: ClientFactory) -> None:
    before = (await team.owner.client.get("/v1/workspace")).json()
    response = await team.admin.client.patch("/v1/workspace", json={"retention_days": 30})
    assert response.status_code == 200, response.text
    assert response.json() == {**before, "retention_days": 30}
    renamed = (await team.owner.client.patch("/v1/workspace", json={"name": "Acme Inc."})).json()
    assert (renamed["name"], renamed["retention_days"], renamed["slug"]) == ("Acme Inc.", 30, "acme")
    forever = (await as_operator(connect, "acme").patch("/v1/workspace", json={"retention_days": None})).json()
    assert forever["retention_days"] is None
    assert (await team.member.client.get("/v1/workspace")).json() == forever
    problem = assert_problem(await team.member.client.patch("/v1/workspace", json={"name": "Mine"}), 403, "forbidden")
    assert "owners and admins" in problem["detail"]
    assert (await team.owner.client.get("/v1/workspace")).json()["name"] == "Acme Inc."


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"name": None}, "$.name"),
        ({"name": ""}, "$.name"),
        ({"retention_days": 0}, "$.retention_days"),
        ({"retention_days": 36501}, "$.retention_days"),
        ({"retention_days": "a week"}, "$.retention_days"),
        ({"slug": "renamed"}, "$.slug"),
    ],
)
async def test_a_bad_workspace_change_is_refused_naming_the_field(team: Team, body: dict[str, Any], path: str) -> None:
    before = (await team.owner.client.get("/v1/workspace")).json()
    problem = assert_problem(await team.owner.client.patch("/v1/workspace", json=body), 422, "invalid_request")
    assert [e["path"] for e in problem["errors"]] == [path]
    assert (await team.owner.client.get("/v1/workspace")).json() == before


async def test_me_says_who_the_operator_and_a_key_are(admin: httpx.AsyncClient, connect: ClientFactory) -> None:
    assert (await admin.get("/v1/me")).json() == {
        "kind": "operator",
        "actor": "admin",
        "name": "operator",
        "workspace": {"id": str(DEFAULT_WORKSPACE_ID), "slug": "default"},
        "workspace_role": None,
        "user": None,
        "workflow": None,
    }
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    created = await issue_key(admin, "greeter", "shop")
    key = connect(created["key"])
    assert (await key.get("/v1/me")).json() == {
        "kind": "key",
        "actor": f"key:{created['id']}",
        "name": "shop",
        "workspace": {"id": str(DEFAULT_WORKSPACE_ID), "slug": "default"},
        "workspace_role": None,
        "user": None,
        "workflow": {"id": workflow["id"], "slug": "greeter"},
    }
    assert (await key.get("/v1/workspace")).json()["slug"] == "default"
    assert_problem(await key.get("/v1/workspaces"), 403, "forbidden")
    assert_problem(await key.patch("/v1/workspace", json={"name": "x"}), 403, "forbidden")


async def test_the_operator_acts_in_the_workspace_it_names(
    admin: httpx.AsyncClient, connect: ClientFactory, engine: AsyncEngine
) -> None:
    created = await create_workspace(admin, "acme")
    me = (await as_operator(connect, "acme").get("/v1/me")).json()
    assert me["workspace"] == {"id": created["workspace"]["id"], "slug": "acme"}
    problem = assert_problem(await as_operator(connect, "nowhere").get("/v1/me"), 404, "not_found")
    assert "nowhere" in problem["detail"]
    default = connect(TOKEN)
    default.headers["Wfs-Workspace"] = "default"
    assert (await default.get("/v1/me")).json()["workspace"]["id"] == str(DEFAULT_WORKSPACE_ID)
