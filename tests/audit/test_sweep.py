"""The audit sweep: every /v1 operation of the contract is classified in exactly one table, as a change that
writes exactly one audit entry (CHANGES), a read that writes none (READS), or not audited for a stated reason
(NOT_AUDITED). Each change is called successfully as the operator (a sample as a user and as an API key) and
must write one entry with its action, category, actor, request id, client address and workflow; each read and
each refused call writes none; the chain then verifies, and a row altered or deleted in the database makes the
verification fail, naming it."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import issue_key
from tests.audit.conftest import entries_since, last_entry_id, make_user
from tests.conftest import ClientFactory
from tests.deliveries.conftest import (
    GREETER,
    WebhookReceiver,
    Workers,
    push_workflow,
    submit_push,
    wait_for_delivery,
)
from workflow_service.app import create_app
from workflow_service.config import Settings
from workflow_service.models import DEFAULT_WORKSPACE_ID

Operation = tuple[str, str]
W = "/v1/workflows/{workflow}"
JOB = "/v1/jobs/{job_id}"

CHANGES: dict[Operation, tuple[str, str]] = {
    ("POST", "/v1/workflows"): ("workflow.created", "workflow"),
    ("PUT", f"{W}/draft"): ("workflow.draft_updated", "workflow"),
    ("POST", f"{W}/deploy"): ("workflow.deployed", "workflow"),
    ("PATCH", f"{W}/settings"): ("settings.updated", "settings"),
    ("POST", f"{W}/settings/rotate-signing-secret"): ("settings.signing_secret_rotated", "settings"),
    # `env.updated` when it replaces a variable (test_replacing_a_variable_is_env_updated).
    ("PUT", f"{W}/env/{{name}}"): ("env.created", "env"),
    ("DELETE", f"{W}/env/{{name}}"): ("env.deleted", "env"),
    ("POST", f"{W}/api-keys"): ("apikey.created", "apikey"),
    ("DELETE", f"{W}/api-keys/{{key_id}}"): ("apikey.revoked", "apikey"),
    ("POST", f"{JOB}/cancel"): ("job.canceled", "job"),
    ("POST", f"{JOB}/rerun"): ("job.rerun", "job"),
    ("POST", f"{JOB}/run-from-step"): ("job.run_from_step", "job"),
    ("POST", f"{JOB}/duplicate"): ("job.duplicated", "job"),
    ("POST", f"{JOB}/start"): ("job.started", "job"),
    ("POST", f"{JOB}/deliveries/redeliver"): ("delivery.redelivered", "delivery"),
}
READS: set[Operation] = {
    ("GET", "/v1/workflows"),
    ("GET", W),
    ("POST", f"{W}/validate"),  # checks the draft, changes nothing
    ("GET", f"{W}/versions"),
    ("GET", f"{W}/versions/{{version}}"),
    ("GET", f"{W}/settings"),
    ("GET", f"{W}/env"),
    ("GET", f"{W}/env/{{name}}"),
    ("GET", f"{W}/api-keys"),
    ("GET", f"{W}/audit-log"),
    ("GET", "/v1/jobs"),
    ("GET", JOB),
    ("GET", f"{JOB}/events"),
    ("GET", f"{JOB}/deliveries"),
    ("GET", "/v1/agents"),
    ("GET", "/v1/tools"),
    ("GET", "/v1/audit-log"),
    ("GET", "/v1/audit-log/verify"),
}
SUBMISSION = "a job submission: the job's own history (job_event) records its creation with the actor"
NOT_AUDITED: dict[Operation, str] = {
    ("POST", f"{W}/versions/{{version}}/async"): SUBMISSION,
    ("POST", f"{W}/versions/{{version}}/push"): SUBMISSION,
    ("POST", f"{W}/versions/{{version}}/sync"): SUBMISSION,
    ("POST", f"{W}/versions/{{version}}/estimate"): "an estimate changes nothing",
}
IDLE = "idle"
"""A pool no worker serves: a job submitted to it stays pending."""
CLIENT_ADDRESS = "127.0.0.1"
"""Where httpx's ASGI transport says the requests come from."""


