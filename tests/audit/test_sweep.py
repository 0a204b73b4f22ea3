"""The audit sweep: every /v1 operation of the contract is classified in exactly one table, as a change that
writes one audit entry (CHANGES; one per job for the bulk deletion), a read that writes none (READS), or not
audited for a stated reason (NOT_AUDITED). Each change is called successfully (as the operator, or as the user
its route is for; a sample as a user and as an API key) and must write its entry with its action, category,
actor, request id, client address, workspace and workflow; each read and each refused call writes none; the
chain then verifies, and a row altered or deleted in the database makes the verification fail, naming it.
Deleting a workflow or a job leaves their entries."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import issue_key
from tests.audit import scenarios as s
from tests.audit.conftest import entries_since, last_entry_id
from tests.audit.scenarios import OPERATOR, Call, Caller, World, assert_entry
from tests.conftest import ClientFactory, wait_for_job
from tests.deliveries.conftest import GREETER, WebhookReceiver, Workers, push_workflow
from tests.packages.importing import multipart, package
from workflow_service.app import create_app
from workflow_service.config import Settings
from workflow_service.models import DEFAULT_WORKSPACE_ID

Operation = tuple[str, str]
W = "/v1/workflows/{workflow}"
JOB = "/v1/jobs/{job_id}"
USER = "/v1/users/{user_id}"
T = f"{W}/triggers/{{trigger_id}}"
SCHEDULE = f"{W}/schedules/{{schedule_id}}"
BACKFILL = {"from": "2026-06-01T00:00:00Z", "to": "2026-06-01T03:00:00Z"}

CHANGES: dict[Operation, tuple[str, str]] = {
    ("POST", "/v1/workflows"): ("workflow.created", "workflow"),
    ("DELETE", W): ("workflow.deleted", "workflow"),
    ("PUT", f"{W}/draft"): ("workflow.draft_updated", "workflow"),
    ("POST", f"{W}/deploy"): ("workflow.deployed", "workflow"),
    ("GET", f"{W}/export"): ("workflow.exported", "workflow"),  # a read, but every export is recorded
    ("POST", "/v1/workflows/import"): ("workflow.imported", "workflow"),
    ("POST", f"{W}/import"): ("workflow.imported", "workflow"),  # a dry run writes none (tests/packages)
    ("PATCH", f"{W}/settings"): ("settings.updated", "settings"),  # retention_days too
    ("POST", f"{W}/settings/rotate-signing-secret"): ("settings.signing_secret_rotated", "settings"),
    # `env.updated` when it replaces a variable (test_a_second_write_is_an_update).
    ("PUT", f"{W}/env/{{name}}"): ("env.created", "env"),
    ("DELETE", f"{W}/env/{{name}}"): ("env.deleted", "env"),
    ("POST", f"{W}/api-keys"): ("apikey.created", "apikey"),
    ("DELETE", f"{W}/api-keys/{{key_id}}"): ("apikey.revoked", "apikey"),
    # `share.role_changed` when it changes a role (test_a_second_write_is_an_update).
    ("PUT", f"{W}/members/{{user_id}}"): ("share.granted", "share"),
    ("DELETE", f"{W}/members/{{user_id}}"): ("share.revoked", "share"),
    ("PATCH", JOB): ("job.updated", "job"),
    ("DELETE", JOB): ("job.deleted", "job"),
    ("POST", "/v1/jobs/delete"): ("job.deleted", "job"),  # one entry per job deleted
    ("POST", f"{JOB}/cancel"): ("job.canceled", "job"),
    ("POST", f"{JOB}/rerun"): ("job.rerun", "job"),
    ("POST", f"{JOB}/run-from-step"): ("job.run_from_step", "job"),
    ("POST", f"{JOB}/duplicate"): ("job.duplicated", "job"),
    ("POST", f"{JOB}/start"): ("job.started", "job"),
    ("POST", f"{JOB}/deliveries/redeliver"): ("delivery.redelivered", "delivery"),
    ("POST", "/v1/workspaces"): ("workspace.created", "workspace"),  # in the new workspace's log
    ("PATCH", "/v1/workspace"): ("workspace.updated", "workspace"),
    ("POST", "/v1/me/tokens"): ("token.created", "token"),
    ("DELETE", "/v1/me/tokens/{token_id}"): ("token.revoked", "token"),
    ("POST", "/v1/users"): ("member.added", "member"),
    # `member.updated` when only the name changes.
    ("PATCH", USER): ("member.role_changed", "member"),
    ("DELETE", USER): ("member.removed", "member"),
    ("DELETE", f"{USER}/tokens/{{token_id}}"): ("token.revoked", "token"),
    ("POST", f"{W}/triggers"): ("trigger.created", "trigger"),
    ("PATCH", T): ("trigger.updated", "trigger"),
    ("DELETE", T): ("trigger.deleted", "trigger"),
    ("POST", f"{T}/pause"): ("trigger.paused", "trigger"),
    ("POST", f"{T}/resume"): ("trigger.resumed", "trigger"),
    ("POST", f"{T}/rotate-secret"): ("trigger.secret_rotated", "trigger"),
    ("POST", f"{W}/schedules"): ("schedule.created", "schedule"),
    ("PATCH", SCHEDULE): ("schedule.updated", "schedule"),
    ("DELETE", SCHEDULE): ("schedule.deleted", "schedule"),
    ("POST", f"{SCHEDULE}/pause"): ("schedule.paused", "schedule"),
    ("POST", f"{SCHEDULE}/resume"): ("schedule.resumed", "schedule"),
    ("POST", f"{SCHEDULE}/backfill"): ("schedule.backfilled", "schedule"),
}
READS: set[Operation] = {
    ("GET", "/v1/workflows"),
    ("GET", W),
    ("POST", f"{W}/validate"),  # checks the draft, changes nothing
    ("GET", f"{W}/versions"),
    ("GET", f"{W}/versions/{{version}}"),
    ("GET", f"{W}/settings"),
    ("GET", f"{W}/backups"),
    ("GET", f"{W}/backups/{{backup_id}}"),
    ("GET", f"{W}/env"),
    ("GET", f"{W}/env/{{name}}"),
    ("GET", f"{W}/api-keys"),
    ("GET", f"{W}/members"),
    ("GET", f"{W}/audit-log"),
    ("GET", f"{W}/monitor"),
    ("GET", f"{W}/runs"),
    ("GET", f"{W}/model-runs"),
    ("GET", "/v1/jobs"),
    ("GET", JOB),
    ("GET", f"{JOB}/events"),
    ("GET", f"{JOB}/deliveries"),
    ("GET", f"{JOB}/output"),
    ("GET", f"{JOB}/steps/{{step}}/output"),
    ("GET", "/v1/agents"),
    ("GET", "/v1/tools"),
    ("GET", "/v1/audit-log"),
    ("GET", "/v1/audit-log/verify"),
    ("GET", "/v1/workspaces"),
    ("GET", "/v1/workspace"),
    ("GET", "/v1/me"),
    ("GET", "/v1/me/tokens"),
    ("GET", "/v1/users"),
    ("GET", USER),
    ("GET", f"{USER}/tokens"),
    ("GET", f"{W}/triggers"),
    ("GET", T),
    ("GET", f"{T}/events"),
    ("GET", f"{W}/schedules"),
    ("GET", SCHEDULE),
}
USERS_ONLY = {("GET", "/v1/me/tokens")}
"""Reads the operator may not make (a personal token's): read as a user."""
SUBMISSION = "a job submission: the job's own history (job_event) records its creation with the actor"
NOT_AUDITED: dict[Operation, str] = {
    ("POST", f"{W}/versions/{{version}}/async"): SUBMISSION,
    ("POST", f"{W}/versions/{{version}}/push"): SUBMISSION,
    ("POST", f"{W}/versions/{{version}}/sync"): SUBMISSION,
    ("POST", f"{W}/versions/{{version}}/estimate"): "an estimate changes nothing",
}
BY_TRIGGER_SECRET: dict[Operation, str] = {
    ("POST", "/v1/hooks/{trigger_id}"): "an event posted to a trigger, authenticated by the trigger's secret: a job "
    "origin (the job's history records its creation), recorded in the trigger's events, not an action on a thing",
}
SCENARIOS: dict[Operation, s.Scenario] = {
    ("POST", "/v1/workflows"): s.created,
    ("DELETE", W): s.workflow_deleted,
    ("PUT", f"{W}/draft"): s.simple("/v1/workflows/greeter/draft", {"definition": {**GREETER, "description": "v2"}}),
    ("POST", f"{W}/deploy"): s.simple("/v1/workflows/greeter/deploy"),
    ("GET", f"{W}/export"): s.simple("/v1/workflows/greeter/export"),
    ("POST", "/v1/workflows/import"): s.imported,
    ("POST", f"{W}/import"): s.imported_over,
    ("PATCH", f"{W}/settings"): s.simple("/v1/workflows/greeter/settings", {"sync_timeout_s": 120}),
    ("POST", f"{W}/settings/rotate-signing-secret"): s.simple("/v1/workflows/greeter/settings/rotate-signing-secret"),
    ("PUT", f"{W}/env/{{name}}"): s.simple("/v1/workflows/greeter/env/REGION", {"value": "eu-west"}),
    ("DELETE", f"{W}/env/{{name}}"): s.env_deleted,
    ("POST", f"{W}/api-keys"): s.simple("/v1/workflows/greeter/api-keys", {"name": "made by the sweep"}),
    ("DELETE", f"{W}/api-keys/{{key_id}}"): s.key_revoked,
    ("PUT", f"{W}/members/{{user_id}}"): s.shared,
    ("DELETE", f"{W}/members/{{user_id}}"): s.unshared,
    ("PATCH", JOB): s.on_job("", {"name": "renamed"}),
    ("DELETE", JOB): s.on_job("", answers_job=False),
    ("POST", "/v1/jobs/delete"): s.bulk_deleted,
    ("POST", f"{JOB}/cancel"): s.on_job("/cancel"),
    ("POST", f"{JOB}/rerun"): s.on_job("/rerun"),
    ("POST", f"{JOB}/run-from-step"): s.on_job("/run-from-step", {"step": "compose"}),
    ("POST", f"{JOB}/duplicate"): s.on_job("/duplicate", {"start": True}),
    ("POST", f"{JOB}/start"): s.started,
    ("POST", f"{JOB}/deliveries/redeliver"): s.redelivered,
    ("POST", "/v1/workspaces"): s.workspace_created,
    ("PATCH", "/v1/workspace"): s.simple("/v1/workspace", {"retention_days": 30}, on_greeter=False),
    ("POST", "/v1/me/tokens"): s.token_created,
    ("DELETE", "/v1/me/tokens/{token_id}"): s.token_revoked,
    ("POST", "/v1/users"): s.member_added,
    ("PATCH", USER): s.member_changed,
    ("DELETE", USER): s.member_removed,
    ("DELETE", f"{USER}/tokens/{{token_id}}"): s.user_token_revoked,
    ("POST", f"{W}/triggers"): s.simple("/v1/workflows/greeter/triggers", s.TRIGGER),
    ("PATCH", T): s.on_trigger("", {"name": "renamed"}),
    ("DELETE", T): s.on_trigger(""),
    ("POST", f"{T}/pause"): s.on_trigger("/pause"),
    ("POST", f"{T}/resume"): s.on_trigger("/resume", paused=True),
    ("POST", f"{T}/rotate-secret"): s.on_trigger("/rotate-secret"),
    ("POST", f"{W}/schedules"): s.simple("/v1/workflows/greeter/schedules", s.HOURLY),
    ("PATCH", SCHEDULE): s.on_schedule("", {"description": "changed"}),
    ("DELETE", SCHEDULE): s.on_schedule(""),
    ("POST", f"{SCHEDULE}/pause"): s.on_schedule("/pause"),
    ("POST", f"{SCHEDULE}/resume"): s.on_schedule("/resume", paused=True),
    ("POST", f"{SCHEDULE}/backfill"): s.on_schedule("/backfill", BACKFILL),
}


def test_every_v1_operation_is_classified_once() -> None:
    schema = create_app(Settings(admin_token=SecretStr("x"))).openapi()
    operations = {(m.upper(), p) for p, item in schema["paths"].items() if p.startswith("/v1/") for m in item}
    classified = [*CHANGES, *READS, *NOT_AUDITED, *BY_TRIGGER_SECRET]
    assert len(classified) == len(set(classified)), "an operation is in more than one table"
    assert operations - set(classified) == set(), (
        "classify these operations in CHANGES, READS, NOT_AUDITED or BY_TRIGGER_SECRET"
    )
    assert set(classified) - operations == set(), "these operations no longer exist"
    assert set(SCENARIOS) == set(CHANGES)
    assert USERS_ONLY <= READS


async def _person(admin: httpx.AsyncClient, connect: ClientFactory, email: str, role: str) -> Caller:
    added = await admin.post("/v1/users", json={"email": email, "name": email.split("@")[0], "role": role})
    assert added.status_code == 201, added.text
    return Caller("user", added.json()["id"], email, connect(added.json()["token"]))


@pytest.fixture
async def world(
    admin: httpx.AsyncClient, connect: ClientFactory, engine: AsyncEngine, receiver: WebhookReceiver, workers: Workers
) -> World:
    await push_workflow(admin, receiver)
    await workers.start()
    greeter = (await admin.get("/v1/workflows/greeter")).json()
    manager = await _person(admin, connect, "ada@example.com", "admin")
    member = await _person(admin, connect, "grace@example.com", "member")
    return World(admin, connect, engine, greeter["id"], manager, member)


async def test_every_change_writes_its_entry_and_every_read_none(world: World) -> None:
    for operation, (action, _) in CHANGES.items():
        call = await SCENARIOS[operation](world)
        response, written = await world.call(operation[0], call)
        assert len(written) == call.entries, (operation, [e["action"] for e in written])
        for entry in written:
            assert_entry(entry, action, response, call)

    source = await wait_for_job(world.admin, (await world.job(pool="default"))["id"])  # ended: it has an output
    await world.admin.put("/v1/workflows/greeter/env/KEPT", json={"value": "here"})
    params = {
        "workflow": "greeter",
        "version": "1",
        "name": "KEPT",
        "job_id": source["id"],
        "step": "compose",
        "user_id": world.member.id,
        "trigger_id": (await s.trigger_of_greeter(world))["id"],
        "schedule_id": (await s.schedule_of(world)).rsplit("/", 1)[1],
        "backup_id": (await world.admin.get("/v1/workflows/greeter/backups")).json()["items"][0]["id"],
    }
    for method, path in sorted(READS):
        by = world.manager if (method, path) in USERS_ONLY else None
        _, written = await world.call(method, Call(path.format(**params), by=by))
        assert written == [], (method, path)
    submission = {"inputs": {"name": "Ada"}}
    for method, path in sorted(NOT_AUDITED):
        _, written = await world.call(method, Call(path.format(**params), submission))
        assert written == [], (method, path, NOT_AUDITED[(method, path)])

    report = (await world.admin.get("/v1/audit-log/verify")).json()
    assert report == {"ok": True, "entries": report["entries"], "broken": None}
    default_chain = [e for e in await entries_since(world.engine, 0) if e["workspace_id"] == DEFAULT_WORKSPACE_ID]
    assert report["entries"] == len(default_chain)


async def test_an_event_posted_to_a_trigger_writes_no_entry(world: World) -> None:
    """Accepted, redelivered or refused: an event is a job's origin (and a row of the trigger's events), written by
    whoever holds the trigger's secret, not an action on a thing."""
    trigger = await s.trigger_of_greeter(world)
    sent = {"authorization": f"Bearer {trigger['secret']}", "Idempotency-Key": "event-1"}
    for headers, status in ((sent, 202), (sent, 200), ({"authorization": "Bearer wrong"}, 401)):
        call = Call(trigger["url"], {"name": "Ada"})
        before = await last_entry_id(world.engine)
        response = await world.admin.post(call.url, json=call.body, headers=headers)
        assert response.status_code == status, response.text
        assert list(await entries_since(world.engine, before)) == []
    events = (await world.admin.get(f"/v1/workflows/greeter/triggers/{trigger['id']}/events")).json()["items"]
    assert [e["outcome"] for e in events] == ["rejected", "duplicate", "created"]


async def test_a_verified_chain_fails_at_an_entry_altered_or_deleted_in_the_database(world: World) -> None:
    for operation in list(CHANGES)[:5]:
        await world.call(operation[0], await SCENARIOS[operation](world))
    entries = await entries_since(world.engine, 0)
    assert len(entries) >= 5
    assert (await world.admin.get("/v1/audit-log/verify")).json()["ok"] is True
    middle = entries[len(entries) // 2]
    altered = sa.text("UPDATE audit_entry SET description = :d WHERE id = :id")
    async with world.engine.begin() as conn:
        await conn.execute(altered, {"d": "nothing happened", "id": middle["id"]})
    report = (await world.admin.get("/v1/audit-log/verify")).json()
    assert report["ok"] is False
    assert report["broken"] == {
        "id": middle["id"],
        "seq": middle["seq"],
        "reason": "its content does not match its hash",
    }

    async with world.engine.begin() as conn:
        await conn.execute(altered, {"d": middle["description"], "id": middle["id"]})
    assert (await world.admin.get("/v1/audit-log/verify")).json()["ok"] is True
    async with world.engine.begin() as conn:
        await conn.execute(sa.text("DELETE FROM audit_entry WHERE id = :id"), {"id": middle["id"]})
    report = (await world.admin.get("/v1/audit-log/verify")).json()
    assert report["ok"] is False
    assert report["broken"] == {"id": None, "seq": middle["seq"], "reason": f"entry seq {middle['seq']} is missing"}


async def test_a_second_write_is_an_update_and_the_same_values_again_write_nothing(world: World) -> None:
    url = "/v1/workflows/greeter/env/REGION"
    _, [created] = await world.call("PUT", Call(url, {"value": "eu-west"}))
    response, [updated] = await world.call("PUT", Call(url, {"value": "us-east"}, world.greeter_id))
    assert created["action"] == "env.created"
    assert_entry(updated, "env.updated", response, Call(url, None, world.greeter_id))
    assert updated["changes"] == {"value": {"before": "eu-west", "after": "us-east"}}

    member = f"/v1/workflows/greeter/members/{world.member.id}"
    _, [granted] = await world.call("PUT", Call(member, {"role": "viewer"}))
    _, [changed] = await world.call("PUT", Call(member, {"role": "editor"}))
    assert [(e["action"], e["changes"]) for e in (granted, changed)] == [
        ("share.granted", {"role": {"before": None, "after": "viewer"}}),
        ("share.role_changed", {"role": {"before": "viewer", "after": "editor"}}),
    ]
    _, [renamed] = await world.call("PATCH", Call(f"/v1/users/{world.member.id}", {"name": "Grace H."}))
    assert (renamed["action"], renamed["changes"]) == (
        "member.updated",
        {"name": {"before": "grace", "after": "Grace H."}},
    )

    schedule = await s.schedule_of(world, paused=True)
    running = await s.schedule_of(world)
    again: list[tuple[str, Call]] = [
        ("PATCH", Call(schedule, s.HOURLY)),
        ("POST", Call(f"{schedule}/pause")),
        ("POST", Call(f"{running}/resume")),
        ("PUT", Call(url, {"value": "us-east"})),
        ("PUT", Call(member, {"role": "editor"})),
        ("PATCH", Call(f"/v1/users/{world.member.id}", {"role": "member", "name": "Grace H."})),
        ("PATCH", Call("/v1/workflows/greeter/settings", {"sync_timeout_s": 180})),
        ("PATCH", Call("/v1/workspace", {"name": "Default"})),
        ("PUT", Call("/v1/workflows/greeter/draft", {"definition": GREETER})),
    ]
    await world.admin.patch("/v1/workspace", json={"name": "Default"})
    for method, call in again:
        _, written = await world.call(method, call)
        assert written == [], (method, call.url)


async def test_a_key_and_users_are_the_actors_of_their_changes(world: World) -> None:
    issued = await issue_key(world.admin, "greeter", "sweeper")
    key = Caller("key", issued["id"], "sweeper", world.connect(issued["key"]))
    job = await world.job(key.client)
    for suffix, action in (("/cancel", "job.canceled"), ("/rerun", "job.rerun")):
        call = Call(f"/v1/jobs/{job['id']}{suffix}", None, world.greeter_id, by=key)
        response, [entry] = await world.call("POST", call)
        assert_entry(entry, action, response, call)

    editor = world.member
    await world.admin.put(f"/v1/workflows/greeter/members/{editor.id}", json={"role": "editor"})
    for person, operation in ((world.manager, ("PATCH", f"{W}/settings")), (editor, ("PUT", f"{W}/draft"))):
        call = await SCENARIOS[operation](world)
        as_them = Call(call.url, call.body, call.workflow_id, by=person)
        response, [entry] = await world.call(operation[0], as_them)
        assert_entry(entry, CHANGES[operation][0], response, as_them)


async def test_a_refused_call_writes_no_entry(world: World, engine: AsyncEngine) -> None:
    issued = await issue_key(world.admin, "greeter", "runner")
    key = Caller("key", issued["id"], "runner", world.connect(issued["key"]))
    outsider = await world.person()
    viewer = await world.person()
    await world.admin.put(f"/v1/workflows/greeter/members/{viewer.id}", json={"role": "viewer"})
    broken = {"name": "broken", "definition": {"steps": [{"id": "x", "type": "nope"}]}}
    assert (await world.admin.post("/v1/workflows", json=broken)).status_code == 201
    ended = await world.job()
    assert (await world.admin.post(f"/v1/jobs/{ended['id']}/cancel")).status_code == 200
    active = await world.job()
    schedule = await s.schedule_of(world)
    refused: list[tuple[str, Call, int]] = [
        ("PATCH", Call("/v1/workflows/greeter/settings", {"sync_timeout_s": 120}, by=key), 403),
        ("POST", Call("/v1/workflows/greeter/schedules", s.HOURLY, by=viewer), 403),
        ("POST", Call(f"{schedule}/pause", by=key), 403),
        ("PATCH", Call(schedule, {"timezone": "Nowhere/Land"}), 422),
        ("POST", Call(f"{schedule}/backfill", {"from": "2026-01-01T00:00:00Z", "to": "2099-01-01T00:00:00Z"}), 422),
        ("DELETE", Call(f"/v1/workflows/greeter/schedules/{uuid.uuid4()}"), 404),
        ("PUT", Call("/v1/workflows/greeter/draft", {"definition": GREETER}, by=viewer), 403),
        ("PUT", Call("/v1/workflows/greeter/draft", {"definition": GREETER}, by=outsider), 404),
        ("POST", Call("/v1/users", {"email": "x@example.com", "name": "X"}, by=outsider), 403),
        ("POST", Call("/v1/me/tokens", {"name": "t"}), 403),
        ("PUT", Call("/v1/workflows/missing/draft", {"definition": GREETER}), 404),
        ("DELETE", Call("/v1/workflows/greeter/env/MISSING"), 404),
        ("DELETE", Call(f"/v1/workflows/greeter/api-keys/{uuid.uuid4()}"), 404),
        ("DELETE", Call(f"/v1/jobs/{uuid.uuid4()}"), 404),
        ("DELETE", Call(f"/v1/users/{uuid.uuid4()}"), 404),
        ("POST", Call("/v1/workflows", {"name": "again", "slug": "greeter", "definition": GREETER}), 409),
        ("PUT", Call("/v1/workflows/greeter/env/TOKEN", {"value": "s", "secure": True}), 409),
        ("POST", Call(f"/v1/jobs/{ended['id']}/cancel"), 409),
        ("POST", Call(f"/v1/jobs/{ended['id']}/start"), 409),
        ("PATCH", Call(f"/v1/jobs/{ended['id']}", {"variables": {"greeting": "Hi"}}), 409),
        ("DELETE", Call("/v1/workflows/greeter"), 409),
        ("PATCH", Call("/v1/workflows/greeter/settings", {"sync_timeout_s": 5}), 422),
        ("POST", Call("/v1/workflows/broken/deploy"), 422),
        ("POST", Call(f"/v1/jobs/{ended['id']}/run-from-step", {"step": "nope"}), 422),
        ("PUT", Call(f"/v1/workflows/greeter/members/{world.manager.id}", {"role": "viewer"}), 422),
        ("POST", Call("/v1/jobs/delete", {"ids": []}), 422),
        ("POST", Call("/v1/workflows/greeter/triggers", s.TRIGGER, by=viewer), 403),
        ("POST", Call("/v1/workflows/greeter/triggers", {**s.TRIGGER, "mapping": {"inputs": "{{ x"}}), 422),
        ("POST", Call("/v1/workflows/greeter/triggers", {**s.TRIGGER, "auth": "standard_webhooks"}), 409),
        ("DELETE", Call(f"/v1/workflows/greeter/triggers/{uuid.uuid4()}"), 404),
        ("POST", Call("/v1/workflows/import", upload=multipart(b"not a zip")), 422),
        ("POST", Call("/v1/workflows/greeter/import", upload=multipart(package(GREETER)), by=viewer), 403),
        ("POST", Call(f"/v1/workflows/greeter/triggers/{uuid.uuid4()}/pause"), 404),
    ]
    assert active["status"] == "pending"
    for method, call, status in refused:
        _, written = await world.call(method, call, expect=status)
        assert written == [], (method, call.url, status)


async def test_deleting_a_job_or_a_workflow_leaves_their_entries(world: World) -> None:
    job = await world.job()
    await world.call("POST", Call(f"/v1/jobs/{job['id']}/cancel"))
    await world.call("DELETE", Call(f"/v1/jobs/{job['id']}"))
    on_job = [e["action"] for e in await entries_since(world.engine, 0) if e["target_id"] == job["id"]]
    assert on_job == ["job.canceled", "job.deleted"]

    made = (await world.admin.post("/v1/workflows", json={"name": "short lived", "definition": GREETER})).json()
    await world.admin.put("/v1/workflows/short-lived/env/A", json={"value": "1"})
    assert (await world.admin.delete("/v1/workflows/short-lived")).status_code == 204
    about: list[Any] = [
        e["action"] for e in await entries_since(world.engine, 0) if str(e["workflow_id"]) == made["id"]
    ]
    assert about == ["workflow.created", "env.created", "workflow.deleted"]
    assert (await world.admin.get("/v1/audit-log/verify")).json()["ok"] is True
    listed = (await world.admin.get("/v1/audit-log", params={"target": made["id"]})).json()["items"]
    assert [e["action"] for e in listed] == ["workflow.deleted", "workflow.created"]
    assert (listed[0]["actor"], listed[0]["actor_name"]) == OPERATOR
