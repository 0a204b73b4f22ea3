"""The users of a workspace: added by its owners and admins, with roles; only owners touch owners; the last owner
stays; removing a user revokes their tokens and invitations there, and nothing elsewhere."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import BASE_URL
from tests.jobs.conftest import GREETER, deploy_workflow
from tests.people.conftest import ClientFactory, Team, add_user, as_operator, create_workspace
from tests.workflows.conftest import assert_problem


async def test_an_admin_adds_a_member_who_signs_in_with_the_token(team: Team, connect: ClientFactory) -> None:
    body = {"email": "Grace@Example.com", "name": "Grace"}
    response = await team.admin.client.post("/v1/users", json=body)
    assert response.status_code == 201, response.text
    added = response.json()
    assert response.headers["Location"] == f"{BASE_URL}/v1/users/{added['id']}"
    assert (added["email"], added["name"], added["role"]) == ("grace@example.com", "Grace", "member")
    assert added["token"].startswith("wfs_pat_")
    me = (await connect(added["token"]).get("/v1/me")).json()
    assert (me["kind"], me["workspace"]["slug"], me["workspace_role"]) == ("user", "acme", "member")
    read = (await team.owner.client.get(f"/v1/users/{added['id']}")).json()
    assert read == {k: v for k, v in added.items() if k != "token"}
    assert (await team.owner.client.get("/v1/users/GRACE@example.com")).json() == read  # by email too
    [token] = (await team.owner.client.get(f"/v1/users/{added['id']}/tokens")).json()["items"]
    assert token["name"] == "initial"
    assert token["expires_at"] is not None  # 90 days by default


async def test_a_user_may_be_added_without_a_token_or_with_one_that_never_expires(team: Team) -> None:
    bare = await add_user(team.owner.client, "bare@example.com", issue_token=False)
    assert bare["token"] is None
    assert (await team.owner.client.get(f"/v1/users/{bare['id']}/tokens")).json()["items"] == []
    forever = await add_user(team.owner.client, "forever@example.com", token_expires_in_days=None)
    [token] = (await team.owner.client.get(f"/v1/users/{forever['id']}/tokens")).json()["items"]
    assert token["expires_at"] is None


async def test_a_user_of_another_workspace_is_made_a_member_and_a_member_again_is_a_conflict(
    team: Team, admin: httpx.AsyncClient, connect: ClientFactory, engine: AsyncEngine
) -> None:
    globex = await create_workspace(admin, "globex")
    there = connect(globex["owner_token"])
    added = await add_user(there, team.member.email.upper(), "admin", name="Ignored")
    assert added["id"] == team.member.id
    assert (added["name"], added["role"]) == ("Member", "admin")  # the user's name is kept
    async with engine.connect() as conn:
        count = await conn.execute(sa.text("SELECT count(*) FROM app_user WHERE email = :e"), {"e": team.member.email})
        assert count.scalar_one() == 1
    # each token acts in its own workspace, with the role there
    assert (await connect(added["token"]).get("/v1/me")).json()["workspace_role"] == "admin"
    assert (await team.member.client.get("/v1/me")).json()["workspace_role"] == "member"
    again = await there.post("/v1/users", json={"email": team.member.email, "name": "M"})
    assert team.member.email in assert_problem(again, 409, "conflict")["detail"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"name": "No Email"}, "$.email"),
        ({"email": "nobody@example.com"}, "$.name"),
        ({"email": "nobody@", "name": "N"}, "$.email"),
        ({"email": "@example.com", "name": "N"}, "$.email"),
        ({"email": "two words@example.com", "name": "N"}, "$.email"),
        ({"email": "n@example.com", "name": ""}, "$.name"),
        ({"email": "n@example.com", "name": "N", "role": "king"}, "$.role"),
        ({"email": "n@example.com", "name": "N", "token_expires_in_days": 0}, "$.token_expires_in_days"),
        ({"email": "n@example.com", "name": "N", "token_expires_in_days": 3651}, "$.token_expires_in_days"),
        ({"email": "n@example.com", "name": "N", "password": "x"}, "$.password"),
    ],
)
async def test_a_bad_user_is_refused_naming_the_field(team: Team, body: dict[str, Any], path: str) -> None:
    problem = assert_problem(await team.owner.client.post("/v1/users", json=body), 422, "invalid_request")
    assert [e["path"] for e in problem["errors"]] == [path]
    assert path in problem["detail"]
    assert len((await team.owner.client.get("/v1/users")).json()["items"]) == 4


async def test_users_are_listed_a_page_at_a_time_newest_first(team: Team) -> None:
    first = (await team.admin.client.get("/v1/users", params={"limit": 3})).json()
    assert [u["email"] for u in first["items"]] == ["other@acme.test", "member@acme.test", "admin@acme.test"]
    assert [u["role"] for u in first["items"]] == ["member", "member", "admin"]
    rest = (await team.admin.client.get("/v1/users", params={"limit": 3, "cursor": first["next_cursor"]})).json()
    assert [(u["email"], u["role"]) for u in rest["items"]] == [("owner@acme.test", "owner")]
    assert rest["next_cursor"] is None


async def test_members_may_not_manage_users(team: Team) -> None:
    client = team.member.client
    calls = [
        ("GET", "/v1/users", None),
        ("POST", "/v1/users", {"email": "x@example.com", "name": "X"}),
        ("GET", f"/v1/users/{team.other.id}", None),
        ("PATCH", f"/v1/users/{team.other.id}", {"role": "admin"}),
        ("DELETE", f"/v1/users/{team.other.id}", None),
        ("GET", f"/v1/users/{team.other.id}/tokens", None),
    ]
    for method, path, body in calls:
        problem = assert_problem(await client.request(method, path, json=body), 403, "forbidden")
        assert "owners and admins" in problem["detail"]
    assert (await team.owner.client.get(f"/v1/users/{team.other.id}")).json()["role"] == "member"


async def test_a_user_of_another_workspace_or_none_is_not_found(team: Team, admin: httpx.AsyncClient) -> None:
    elsewhere = (await create_workspace(admin, "globex"))["owner"]["id"]
    for ref in (elsewhere, str(uuid.uuid4()), "not-an-id", "owner@globex.test", "nobody@acme.test"):
        for method, path, body in [
            ("GET", f"/v1/users/{ref}", None),
            ("PATCH", f"/v1/users/{ref}", {"name": "X"}),
            ("DELETE", f"/v1/users/{ref}", None),
            ("GET", f"/v1/users/{ref}/tokens", None),
            ("DELETE", f"/v1/users/{ref}/tokens/{uuid.uuid4()}", None),
        ]:
            problem = assert_problem(await team.owner.client.request(method, path, json=body), 404, "not_found")
            assert problem["detail"] == f"user {ref!r} is not a member of this workspace"


async def test_roles_and_names_change(team: Team) -> None:
    response = await team.admin.client.patch(f"/v1/users/{team.member.id}", json={"role": "admin"})
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "admin"
    assert (await team.member.client.get("/v1/me")).json()["workspace_role"] == "admin"  # at once
    renamed = (await team.admin.client.patch(f"/v1/users/{team.member.id}", json={"name": "Mo"})).json()
    assert (renamed["name"], renamed["role"]) == ("Mo", "admin")
    same = await team.admin.client.patch(f"/v1/users/{team.member.id}", json={})
    assert same.json() == renamed


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"role": None}, "$.role"),
        ({"role": "king"}, "$.role"),
        ({"name": None}, "$.name"),
        ({"email": "x@y.z"}, "$.email"),
    ],
)
async def test_a_bad_user_change_is_refused_naming_the_field(team: Team, body: dict[str, Any], path: str) -> None:
    response = await team.owner.client.patch(f"/v1/users/{team.member.id}", json=body)
    assert [e["path"] for e in assert_problem(response, 422, "invalid_request")["errors"]] == [path]


async def test_only_owners_make_change_or_remove_owners(team: Team) -> None:
    owners_only = "only workspace owners may make, change or remove owners"
    refused = [
        await team.admin.client.post("/v1/users", json={"email": "boss@example.com", "name": "B", "role": "owner"}),
        await team.admin.client.patch(f"/v1/users/{team.member.id}", json={"role": "owner"}),
        await team.admin.client.patch(f"/v1/users/{team.owner.id}", json={"role": "member"}),
        await team.admin.client.patch(f"/v1/users/{team.admin.id}", json={"role": "owner"}),
        await team.admin.client.delete(f"/v1/users/{team.owner.id}"),
    ]
    for response in refused:
        assert assert_problem(response, 403, "forbidden")["detail"] == owners_only
    roles = {u["email"]: u["role"] for u in (await team.owner.client.get("/v1/users")).json()["items"]}
    assert roles == {
        "owner@acme.test": "owner",
        "admin@acme.test": "admin",
        "member@acme.test": "member",
        "other@acme.test": "member",
    }
    # an admin still manages admins and members, and the owner manages owners
    assert (await team.admin.client.patch(f"/v1/users/{team.other.id}", json={"role": "admin"})).status_code == 200
    promoted = await team.owner.client.patch(f"/v1/users/{team.member.id}", json={"role": "owner"})
    assert promoted.json()["role"] == "owner"
    boss = await add_user(team.owner.client, "boss@example.com", "owner")
    assert boss["role"] == "owner"


async def test_the_last_owner_is_neither_demoted_nor_removed(team: Team, connect: ClientFactory) -> None:
    operator = as_operator(connect, "acme")
    for client in (team.owner.client, operator):
        demoted = await client.patch(f"/v1/users/{team.owner.id}", json={"role": "admin"})
        assert "last owner" in assert_problem(demoted, 409, "conflict")["detail"]
        removed = await client.delete(f"/v1/users/{team.owner.id}")
        assert "last owner" in assert_problem(removed, 409, "conflict")["detail"]
    assert (await team.owner.client.get("/v1/me")).json()["workspace_role"] == "owner"
    # with a second owner, the first may step down
    await operator.patch(f"/v1/users/{team.admin.id}", json={"role": "owner"})
    stepped = await team.owner.client.patch(f"/v1/users/{team.owner.id}", json={"role": "member"})
    assert stepped.json()["role"] == "member"
    assert_problem(await team.admin.client.delete(f"/v1/users/{team.admin.id}"), 409, "conflict")


async def test_removing_a_user_revokes_their_tokens_and_invitations_here_only(
    team: Team, admin: httpx.AsyncClient, connect: ClientFactory, engine: AsyncEngine
) -> None:
    await deploy_workflow(team.owner.client, "greeter", GREETER)
    assert (
        await team.owner.client.put(f"/v1/workflows/greeter/members/{team.member.id}", json={"role": "runner"})
    ).status_code == 201
    second = (await team.member.client.post("/v1/me/tokens", json={"name": "laptop"})).json()
    globex = await create_workspace(admin, "globex")
    elsewhere = connect((await add_user(connect(globex["owner_token"]), team.member.email))["token"])

    response = await team.admin.client.delete(f"/v1/users/{team.member.id}")
    assert response.status_code == 204, response.text
    for client in (team.member.client, connect(second["token"])):
        problem = assert_problem(await client.get("/v1/me"), 401, "unauthorized")
        assert "revoked" in problem["detail"]
    assert_problem(await team.owner.client.get(f"/v1/users/{team.member.id}"), 404, "not_found")
    assert (await team.owner.client.get("/v1/workflows/greeter/members")).json()["items"] == []
    async with engine.connect() as conn:
        tokens = (
            await conn.execute(
                sa.text("SELECT workspace_id, revoked_at FROM personal_token WHERE user_id = :u"),
                {"u": uuid.UUID(team.member.id)},
            )
        ).all()
    revoked = {str(ws): at is not None for ws, at in tokens}
    assert revoked == {team.workspace_id: True, globex["workspace"]["id"]: False}
    # their other workspace is untouched: the user is still there, with their token
    me = (await elsewhere.get("/v1/me")).json()
    assert (me["user"]["id"], me["workspace"]["slug"]) == (team.member.id, "globex")
    # and they may be added back, as the same user
    back = await add_user(team.owner.client, team.member.email)
    assert back["id"] == team.member.id
    assert (await connect(back["token"]).get("/v1/workflows/greeter")).status_code == 404  # invitations not restored


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(team: Team, connect: ClientFactory) -> None:
    await team.owner.client.patch(f"/v1/users/{team.admin.id}", json={"role": "owner"})
    for _ in range(5):
        first, second = await asyncio.gather(
            team.owner.client.patch(f"/v1/users/{team.admin.id}", json={"role": "admin"}),
            team.admin.client.patch(f"/v1/users/{team.owner.id}", json={"role": "admin"}),
        )
        # the second is refused: 409 as the last owner, or 403 when its caller had already been demoted
        assert sorted([first.status_code, second.status_code]) in ([200, 403], [200, 409]), (first.text, second.text)
        owners = [u for u in (await team.owner.client.get("/v1/users")).json()["items"] if u["role"] == "owner"]
        assert len(owners) == 1
        # make both owners again for the next round
        await as_operator(connect, "acme").patch(f"/v1/users/{team.admin.id}", json={"role": "owner"})
        await as_operator(connect, "acme").patch(f"/v1/users/{team.owner.id}", json={"role": "owner"})