def test_every_v1_operation_is_classified_once() -> None:
    schema = create_app(Settings(admin_token=SecretStr("x"))).openapi()
    operations = {(m.upper(), p) for p, item in schema["paths"].items() if p.startswith("/v1/") for m in item}
    classified = [*CHANGES, *READS, *NOT_AUDITED]
    assert len(classified) == len(set(classified)), "an operation is in more than one table"
    assert operations - set(classified) == set(), "classify these operations in CHANGES, READS or NOT_AUDITED"
    assert set(classified) - operations == set(), "these operations no longer exist"
    assert set(SCENARIOS) == set(CHANGES)


@dataclass(frozen=True)
class Call:
    """A request to make, and the workflow its entry must name (None: the one the response is)."""

    url: str
    body: dict[str, Any] | None = None
    workflow_id: str | None = None
    target_is_response: bool = False
    """The entry's target is what the response is (a job made from another)."""


@dataclass
class World:
    """The sweep's world: a workflow `greeter` with push to a receiver, and its clients."""

    admin: httpx.AsyncClient
    engine: AsyncEngine
    greeter_id: str
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def job(self, client: httpx.AsyncClient | None = None, pool: str = IDLE) -> dict[str, Any]:
        """A job of greeter, left pending in a pool no worker serves."""
        response = await (client or self.admin).post(
            "/v1/workflows/greeter/versions/current/async", json={"inputs": {"name": "Ada"}, "pool": pool}
        )
        assert response.status_code == 202, response.text
        job: dict[str, Any] = response.json()
        return job

    async def call(
        self, client: httpx.AsyncClient, method: str, call: Call, *, expect: int | None = None
    ) -> tuple[httpx.Response, list[Mapping[str, Any]]]:
        """Make the call with a request id of its own; its response and the entries written meanwhile."""
        before = await last_entry_id(self.engine)
        request_id = f"sweep-{next(self.numbers)}"
        response = await client.request(method, call.url, json=call.body, headers={"X-Request-Id": request_id})
        assert response.headers["X-Request-Id"] == request_id
        if expect is None:
            assert response.is_success, (method, call.url, response.text)
        else:
            assert response.status_code == expect, (method, call.url, response.text)
        return response, list(await entries_since(self.engine, before))


async def _created(w: World) -> Call:
    n = next(w.numbers)
    return Call("/v1/workflows", {"name": f"made {n}", "slug": f"made-{n}", "definition": GREETER})


async def _draft(w: World) -> Call:
    return Call("/v1/workflows/greeter/draft", {"definition": {**GREETER, "description": "v2"}}, w.greeter_id)


async def _settings(w: World) -> Call:
    return Call("/v1/workflows/greeter/settings", {"sync_timeout_s": 120}, w.greeter_id)


async def _env_deleted(w: World) -> Call:
    assert (await w.admin.put("/v1/workflows/greeter/env/GONE", json={"value": "soon"})).status_code == 201
    return Call("/v1/workflows/greeter/env/GONE", None, w.greeter_id)


async def _key_revoked(w: World) -> Call:
    key = await issue_key(w.admin, "greeter", "to revoke")
    return Call(f"/v1/workflows/greeter/api-keys/{key['id']}", None, w.greeter_id)


async def _on_job(w: World, suffix: str, body: dict[str, Any] | None = None) -> Call:
    job = await w.job()
    return Call(f"/v1/jobs/{job['id']}/{suffix}", body, w.greeter_id, target_is_response=suffix != "cancel")


async def _started(w: World) -> Call:
    source = await w.job()
    made = await w.admin.post(f"/v1/jobs/{source['id']}/duplicate", json={"start": False, "name": "later"})
    assert made.status_code == 201, made.text
    return Call(f"/v1/jobs/{made.json()['id']}/start", None, w.greeter_id, target_is_response=True)


async def _redelivered(w: World) -> Call:
    job = await submit_push(w.admin)
    await wait_for_delivery(w.admin, job["id"], "succeeded")
    return Call(f"/v1/jobs/{job['id']}/deliveries/redeliver", None, w.greeter_id)


def _simple(url: str, body: dict[str, Any] | None = None) -> Callable[[World], Awaitable[Call]]:
    async def make(w: World) -> Call:
        return Call(url, body, w.greeter_id)

    return make


def _job_op(suffix: str, body: dict[str, Any] | None = None) -> Callable[[World], Awaitable[Call]]:
    async def make(w: World) -> Call:
        return await _on_job(w, suffix, body)

    return make


