"""Every job shows who created it: the operator, a user (by email), an API key (by name, also once revoked),
and later kinds by their prefix; read with the job, in the same query, however many jobs a page lists."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import issue_key
from tests.conftest import ClientFactory
from tests.jobs.conftest import GREETER, deploy_workflow, submit
from tests.jobs.people.conftest import People
from workflow_service.jobs.views import creator


async def test_the_operator_a_user_and_a_key_are_each_shown_as_the_creator(
    admin: httpx.AsyncClient, connect: ClientFactory, people: People
) -> None:
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    runner = await people.member(workflow, "runner")
    key = await issue_key(admin, "greeter", name="nightly import")
    by_admin = await submit(admin, "greeter", {"name": "Ada"})
    by_user = await submit(runner.client, "greeter", {"name": "Bo"})
    by_key = await submit(connect(key["key"]), "greeter", {"name": "Cy"})
    expected = {
        by_admin["id"]: {"kind": "operator", "id": None, "name": "operator"},
        by_user["id"]: {"kind": "user", "id": str(runner.user_id), "name": runner.email},
        by_key["id"]: {"kind": "key", "id": key["id"], "name": "nightly import"},
    }
    # as the submission answers, as the job reads, and as the listing shows it
    assert {j["id"]: j["created_by"] for j in (by_admin, by_user, by_key)} == expected
    for job_id, created_by in expected.items():
        assert (await admin.get(f"/v1/jobs/{job_id}")).json()["created_by"] == created_by
    listed = (await admin.get("/v1/jobs", params={"scope": "all"})).json()["items"]
    assert {j["id"]: j["created_by"] for j in listed} == expected
    mine = (await runner.client.get("/v1/jobs")).json()["items"]
    assert [j["created_by"] for j in mine] == [expected[by_user["id"]]]


async def test_a_revoked_keys_jobs_still_show_its_name(admin: httpx.AsyncClient, connect: ClientFactory) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    key = await issue_key(admin, "greeter", name="old importer")
    job = await submit(connect(key["key"]), "greeter", {"name": "Ada"})
    assert (await admin.delete(f"/v1/workflows/greeter/api-keys/{key['id']}")).status_code == 204
    shown = (await admin.get(f"/v1/jobs/{job['id']}")).json()["created_by"]
    assert shown == {"kind": "key", "id": key["id"], "name": "old importer"}


async def test_a_creator_that_no_longer_exists_is_named_by_its_actor(
    admin: httpx.AsyncClient, engine: AsyncEngine, people: People
) -> None:
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    runner = await people.member(workflow, "runner")
    job = await submit(runner.client, "greeter", {"name": "Ada"})
    async with engine.begin() as conn:
        await conn.execute(sa.text("DELETE FROM app_user WHERE id = :id"), {"id": runner.user_id})
    shown = (await admin.get(f"/v1/jobs/{job['id']}")).json()["created_by"]
    assert shown == {"kind": "user", "id": str(runner.user_id), "name": runner.actor}


@pytest.mark.parametrize(
    ("caller", "name", "expected"),
    [
        ("admin", None, ("operator", None, "operator")),
        ("user:7f0c", "ada@example.com", ("user", "7f0c", "ada@example.com")),
        ("key:91ab", "ci", ("key", "91ab", "ci")),
        ("key:91ab", None, ("key", "91ab", "key:91ab")),
        ("schedule:5e2d", None, ("schedule", "5e2d", "schedule:5e2d")),
        ("trigger:0c1d", None, ("trigger", "0c1d", "trigger:0c1d")),
        ("system", None, ("system", None, "system")),
        ("user:", None, ("system", None, "user:")),
    ],
)
def test_the_creators_kind_comes_from_the_callers_prefix(
    caller: str, name: str | None, expected: tuple[str, str | None, str]
) -> None:
    shown = creator(caller, name)
    assert (shown.kind, shown.id, shown.name) == expected


@pytest.fixture
def job_selects() -> Iterator[list[str]]:
    """The statements that read from the job table, run by any engine meanwhile."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM job" in statement:
            seen.append(statement)

    sa.event.listen(Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(Engine, "before_cursor_execute", record)


async def test_a_page_reads_its_creators_in_its_one_query(
    admin: httpx.AsyncClient, connect: ClientFactory, people: People, job_selects: list[str]
) -> None:
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    runners = [await people.member(workflow, "runner") for _ in range(3)]
    keys = [connect((await issue_key(admin, "greeter", name=f"key {i}"))["key"]) for i in range(3)]
    for client in [admin, *(r.client for r in runners), *keys]:
        await submit(client, "greeter", {"name": "Ada"})
    job_selects.clear()
    page = (await admin.get("/v1/jobs", params={"scope": "all"})).json()["items"]
    assert len(page) == 7
    assert {j["created_by"]["name"] for j in page} == {
        "operator",
        *(r.email for r in runners),
        *(f"key {i}" for i in range(3)),
    }
    # One query reads the page with its creators; one more reads the last completion of the page's workflows.
    assert len([s for s in job_selects if "app_user" in s]) == 1, job_selects
    assert len(job_selects) == 2, job_selects
    job_selects.clear()
    assert (await admin.get(f"/v1/jobs/{uuid.UUID(page[0]['id'])}")).status_code == 200
    assert len([s for s in job_selects if "app_user" in s]) == 1  # the job's own read
