"""`GET /v1/jobs` over HTTP: each bad value a 422 naming its parameter, the filters that need people or versions
(a creator by email, a version of a workflow), the access rules kept with the new filters, and the row fields as
the API shows them. (The search, the filters and the sorts on both databases: tests/jobs/test_listing_parity.py.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.apikeys.conftest import issue_key
from tests.conftest import ClientFactory
from tests.jobs.conftest import GREETER, deploy_workflow, submit
from tests.jobs.people.conftest import People
from tests.jobs.test_submit import problem_paths

GREETER_V2 = {**GREETER, "steps": [*GREETER["steps"], {"id": "again", "type": "transform", "output": "x"}]}


async def listed(client: httpx.AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/v1/jobs", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"origin": "api,cron"}, "query:origin"),
        ({"created_by": "someone"}, "query:created_by"),
        ({"created_by": "user:not-an-id"}, "query:created_by"),
        ({"created_by": "robot:0192f3a1-7b2c-7abc-8def-0123456789ab"}, "query:created_by"),
        ({"version": "1"}, "query:version"),  # without `workflow`
        ({"workflow": "greeter", "version": "v2"}, "query:version"),
        ({"workflow": "greeter", "version": "0"}, "query:version"),
        ({"workflow": "greeter", "version": "9" * 20}, "query:version"),
        ({"created_from": "2026-01-01T00:00:00"}, "query:created_from"),  # no offset: which time is it?
        ({"created_from": "yesterday"}, "query:created_from"),
        ({"created_from": "2026-01-02T00:00:00Z", "created_to": "2026-01-01T00:00:00Z"}, "query:created_from"),
        ({"finished_from": "2026-01-01T00:00:00Z", "finished_to": "2026-01-01T00:00:00Z"}, "query:finished_from"),
        ({"finished_to": "soon"}, "query:finished_to"),
        ({"min_duration_s": "-1"}, "query:min_duration_s"),
        ({"max_duration_s": "a while"}, "query:max_duration_s"),
        ({"min_duration_s": "10", "max_duration_s": "5"}, "query:min_duration_s"),
        ({"min_duration_s": "1e300"}, "query:min_duration_s"),  # beyond a century: no job ran so long
        ({"max_duration_s": "9223372036854775807"}, "query:max_duration_s"),
        ({"sort": "size"}, "query:sort"),
        ({"sort": "--created"}, "query:sort"),
        ({"q": "x" * 201}, "query:q"),
        ({"sort": "-updated", "cursor": "!!!"}, "query:cursor"),
        ({"sort": "-updated", "cursor": "eyJzb3J0IjoiLXVwZGF0ZWQifQ"}, "query:cursor"),  # {"sort":"-updated"}
    ],
)
async def test_each_bad_value_is_a_422_naming_its_parameter(
    admin: httpx.AsyncClient, params: dict[str, str], path: str
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    response = await admin.get("/v1/jobs", params=params)
    assert response.status_code == 422, response.text
    assert problem_paths(response) == [path]


async def test_a_cursor_belongs_to_its_sort(admin: httpx.AsyncClient) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    for name in ("a", "b", "c"):
        await submit(admin, "greeter", {"name": name})
    first = (await admin.get("/v1/jobs", params={"sort": "-updated", "limit": 1})).json()
    elsewhere = await admin.get("/v1/jobs", params={"sort": "finished", "cursor": first["next_cursor"]})
    assert elsewhere.status_code == 422
    assert problem_paths(elsewhere) == ["query:cursor"]
    assert "another order" in elsewhere.json()["detail"]
    rest = await listed(admin, sort="-updated", cursor=first["next_cursor"])
    assert len(rest) == 2
    assert first["items"][0]["id"] not in rest
    # The default order's cursors are the ids they always were; a page of it is no cursor of another order.
    default = (await admin.get("/v1/jobs", params={"limit": 1})).json()
    assert (
        await admin.get("/v1/jobs", params={"sort": "-updated", "cursor": default["next_cursor"]})
    ).status_code == 422


async def test_created_by_names_a_user_by_email_or_id_and_a_key_by_id(
    admin: httpx.AsyncClient, connect: ClientFactory, people: People
) -> None:
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    runner = await people.member(workflow, "runner")
    key = await issue_key(admin, "greeter", name="importer")
    by_admin = (await submit(admin, "greeter", {"name": "Ada"}))["id"]
    by_user = (await submit(runner.client, "greeter", {"name": "Bo"}))["id"]
    by_key = (await submit(connect(key["key"]), "greeter", {"name": "Cy"}))["id"]
    assert await listed(admin, scope="all", created_by=runner.email) == [by_user]
    assert await listed(admin, scope="all", created_by=str(runner.user_id)) == [by_user]
    assert await listed(admin, scope="all", created_by=runner.actor) == [by_user]
    assert await listed(admin, scope="all", created_by=key["id"]) == [by_key]
    assert await listed(admin, scope="all", created_by="operator") == [by_admin]
    assert await listed(admin, scope="all", created_by=f"operator,{runner.email}") == [by_user, by_admin]
    assert await listed(admin, scope="all", created_by="nobody@example.com") == []  # no such user: no job


async def test_the_access_rules_hold_with_every_filter(
    admin: httpx.AsyncClient, connect: ClientFactory, people: People
) -> None:
    """`mine` stays the caller's own jobs whatever the filters say; an API key lists only its own."""
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    runner = await people.member(workflow, "runner")
    key = await issue_key(admin, "greeter", name="importer")
    keyed = connect(key["key"])
    by_admin = (await submit(admin, "greeter", {"name": "Ada"}, name="shared words"))["id"]
    by_user = (await submit(runner.client, "greeter", {"name": "Bo"}, name="shared words"))["id"]
    by_key = (await submit(keyed, "greeter", {"name": "Cy"}, name="shared words"))["id"]
    assert await listed(runner.client, q="shared") == [by_user]
    assert await listed(runner.client, created_by="operator") == []  # mine AND created by the operator
    assert await listed(keyed, q="shared", sort="-updated") == [by_key]
    others = await keyed.get("/v1/jobs", params={"scope": "all", "workflow": "greeter", "q": "shared"})
    assert others.status_code == 403  # a key lists only the jobs it submitted
    refused = await runner.client.get("/v1/jobs", params={"scope": "all", "q": "shared"})
    assert refused.status_code == 403  # everyone's jobs of the workspace: its owners and admins only
    assert set(await listed(admin, scope="all", q="shared")) == {by_admin, by_user, by_key}