SCENARIOS: dict[Operation, Callable[[World], Awaitable[Call]]] = {
    ("POST", "/v1/workflows"): _created,
    ("PUT", f"{W}/draft"): _draft,
    ("POST", f"{W}/deploy"): _simple("/v1/workflows/greeter/deploy"),
    ("PATCH", f"{W}/settings"): _settings,
    ("POST", f"{W}/settings/rotate-signing-secret"): _simple("/v1/workflows/greeter/settings/rotate-signing-secret"),
    ("PUT", f"{W}/env/{{name}}"): _simple("/v1/workflows/greeter/env/REGION", {"value": "eu-west"}),
    ("DELETE", f"{W}/env/{{name}}"): _env_deleted,
    ("POST", f"{W}/api-keys"): _simple("/v1/workflows/greeter/api-keys", {"name": "made by the sweep"}),
    ("DELETE", f"{W}/api-keys/{{key_id}}"): _key_revoked,
    ("POST", f"{JOB}/cancel"): _job_op("cancel"),
    ("POST", f"{JOB}/rerun"): _job_op("rerun"),
    ("POST", f"{JOB}/run-from-step"): _job_op("run-from-step", {"step": "compose"}),
    ("POST", f"{JOB}/duplicate"): _job_op("duplicate", {"start": True}),
    ("POST", f"{JOB}/start"): _started,
    ("POST", f"{JOB}/deliveries/redeliver"): _redelivered,
}


def assert_entry(
    entry: Mapping[str, Any], action: str, actor: tuple[str, str], response: httpx.Response, call: Call
) -> None:
    """One change's entry: its action and category, the caller, the request, and what it concerns."""
    assert (entry["action"], entry["category"]) == (action, action.partition(".")[0])
    assert (entry["actor"], entry["actor_name"]) == actor
    assert entry["request_id"] == response.request.headers["X-Request-Id"]
    assert entry["client_address"] == CLIENT_ADDRESS
    assert (entry["workspace_id"], entry["chain"]) == (DEFAULT_WORKSPACE_ID, str(DEFAULT_WORKSPACE_ID))
    body = response.json() if response.content else {}
    assert str(entry["workflow_id"]) == (call.workflow_id or body["id"])
    assert entry["description"]
    if call.target_is_response:
        assert entry["target_id"] == body["id"]


@pytest.fixture
async def world(admin: httpx.AsyncClient, engine: AsyncEngine, receiver: WebhookReceiver, workers: Workers) -> World:
    await push_workflow(admin, receiver)
    await workers.start()
    found = (await admin.get("/v1/workflows/greeter")).json()
    return World(admin, engine, found["id"])


async def test_every_change_writes_one_entry_and_every_read_none(world: World) -> None:
    for operation, (action, _) in CHANGES.items():
        call = await SCENARIOS[operation](world)
        response, written = await world.call(world.admin, operation[0], call)
        assert len(written) == 1, (operation, [e["action"] for e in written])
        assert_entry(written[0], action, ("admin", "operator"), response, call)

    source = await world.job()
    await world.admin.put("/v1/workflows/greeter/env/KEPT", json={"value": "here"})
    params = {"workflow": "greeter", "version": "1", "name": "KEPT", "job_id": source["id"]}
    for method, path in sorted(READS):
        _, written = await world.call(world.admin, method, Call(path.format(**params)))
        assert written == [], (method, path)
    submission = {"inputs": {"name": "Ada"}}
    for method, path in sorted(NOT_AUDITED):
        _, written = await world.call(world.admin, method, Call(path.format(**params), submission))
        assert written == [], (method, path, NOT_AUDITED[(method, path)])

    report = (await world.admin.get("/v1/audit-log/verify")).json()
    assert report == {"ok": True, "entries": report["entries"], "broken": None}
    assert report["entries"] == len(await entries_since(world.engine, 0))


async def test_a_verified_chain_fails_at_an_entry_altered_or_deleted_in_the_database(world: World) -> None:
    for operation in list(CHANGES)[:5]:
        await world.call(world.admin, operation[0], await SCENARIOS[operation](world))
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


