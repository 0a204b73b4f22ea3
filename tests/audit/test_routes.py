"""The audit log's routes: listing with filters and cursors, a workflow's own log, who may read them, and the
verification route naming an entry altered in the database."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import issue_key
from tests.conftest import ClientFactory
from tests.jobs.conftest import GREETER, deploy_workflow
from tests.workflows.conftest import assert_problem
from workflow_service.audit.recorder import SYSTEM, Actor, Entry, Origin, record
from workflow_service.models import DEFAULT_WORKSPACE_ID

ALICE = Actor(f"user:{uuid.UUID(int=1)}", "alice@example.com")


async def _write(engine: AsyncEngine, workspace: uuid.UUID | None, actor: Actor, entry: Entry) -> None:
    async with engine.begin() as conn:
        await record(conn, workspace, actor, entry, Origin("req-1", "10.0.0.1"))


def _entry(action: str, workflow_id: uuid.UUID | None = None, target: str = "t") -> Entry:
    category = action.split(".")[0]
    return Entry(action=action, category=category, description=action, target_id=target, workflow_id=workflow_id)


async def _forget_entries(engine: AsyncEngine) -> None:
    """Empty the audit log: the tests here list the entries they write themselves, not those of their setup."""
    async with engine.begin() as conn:
        await conn.exec_driver_sql("TRUNCATE audit_entry, audit_head")


@pytest.fixture
async def greeter_id(admin: httpx.AsyncClient, engine: AsyncEngine) -> uuid.UUID:
    made = uuid.UUID((await deploy_workflow(admin, "greeter", GREETER))["id"])
    await _forget_entries(engine)
    return made


async def test_the_workspace_log_lists_newest_first_with_filters_and_cursors(
    admin: httpx.AsyncClient, engine: AsyncEngine, greeter_id: uuid.UUID
) -> None:
    await _write(engine, DEFAULT_WORKSPACE_ID, ALICE, _entry("workflow.deployed", greeter_id, str(greeter_id)))
    await _write(engine, DEFAULT_WORKSPACE_ID, SYSTEM, _entry("settings.push_disabled", greeter_id))
    await _write(engine, DEFAULT_WORKSPACE_ID, ALICE, _entry("member.role_changed", target="u-2"))
    await _write(engine, None, SYSTEM, _entry("auth.sign_in_failed"))  # the deployment's chain

    listed = (await admin.get("/v1/audit-log")).json()
    assert [e["action"] for e in listed["items"]] == [
        "member.role_changed",
        "settings.push_disabled",
        "workflow.deployed",
    ]
    first = listed["items"][-1]
    assert (first["actor"], first["actor_name"], first["request_id"], first["client_address"], first["seq"]) == (
        ALICE.id,
        ALICE.name,
        "req-1",
        "10.0.0.1",
        1,
    )
    filters = {
        "actor": ("system", ["settings.push_disabled"]),
        "action": ("workflow.deployed", ["workflow.deployed"]),
        "category": ("member", ["member.role_changed"]),
        "target": ("u-2", ["member.role_changed"]),
    }
    for name, (value, expected) in filters.items():
        items = (await admin.get("/v1/audit-log", params={name: value})).json()["items"]
        assert [e["action"] for e in items] == expected, name
    later = (await admin.get("/v1/audit-log", params={"since": first["at"]})).json()["items"]
    assert len(later) == 3
    assert (await admin.get("/v1/audit-log", params={"until": first["at"]})).json()["items"] == []
    page = (await admin.get("/v1/audit-log", params={"limit": 2})).json()
    rest = (await admin.get("/v1/audit-log", params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [e["id"] for e in page["items"] + rest["items"]] == [e["id"] for e in listed["items"]]
    assert rest["next_cursor"] is None
    deployment = (await admin.get("/v1/audit-log", params={"chain": "deployment"})).json()["items"]
    assert [e["action"] for e in deployment] == ["auth.sign_in_failed"]


async def test_a_workflows_log_shows_only_its_entries(
    admin: httpx.AsyncClient, engine: AsyncEngine, greeter_id: uuid.UUID
) -> None:
    other = uuid.UUID((await deploy_workflow(admin, "other", GREETER))["id"])
    await _forget_entries(engine)
    await _write(engine, DEFAULT_WORKSPACE_ID, ALICE, _entry("workflow.deployed", greeter_id))
    await _write(engine, DEFAULT_WORKSPACE_ID, ALICE, _entry("workflow.deployed", other))
    await _write(engine, DEFAULT_WORKSPACE_ID, ALICE, _entry("env.updated", greeter_id))
    for ref in ("greeter", str(greeter_id)):
        items = (await admin.get(f"/v1/workflows/{ref}/audit-log")).json()["items"]
        assert [(e["action"], e["workflow_id"]) for e in items] == [
            ("env.updated", str(greeter_id)),
            ("workflow.deployed", str(greeter_id)),
        ]
    filtered = (await admin.get("/v1/workflows/greeter/audit-log", params={"category": "env"})).json()["items"]
    assert [e["action"] for e in filtered] == ["env.updated"]
    assert_problem(await admin.get("/v1/workflows/missing/audit-log"), 404, "not_found")


async def test_verification_names_the_entry_altered_in_the_database(
    admin: httpx.AsyncClient, engine: AsyncEngine, greeter_id: uuid.UUID
) -> None:
    for action in ("workflow.deployed", "env.updated", "apikey.created"):
        await _write(engine, DEFAULT_WORKSPACE_ID, ALICE, _entry(action, greeter_id))
    assert (await admin.get("/v1/audit-log/verify")).json() == {"ok": True, "entries": 3, "broken": None}
    second = (await admin.get("/v1/audit-log", params={"action": "env.updated"})).json()["items"][0]
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE audit_entry SET description = 'nothing happened' WHERE id = :id"), {"id": second["id"]}
        )
    report = (await admin.get("/v1/audit-log/verify")).json()
    assert report["ok"] is False
    assert report["broken"] == {"id": second["id"], "seq": 2, "reason": "its content does not match its hash"}


async def test_only_owners_admins_and_the_operator_read_the_log(
    connect: ClientFactory, admin: httpx.AsyncClient, engine: AsyncEngine, greeter_id: uuid.UUID
) -> None:
    key = connect((await issue_key(admin, "greeter"))["key"])
    for path in ("/v1/audit-log", "/v1/audit-log/verify", "/v1/workflows/greeter/audit-log"):
        assert_problem(await key.get(path), 403, "forbidden")
    for bad in ({"chain": "everything"}, {"limit": 0}, {"since": "yesterday"}, {"cursor": "!!"}):
        response = await admin.get("/v1/audit-log", params=bad)
        assert response.status_code in (400, 422), (bad, response.text)