async def test_version_selects_the_jobs_of_one_version_of_a_workflow(admin: httpx.AsyncClient) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    first = (await submit(admin, "greeter", {"name": "Ada"}))["id"]
    assert (await admin.put("/v1/workflows/greeter/draft", json={"definition": GREETER_V2})).status_code == 200
    assert (await admin.post("/v1/workflows/greeter/deploy")).status_code == 201
    second = (await submit(admin, "greeter", {"name": "Bo"}))["id"]
    assert await listed(admin, workflow="greeter", version="1") == [first]
    assert await listed(admin, workflow="greeter", version="current") == [second]
    assert await listed(admin, workflow="greeter", version="3") == []
    page = (await admin.get("/v1/jobs", params={"workflow": "greeter"})).json()["items"]
    assert [(j["version"], j["step_count"]) for j in page] == [
        (2, len(GREETER_V2["steps"])),
        (1, len(GREETER["steps"])),
    ]


async def test_a_rename_changes_updated_at_and_the_updated_order(admin: httpx.AsyncClient) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    older = await submit(admin, "greeter", {"name": "Ada"})
    newer = await submit(admin, "greeter", {"name": "Bo"})
    assert older["updated_at"] == older["created_at"]
    assert await listed(admin, sort="-updated") == [newer["id"], older["id"]]
    renamed = await admin.patch(f"/v1/jobs/{older['id']}", json={"name": "renamed"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["updated_at"] > older["updated_at"]
    assert await listed(admin, sort="-updated") == [older["id"], newer["id"]]
    assert await listed(admin, sort="updated") == [newer["id"], older["id"]]
    row = (await admin.get("/v1/jobs", params={"q": "renamed"})).json()["items"]
    assert [(j["id"], j["updated_at"], j["last_completed_at"]) for j in row] == [
        (older["id"], renamed.json()["updated_at"], None)  # nothing of the workflow has completed
    ]