async def test_replacing_a_variable_is_env_updated(world: World) -> None:
    call = Call("/v1/workflows/greeter/env/REGION", {"value": "eu-west"}, world.greeter_id)
    _, [created] = await world.call(world.admin, "PUT", call)
    response, [updated] = await world.call(world.admin, "PUT", Call(call.url, {"value": "us-east"}, call.workflow_id))
    assert created["action"] == "env.created"
    assert_entry(updated, "env.updated", ("admin", "operator"), response, call)
    assert updated["changes"] == {"value": {"before": "eu-west", "after": "us-east"}}


async def test_a_key_and_users_are_the_actors_of_their_changes(
    world: World, connect: ClientFactory, engine: AsyncEngine
) -> None:
    issued = await issue_key(world.admin, "greeter", "sweeper")
    key = connect(issued["key"])
    as_key = ("key:" + issued["id"], "sweeper")
    job = await world.job(key)
    for suffix, action in (("cancel", "job.canceled"), ("rerun", "job.rerun")):
        call = Call(f"/v1/jobs/{job['id']}/{suffix}", None, world.greeter_id)
        response, [entry] = await world.call(key, "POST", call)
        assert_entry(entry, action, as_key, response, call)

    greeter = uuid.UUID(world.greeter_id)
    manager = await make_user(engine, "ada@example.com", "admin")
    editor = await make_user(engine, "grace@example.com", "member", {greeter: "editor"})
    for person, operation in ((manager, ("PATCH", f"{W}/settings")), (editor, ("PUT", f"{W}/draft"))):
        call = await SCENARIOS[operation](world)
        response, [entry] = await world.call(connect(person.token), operation[0], call)
        assert_entry(entry, CHANGES[operation][0], (person.actor, person.email), response, call)


async def test_a_refused_call_writes_no_entry(world: World, connect: ClientFactory, engine: AsyncEngine) -> None:
    key = connect((await issue_key(world.admin, "greeter", "runner"))["key"])
    outsider = connect((await make_user(engine, "eve@example.com", "member")).token)
    viewer = connect(
        (await make_user(engine, "vic@example.com", "member", {uuid.UUID(world.greeter_id): "viewer"})).token
    )
    assert (await world.admin.post("/v1/workflows", json={"name": "bare", "definition": GREETER})).status_code == 201
    broken = {"name": "broken", "definition": {"steps": [{"id": "x", "type": "nope"}]}}
    assert (await world.admin.post("/v1/workflows", json=broken)).status_code == 201
    ended = await world.job()
    assert (await world.admin.post(f"/v1/jobs/{ended['id']}/cancel")).status_code == 200
    refused: list[tuple[httpx.AsyncClient, str, Call, int]] = [
        (key, "PATCH", Call("/v1/workflows/greeter/settings", {"sync_timeout_s": 120}), 403),
        (viewer, "PUT", Call("/v1/workflows/greeter/draft", {"definition": GREETER}), 403),
        (outsider, "PUT", Call("/v1/workflows/greeter/draft", {"definition": GREETER}), 404),
        (world.admin, "PUT", Call("/v1/workflows/missing/draft", {"definition": GREETER}), 404),
        (world.admin, "DELETE", Call("/v1/workflows/greeter/env/MISSING"), 404),
        (world.admin, "DELETE", Call(f"/v1/workflows/greeter/api-keys/{uuid.uuid4()}"), 404),
        (world.admin, "POST", Call("/v1/workflows", {"name": "again", "slug": "greeter", "definition": GREETER}), 409),
        (world.admin, "POST", Call("/v1/workflows/bare/settings/rotate-signing-secret"), 409),
        (world.admin, "PUT", Call("/v1/workflows/greeter/env/TOKEN", {"value": "s", "secure": True}), 409),
        (world.admin, "POST", Call(f"/v1/jobs/{ended['id']}/cancel"), 409),
        (world.admin, "POST", Call(f"/v1/jobs/{ended['id']}/start"), 409),
        (world.admin, "PATCH", Call("/v1/workflows/greeter/settings", {"sync_timeout_s": 5}), 422),
        (world.admin, "POST", Call("/v1/workflows/broken/deploy"), 422),
        (world.admin, "POST", Call(f"/v1/jobs/{ended['id']}/run-from-step", {"step": "nope"}), 422),
    ]
    for client, method, call, status in refused:
        _, written = await world.call(client, method, call, expect=status)
        assert written == [], (method, call.url, status)
