"""Workspaces are isolated: nothing of one is seen or changed from another (404, exactly like a missing object),
listings show only the caller's workspace, and slugs are unique only within a workspace."""

from __future__ import annotations

import httpx
import pytest

from tests.apikeys.conftest import issue_key
from tests.conftest import WorkerFactory, wait_for_job
from tests.jobs.conftest import GREETER, deploy_workflow, submit
from tests.people.conftest import ClientFactory, Team, as_operator, make_team
from tests.workflows.conftest import assert_problem


@pytest.fixture
async def rival(admin: httpx.AsyncClient, connect: ClientFactory) -> Team:
    """A second workspace, `globex`, with its own people."""
    return await make_team(admin, connect, "globex")


async def test_a_user_of_another_workspace_finds_nothing_of_this_one(team: Team, rival: Team) -> None:
    await deploy_workflow(team.owner.client, "greeter", GREETER)
    await team.owner.client.put(f"/v1/workflows/greeter/members/{team.member.id}", json={"role": "runner"})
    job = await submit(team.member.client, "greeter", {"name": "Ada"})
    for outsider in (rival.owner.client, rival.admin.client):
        for method, path, body in [
            ("GET", "/v1/workflows/greeter", None),
            ("GET", "/v1/workflows/greeter/versions", None),
            ("PUT", "/v1/workflows/greeter/draft", {"definition": GREETER}),
            ("POST", "/v1/workflows/greeter/versions/current/async", {"inputs": {"name": "x"}}),
            ("GET", "/v1/workflows/greeter/members", None),
            ("PUT", f"/v1/workflows/greeter/members/{rival.member.id}", {"role": "owner"}),
            ("DELETE", f"/v1/workflows/greeter/members/{team.member.id}", None),
            ("GET", f"/v1/jobs/{job['id']}", None),
            ("POST", f"/v1/jobs/{job['id']}/cancel", None),
            ("GET", f"/v1/users/{team.member.id}", None),
            ("PATCH", f"/v1/users/{team.member.id}", {"role": "admin"}),
            ("DELETE", f"/v1/users/{team.member.id}", None),
            ("GET", f"/v1/users/{team.member.id}/tokens", None),
        ]:
            response = await outsider.request(method, path, json=body)
            assert_problem(response, 404, "not_found")
    # nothing changed
    assert (await team.owner.client.get(f"/v1/jobs/{job['id']}")).json()["status"] == "pending"
    members = (await team.owner.client.get("/v1/workflows/greeter/members")).json()["items"]
    assert [(m["id"], m["role"]) for m in members] == [(team.member.id, "runner")]
    assert (await team.owner.client.get(f"/v1/users/{team.member.id}")).json()["role"] == "member"


async def test_listings_show_only_the_callers_workspace(team: Team, rival: Team) -> None:
    await deploy_workflow(team.owner.client, "greeter", GREETER)
    await deploy_workflow(rival.owner.client, "shop", GREETER)
    ours = await submit(team.owner.client, "greeter", {"name": "Ada"})
    theirs = await submit(rival.owner.client, "shop", {"name": "Bo"})
    for us, them, workflow, job in ((team, rival, "greeter", ours), (rival, team, "shop", theirs)):
        client = us.owner.client
        assert [w["slug"] for w in (await client.get("/v1/workflows")).json()["items"]] == [workflow]
        jobs = (await client.get("/v1/jobs", params={"scope": "all"})).json()["items"]
        assert [j["id"] for j in jobs] == [job["id"]]
        emails = {u["email"] for u in (await client.get("/v1/users")).json()["items"]}
        assert emails == {p.email for p in (us.owner, us.admin, us.member, us.other)}
        assert not emails & {p.email for p in (them.owner, them.admin, them.member, them.other)}
        other_slug = "shop" if workflow == "greeter" else "greeter"
        assert_problem(await client.get("/v1/jobs", params={"workflow": other_slug}), 404, "not_found")


async def test_the_operator_acts_in_the_workspace_it_names(
    team: Team, rival: Team, admin: httpx.AsyncClient, connect: ClientFactory
) -> None:
    await deploy_workflow(rival.owner.client, "shop", GREETER)
    in_globex = as_operator(connect, "globex")
    assert [w["slug"] for w in (await in_globex.get("/v1/workflows")).json()["items"]] == ["shop"]
    job = await submit(in_globex, "shop", {"name": "Op"})
    assert (await rival.owner.client.get(f"/v1/jobs/{job['id']}")).status_code == 200
    created = await in_globex.post("/v1/workflows", json={"name": "ops", "slug": "ops", "definition": GREETER})
    assert created.status_code == 201, created.text
    assert {w["slug"] for w in (await rival.owner.client.get("/v1/workflows")).json()["items"]} == {"shop", "ops"}
    # not in the default workspace, nor in acme
    assert (await admin.get("/v1/workflows")).json()["items"] == []
    assert_problem(await as_operator(connect, "acme").get("/v1/workflows/shop"), 404, "not_found")
    assert_problem(await as_operator(connect, "nowhere").get("/v1/workflows"), 404, "not_found")


async def test_a_credential_naming_another_workspace_is_not_found(
    team: Team, rival: Team, connect: ClientFactory
) -> None:
    await deploy_workflow(team.owner.client, "greeter", GREETER)
    key = connect((await issue_key(team.owner.client, "greeter"))["key"])
    for client in (team.owner.client, team.member.client, key):
        for slug in ("globex", "nowhere"):
            response = await client.get("/v1/workflows", headers={"Wfs-Workspace": slug})
            assert slug in assert_problem(response, 404, "not_found")["detail"]
    assert (await key.get("/v1/me", headers={"Wfs-Workspace": "acme"})).status_code == 200


async def test_two_workspaces_each_deploy_and_run_a_workflow_of_the_same_slug(
    team: Team, rival: Team, start_worker: WorkerFactory
) -> None:
    ours = {**GREETER, "variables": {"greeting": "Hello"}}
    theirs = {**GREETER, "variables": {"greeting": "Bonjour"}}
    mine = await deploy_workflow(team.owner.client, "greeter", ours)
    other = await deploy_workflow(rival.owner.client, "greeter", theirs)
    assert mine["id"] != other["id"]
    await start_worker()
    for client, workflow, greeting in ((team.owner.client, mine, "Hello"), (rival.owner.client, other, "Bonjour")):
        assert (await client.get("/v1/workflows/greeter")).json()["id"] == workflow["id"]
        job = await submit(client, "greeter", {"name": "Ada"})
        done = await wait_for_job(client, job["id"])
        assert done["output"] == {"greeting": f"{greeting}, Ada!"}
        # and by the other's id, nothing
        foreign = other["id"] if workflow is mine else mine["id"]
        assert_problem(await client.get(f"/v1/workflows/{foreign}"), 404, "not_found")
