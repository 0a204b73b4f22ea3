"""Sharing a workflow with members of the workspace: what each role lets them do, end to end, and the rules of
inviting."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.apikeys.conftest import issue_key
from tests.jobs.conftest import GREETER, deploy_workflow, submit
from tests.people.conftest import ClientFactory, Team, as_operator, create_workspace
from tests.workflows.conftest import assert_problem

ASYNC = "/v1/workflows/{}/versions/current/async"


async def _share(client: httpx.AsyncClient, workflow: str, user_id: str, role: str) -> httpx.Response:
    return await client.put(f"/v1/workflows/{workflow}/members/{user_id}", json={"role": role})


def _slugs(page: httpx.Response) -> list[str]:
    return [w["slug"] for w in page.json()["items"]]


async def test_a_runner_sees_runs_and_cancels_but_does_not_deploy(team: Team) -> None:
    owner, member = team.owner.client, team.member.client
    await deploy_workflow(owner, "greeter", GREETER)
    await deploy_workflow(owner, "secret", GREETER)
    assert _slugs(await member.get("/v1/workflows")) == []
    assert_problem(await member.get("/v1/workflows/greeter"), 404, "not_found")

    invited = await _share(owner, "greeter", team.member.id, "runner")
    assert invited.status_code == 201, invited.text
    assert (invited.json()["role"], invited.json()["email"]) == ("runner", team.member.email)
    assert _slugs(await member.get("/v1/workflows")) == ["greeter"]
    assert (await member.get("/v1/workflows/greeter")).status_code == 200
    job = await submit(member, "greeter", {"name": "Ada"})
    assert (await member.get(f"/v1/jobs/{job['id']}")).status_code == 200
    canceled = await member.post(f"/v1/jobs/{job['id']}/cancel")
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    problem = assert_problem(await member.post("/v1/workflows/greeter/deploy"), 403, "forbidden")
    assert "runner" in problem["detail"]
    # another's job on the same workflow: readable (they may read its jobs), not cancelable
    owners = await submit(owner, "greeter", {"name": "Bo"})
    assert_problem(await member.post(f"/v1/jobs/{owners['id']}/cancel"), 403, "forbidden")
    # the workflow they were not invited to stays hidden
    assert_problem(await member.get("/v1/workflows/secret"), 404, "not_found")
    assert_problem(await member.post(ASYNC.format("secret"), json={"inputs": {"name": "x"}}), 404, "not_found")

    viewer = await _share(owner, "greeter", team.member.id, "viewer")
    assert viewer.status_code == 200, viewer.text
    assert viewer.json()["role"] == "viewer"
    assert_problem(await member.post(ASYNC.format("greeter"), json={"inputs": {"name": "x"}}), 403, "forbidden")
    assert (await member.get(f"/v1/jobs/{job['id']}")).status_code == 200

    removed = await owner.delete(f"/v1/workflows/greeter/members/{team.member.id}")
    assert removed.status_code == 204, removed.text
    assert_problem(await member.get("/v1/workflows/greeter"), 404, "not_found")
    assert _slugs(await member.get("/v1/workflows")) == []
    assert_problem(await member.get(f"/v1/jobs/{owners['id']}"), 404, "not_found")


async def test_members_are_listed_with_their_roles(team: Team, connect: ClientFactory) -> None:
    workflow = await deploy_workflow(team.admin.client, "greeter", GREETER)
    await _share(team.admin.client, "greeter", team.member.id, "editor")
    await _share(team.admin.client, workflow["id"], team.other.id, "viewer")  # by id as well as by slug
    response = await team.other.client.get("/v1/workflows/greeter/members")
    assert response.status_code == 200, response.text
    listed = response.json()
    assert listed["workflow"] == {"id": workflow["id"], "slug": "greeter"}
    assert [(m["id"], m["email"], m["role"]) for m in listed["items"]] == [
        (team.member.id, team.member.email, "editor"),
        (team.other.id, team.other.email, "viewer"),
    ]
    assert (await as_operator(connect, "acme").get("/v1/workflows/greeter/members")).json() == listed


async def test_a_members_own_workflow_is_theirs_to_share(team: Team) -> None:
    member = team.member.client
    await deploy_workflow(member, "mine", GREETER)
    [me] = (await member.get("/v1/workflows/mine/members")).json()["items"]
    assert (me["id"], me["role"]) == (team.member.id, "owner")
    # a member does not list the workspace's users: they name the one they invite by email
    assert_problem(await member.get("/v1/users"), 403, "forbidden")
    invited = await _share(member, "mine", team.other.email.upper(), "runner")
    assert invited.status_code == 201, invited.text
    assert invited.json()["id"] == team.other.id
    assert (await team.other.client.get("/v1/workflows/mine")).status_code == 200
    # a runner does not share further
    problem = assert_problem(await _share(team.other.client, "mine", team.other.id, "owner"), 403, "forbidden")
    assert "runner" in problem["detail"]
    assert_problem(await team.other.client.delete(f"/v1/workflows/mine/members/{team.member.id}"), 403, "forbidden")
    # an editor neither
    await _share(member, "mine", team.other.id, "editor")
    assert_problem(await _share(team.other.client, "mine", team.other.id, "owner"), 403, "forbidden")
    # an owner by invitation does
    await _share(member, "mine", team.other.id, "owner")
    assert (await _share(team.other.client, "mine", team.member.id, "viewer")).status_code == 200


async def test_workspace_owners_and_admins_are_not_invited(team: Team) -> None:
    await deploy_workflow(team.owner.client, "greeter", GREETER)
    for person in (team.owner, team.admin):
        problem = assert_problem(await _share(team.owner.client, "greeter", person.id, "viewer"), 422, "invalid_input")
        assert "already an owner of every workflow" in problem["detail"]
        assert problem["errors"][0]["path"] == "path:user_id"
    assert (await team.owner.client.get("/v1/workflows/greeter/members")).json()["items"] == []


async def test_only_members_of_the_workspace_are_invited(
    team: Team, admin: httpx.AsyncClient, connect: ClientFactory
) -> None:
    await deploy_workflow(team.owner.client, "greeter", GREETER)
    elsewhere = (await create_workspace(admin, "globex"))["owner"]["id"]
    for ref in (elsewhere, str(uuid.uuid4()), "nobody", "owner@globex.test", "nobody@acme.test"):
        for response in (
            await _share(team.owner.client, "greeter", ref, "runner"),
            await team.owner.client.delete(f"/v1/workflows/greeter/members/{ref}"),
        ):
            problem = assert_problem(response, 404, "not_found")
            assert problem["detail"] == f"user {ref!r} is not a member of this workspace"
    not_invited = await team.owner.client.delete(f"/v1/workflows/greeter/members/{team.member.id}")
    assert "not invited" in assert_problem(not_invited, 404, "not_found")["detail"]
    missing = await _share(team.owner.client, "missing", team.member.id, "runner")
    assert "missing" in assert_problem(missing, 404, "not_found")["detail"]
    assert_problem(await as_operator(connect, "acme").get("/v1/workflows/missing/members"), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "path"),
    [({}, "$.role"), ({"role": "admin"}, "$.role"), ({"role": None}, "$.role"), ({"role": "runner", "x": 1}, "$.x")],
)
async def test_a_bad_role_is_refused_naming_the_field(team: Team, body: dict[str, Any], path: str) -> None:
    await deploy_workflow(team.owner.client, "greeter", GREETER)
    response = await team.owner.client.put(f"/v1/workflows/greeter/members/{team.member.id}", json=body)
    assert [e["path"] for e in assert_problem(response, 422, "invalid_request")["errors"]] == [path]
    assert (await team.owner.client.get("/v1/workflows/greeter/members")).json()["items"] == []


async def test_a_key_neither_reads_who_a_workflow_is_shared_with_nor_shares(team: Team, connect: ClientFactory) -> None:
    """People's emails are not for programs: a key is a runner, but the members list is refused to it."""
    await deploy_workflow(team.owner.client, "greeter", GREETER)
    await _share(team.owner.client, "greeter", team.member.id, "runner")
    key = connect((await issue_key(team.owner.client, "greeter"))["key"])
    assert_problem(await key.get("/v1/workflows/greeter/members"), 403, "forbidden")
    assert (await team.member.client.get("/v1/workflows/greeter/members")).status_code == 200
    assert_problem(await _share(key, "greeter", team.other.id, "runner"), 403, "forbidden")
    assert_problem(await key.delete(f"/v1/workflows/greeter/members/{team.member.id}"), 403, "forbidden")
