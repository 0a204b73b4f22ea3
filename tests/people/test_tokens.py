"""Personal access tokens, end to end through the API: issued and shown once, used, listed with their last use,
revoked (the next request is 401), expired; a user's own, and those owners and admins manage."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import issue_key
from tests.jobs.conftest import GREETER, deploy_workflow
from tests.people.conftest import ClientFactory, Team, as_operator, create_workspace
from tests.workflows.conftest import assert_problem
from workflow_service.core.clock import utcnow
from workflow_service.models import PersonalToken

token_t: sa.Table = PersonalToken.__table__  # type: ignore[assignment]


async def _stored(engine: AsyncEngine, token_id: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(token_t).where(token_t.c.id == uuid.UUID(token_id)))).one()


async def test_a_token_is_issued_used_listed_and_revoked(
    team: Team, connect: ClientFactory, engine: AsyncEngine
) -> None:
    response = await team.member.client.post("/v1/me/tokens", json={"name": "laptop"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["token"].startswith(created["prefix"] + "_")
    assert created["prefix"].startswith("wfs_pat_")
    lifetime = datetime.fromisoformat(created["expires_at"]) - datetime.fromisoformat(created["created_at"])
    assert lifetime == timedelta(days=90)
    assert (created["last_used_at"], created["revoked_at"]) == (None, None)
    stored = await _stored(engine, created["id"])
    assert created["token"] not in stored.token_hash  # only a hash is kept

    laptop = connect(created["token"])
    assert (await laptop.get("/v1/me")).json()["user"]["id"] == team.member.id
    listed = (await laptop.get("/v1/me/tokens")).json()["items"]
    assert [t["name"] for t in listed] == ["laptop", "initial"]  # newest first
    assert listed[0]["last_used_at"] is not None
    assert set(listed[0]) == {"id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"}

    revoked = await team.member.client.delete(f"/v1/me/tokens/{created['id']}")
    assert revoked.status_code == 204, revoked.text
    problem = assert_problem(await laptop.get("/v1/me"), 401, "unauthorized")
    assert problem["detail"] == "the token has been revoked"
    listed = (await team.member.client.get("/v1/me/tokens")).json()["items"]
    assert listed[0]["revoked_at"] is not None
    # revoking it again changes nothing
    again = await team.member.client.delete(f"/v1/me/tokens/{created['id']}")
    assert again.status_code == 204
    assert (await team.member.client.get("/v1/me/tokens")).json()["items"][0]["revoked_at"] == listed[0]["revoked_at"]


async def test_a_token_may_never_expire_or_expire_in_a_set_number_of_days(team: Team) -> None:
    forever = (await team.member.client.post("/v1/me/tokens", json={"name": "ci", "expires_in_days": None})).json()
    assert forever["expires_at"] is None
    week = (await team.member.client.post("/v1/me/tokens", json={"name": "ci", "expires_in_days": 7})).json()
    lifetime = datetime.fromisoformat(week["expires_at"]) - datetime.fromisoformat(week["created_at"])
    assert lifetime == timedelta(days=7)


async def test_an_expired_token_is_refused(team: Team, connect: ClientFactory, engine: AsyncEngine) -> None:
    created = (await team.member.client.post("/v1/me/tokens", json={"name": "old"})).json()
    async with engine.begin() as conn:
        await conn.execute(
            token_t.update()
            .where(token_t.c.id == uuid.UUID(created["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    problem = assert_problem(await connect(created["token"]).get("/v1/me"), 401, "unauthorized")
    assert problem["detail"] == "the token has expired"
    assert (await team.member.client.get("/v1/me")).status_code == 200  # the user's other token still works


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({}, "$.name"),
        ({"name": ""}, "$.name"),
        ({"name": "x" * 201}, "$.name"),
        ({"name": "ci", "expires_in_days": 0}, "$.expires_in_days"),
        ({"name": "ci", "expires_in_days": 3651}, "$.expires_in_days"),
        ({"name": "ci", "expires_in_days": "soon"}, "$.expires_in_days"),
        ({"name": "ci", "scopes": ["all"]}, "$.scopes"),
    ],
)
async def test_a_bad_token_request_is_refused_naming_the_field(team: Team, body: dict[str, Any], path: str) -> None:
    problem = assert_problem(await team.member.client.post("/v1/me/tokens", json=body), 422, "invalid_request")
    assert [e["path"] for e in problem["errors"]] == [path]
    assert len((await team.member.client.get("/v1/me/tokens")).json()["items"]) == 1


async def test_only_users_have_personal_tokens(admin: httpx.AsyncClient, connect: ClientFactory) -> None:
    for method, path, body in [
        ("POST", "/v1/me/tokens", {"name": "x"}),
        ("GET", "/v1/me/tokens", None),
        ("DELETE", f"/v1/me/tokens/{uuid.uuid4()}", None),
    ]:
        problem = assert_problem(await admin.request(method, path, json=body), 403, "forbidden")
        assert "WFS_ADMIN_TOKEN" in problem["detail"]
    await deploy_workflow(admin, "greeter", GREETER)
    key = connect((await issue_key(admin, "greeter"))["key"])
    assert_problem(await key.post("/v1/me/tokens", json={"name": "x"}), 403, "forbidden")
    assert_problem(await key.get("/v1/me/tokens"), 403, "forbidden")


async def test_a_user_revokes_only_their_own_tokens(team: Team, connect: ClientFactory) -> None:
    theirs = (await team.other.client.post("/v1/me/tokens", json={"name": "theirs"})).json()
    for ref in (theirs["id"], str(uuid.uuid4()), "not-an-id"):
        problem = assert_problem(await team.member.client.delete(f"/v1/me/tokens/{ref}"), 404, "not_found")
        assert ref in problem["detail"]
    # the owner's too: managing users' tokens goes through /v1/users/{id}/tokens
    assert_problem(await team.owner.client.delete(f"/v1/me/tokens/{theirs['id']}"), 404, "not_found")
    assert (await connect(theirs["token"]).get("/v1/me")).status_code == 200


async def test_owners_and_admins_list_and_revoke_a_users_tokens(team: Team, connect: ClientFactory) -> None:
    laptop = (await team.member.client.post("/v1/me/tokens", json={"name": "laptop"})).json()
    listed = (await team.admin.client.get(f"/v1/users/{team.member.id}/tokens")).json()["items"]
    assert [t["name"] for t in listed] == ["laptop", "initial"]
    assert all("token" not in t for t in listed)
    response = await team.admin.client.delete(f"/v1/users/{team.member.id}/tokens/{laptop['id']}")
    assert response.status_code == 204, response.text
    assert_problem(await connect(laptop["token"]).get("/v1/me"), 401, "unauthorized")
    assert (await team.member.client.get("/v1/me")).status_code == 200  # the other token still works
    # a token is revoked only through its own user
    mismatched = await team.owner.client.delete(f"/v1/users/{team.other.id}/tokens/{listed[1]['id']}")
    assert_problem(mismatched, 404, "not_found")
    assert (await team.member.client.get("/v1/me")).status_code == 200
    assert_problem(await team.member.client.get(f"/v1/users/{team.other.id}/tokens"), 403, "forbidden")
    # the operator, naming the workspace, too
    operator = as_operator(connect, "acme")
    assert (await operator.delete(f"/v1/users/{team.member.id}/tokens/{listed[1]['id']}")).status_code == 204
    assert_problem(await team.member.client.get("/v1/me"), 401, "unauthorized")


async def test_a_token_acts_only_in_its_own_workspace(team: Team, admin: httpx.AsyncClient) -> None:
    await create_workspace(admin, "globex")
    for slug in ("globex", "nowhere"):
        response = await team.owner.client.get("/v1/me", headers={"Wfs-Workspace": slug})
        assert slug in assert_problem(response, 404, "not_found")["detail"]
    same = await team.owner.client.get("/v1/me", headers={"Wfs-Workspace": "acme"})
    assert same.json()["workspace"]["slug"] == "acme"


async def test_an_unknown_or_malformed_token_is_refused(connect: ClientFactory, engine: AsyncEngine) -> None:
    for token in ("wfs_pat_0123456789ab_" + "x" * 43, "wfs_pat_nope"):
        problem = assert_problem(await connect(token).get("/v1/me"), 401, "unauthorized")
        assert problem["detail"] == "the token is not valid"
