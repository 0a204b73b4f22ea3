"""The access sweep of issue 10: every /v1 operation of the contract, called as each principal, answers the status
that ONE table says (EXPECTED, one row per operation, one column per principal), so that the whole access policy
reads at a glance. A second, smaller table (OWN_JOB) holds the job operations for the runner and the key on jobs
they created themselves: own-job actions depend on the creator. A third (LISTINGS) holds `GET /v1/jobs` with the
queries whose rule the route checks (`scope=all`, of the workspace or of one workflow).

How it keeps fast and exact:
- One app and one world (tests/access/sweep_world.py) for the module, on PostgreSQL: workspace A (the default
  one) with `greeter` (the workflow under test) and `other`, its people by role, keys, an expired and a revoked
  token; workspace B (`globex`) with its owner. The per-test `engine` fixture (which empties the database) is not
  used here: the world is made once, on the session's engine, after emptying the database itself.
- Path parameters: `{workflow}` is greeter (for B's owner: greeter's id, which names A's object whatever the
  workspace), `{version}` current, `{name}` an environment variable that exists, `{key_id}` greeter's key,
  `{user_id}` a member of A and `{token_id}` their token, `{job_id}` a job of greeter created by the operator
  (in OWN_JOB, by the principal itself): submitted to push, then canceled, so that it has a callback to send again.
- Fresh targets: a call that consumes or alters what the next principal needs (deleting or cancelling, starting a
  `new` job, inviting or removing someone, deleting a workflow) gets a target made just before it (TARGETS), so
  each principal meets the same state and every call is independent of the order. Bodies are valid, so that an
  allowed call succeeds (200/201/202/204): the statuses in the tables are the real outcomes.
- Zero cross-workspace reads or writes: every call of B's owner, and every refused call (403/404), leaves A's rows
  as they were (a fingerprint of them before and after); B's owner gets for A's objects word for word what a
  missing one gets; and B's listings show none of A's rows.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.access.sweep_world import ADA, ENV, KEY, PRINCIPALS, World
from tests.conftest import connections, empty_database, make_settings
from tests.jobs.conftest import GREETER
from tests.packages.importing import multipart, package
from tests.servers import EchoServer
from tests.workflows.conftest import assert_problem
from workflow_service.app import create_app

Operation = tuple[str, str]
W = "/v1/workflows/{workflow}"
J = "/v1/jobs/{job_id}"
U = "/v1/users/{user_id}"
SCHEDULE = f"{W}/schedules/{{schedule_id}}"
BULK_DELETE = ("POST", "/v1/jobs/delete")

# The columns, in PRINCIPALS' order: operator, A's owner, admin, viewer, runner, editor, wf-owner (members invited to
# greeter with these roles), uninvited (a member), key (greeter's), other-key (other's), B's owner, expired, revoked.
#       op  own adm vwr run edt wfo uni key oky  B  exp rev
READ = "200 200 200 200 200 200 200 404 200 403 404 401 401"
EDIT = "200 200 200 403 403 200 200 404 403 403 404 401 401"
SUBMIT = "202 202 202 403 202 202 202 404 202 403 404 401 401"
SHARE = "201 201 201 403 403 403 201 404 403 403 404 401 401"
JOB_READ = "200 200 200 200 200 200 200 404 404 404 404 401 401"
ON_JOB = "200 200 200 403 403 403 200 404 404 404 404 401 401"
MANAGERS = "200 200 200 403 403 403 403 403 403 403 200 401 401"
USERS = "200 200 200 200 200 200 200 200 403 403 200 401 401"
ANYONE = "200 200 200 200 200 200 200 200 200 200 200 401 401"
IN_A = "200 200 200 403 403 403 403 403 403 403 404 401 401"
MONITOR = "200 200 200 200 200 200 200 404 403 403 404 401 401"  # what a viewer may read, but no API key
TRIGGERS_READ = MONITOR  # the same readers: a trigger history names every caller's jobs
T = f"{W}/triggers/{{trigger_id}}"
HOOK = ("POST", "/v1/hooks/{trigger_id}")
BY_TRIGGER_SECRET = {HOOK}
"""Operations that every caller may make with the trigger's secret, whatever credential of the service it sends (or
none): the answers are the same in every column, and changes in workspace A made through them are their point."""
EXPECTED: dict[Operation, str] = {
    ("GET", "/v1/workflows"): USERS,
    ("POST", "/v1/workflows"): USERS.replace("200", "201"),
    ("GET", W): READ,
    ("DELETE", W): SHARE.replace("201", "204"),
    ("PUT", f"{W}/draft"): EDIT,
    ("POST", f"{W}/validate"): EDIT,
    ("POST", f"{W}/deploy"): EDIT.replace("200", "201"),
    ("GET", f"{W}/versions"): READ,
    ("GET", f"{W}/versions/{{version}}"): READ,
    ("GET", f"{W}/settings"): READ,
    ("GET", f"{W}/export"): EDIT,  # WORKFLOW_EXPORT: a viewer, a runner and an API key may not
    ("POST", "/v1/workflows/import"): USERS.replace("200", "201"),
    ("POST", f"{W}/import"): EDIT,
    ("GET", f"{W}/backups"): EDIT,  # WORKFLOW_EXPORT
    ("GET", f"{W}/backups/{{backup_id}}"): EDIT,
    ("PATCH", f"{W}/settings"): EDIT,
    ("POST", f"{W}/settings/rotate-signing-secret"): EDIT,
    ("GET", f"{W}/env"): READ,
    ("GET", f"{W}/env/{{name}}"): READ,
    ("PUT", f"{W}/env/{{name}}"): EDIT,
    ("DELETE", f"{W}/env/{{name}}"): EDIT.replace("200", "204"),
    ("GET", f"{W}/api-keys"): EDIT,
    ("POST", f"{W}/api-keys"): EDIT.replace("200", "201"),
    ("DELETE", f"{W}/api-keys/{{key_id}}"): EDIT.replace("200", "204"),
    ("POST", f"{W}/versions/{{version}}/async"): SUBMIT,
    ("POST", f"{W}/versions/{{version}}/push"): SUBMIT,
    ("POST", f"{W}/versions/{{version}}/sync"): SUBMIT,  # Prefer: wait=0, and no worker: still going, 202
    ("POST", f"{W}/versions/{{version}}/estimate"): SUBMIT.replace("202", "200"),
    ("GET", f"{W}/members"): MONITOR,
    ("PUT", f"{W}/members/{{user_id}}"): SHARE,
    ("DELETE", f"{W}/members/{{user_id}}"): SHARE.replace("201", "204"),
    ("GET", f"{W}/audit-log"): EDIT,
    ("GET", f"{W}/monitor"): MONITOR,
    ("GET", f"{W}/runs"): MONITOR,
    ("GET", f"{W}/model-runs"): MONITOR,
    ("GET", "/v1/jobs"): ANYONE,
    BULK_DELETE: ANYONE,  # and the id's outcome in the answer is what DELETE /v1/jobs/{job_id} answers (_bulk)
    ("GET", J): JOB_READ,
    ("PATCH", J): ON_JOB,
    ("DELETE", J): ON_JOB.replace("200", "204"),
    ("GET", f"{J}/events"): JOB_READ,
    ("GET", f"{J}/deliveries"): JOB_READ,
    ("GET", f"{J}/output"): JOB_READ,
    ("GET", f"{J}/steps/{{step}}/output"): JOB_READ,
    ("POST", f"{J}/cancel"): ON_JOB,
    ("POST", f"{J}/rerun"): ON_JOB.replace("200", "201"),
    ("POST", f"{J}/run-from-step"): ON_JOB.replace("200", "201"),
    ("POST", f"{J}/duplicate"): ON_JOB.replace("200", "201"),
    ("POST", f"{J}/start"): ON_JOB,
    ("POST", f"{J}/deliveries/redeliver"): ON_JOB.replace("200", "201"),
    ("GET", "/v1/agents"): MANAGERS,
    ("GET", "/v1/tools"): USERS,
    ("POST", "/v1/workspaces"): "201 403 403 403 403 403 403 403 403 403 403 401 401",
    ("GET", "/v1/workspaces"): USERS,
    ("GET", "/v1/workspace"): ANYONE,
    ("PATCH", "/v1/workspace"): MANAGERS,
    ("GET", "/v1/me"): ANYONE,
    ("POST", "/v1/me/tokens"): "403 201 201 201 201 201 201 201 403 403 201 401 401",
    ("GET", "/v1/me/tokens"): "403 200 200 200 200 200 200 200 403 403 200 401 401",
    ("DELETE", "/v1/me/tokens/{token_id}"): "403 204 204 204 204 204 204 204 403 403 404 401 401",
    ("POST", "/v1/users"): MANAGERS.replace("200", "201"),
    ("GET", "/v1/users"): MANAGERS,
    ("GET", U): IN_A,
    ("PATCH", U): IN_A,
    ("DELETE", U): IN_A.replace("200", "204"),
    ("GET", f"{U}/tokens"): IN_A,
    ("DELETE", f"{U}/tokens/{{token_id}}"): IN_A.replace("200", "204"),
    ("GET", "/v1/audit-log"): MANAGERS,
    ("GET", "/v1/audit-log/verify"): MANAGERS,
    ("GET", f"{W}/triggers"): TRIGGERS_READ,
    ("POST", f"{W}/triggers"): EDIT.replace("200", "201"),
    ("GET", T): TRIGGERS_READ,
    ("PATCH", T): EDIT,
    ("DELETE", T): EDIT.replace("200", "204"),
    ("POST", f"{T}/pause"): EDIT,
    ("POST", f"{T}/resume"): EDIT,
    ("POST", f"{T}/rotate-secret"): EDIT,
    ("GET", f"{T}/events"): TRIGGERS_READ,
    HOOK: "202 202 202 202 202 202 202 202 202 202 202 202 202",  # a signed event: the caller's token is not read
    ("POST", f"{W}/schedules"): EDIT.replace("200", "201"),
    ("GET", f"{W}/schedules"): MONITOR,
    ("GET", SCHEDULE): MONITOR,
    ("PATCH", SCHEDULE): EDIT,
    ("DELETE", SCHEDULE): EDIT.replace("200", "204"),
    ("POST", f"{SCHEDULE}/pause"): EDIT,
    ("POST", f"{SCHEDULE}/resume"): EDIT,
    ("POST", f"{SCHEDULE}/backfill"): EDIT,
}
"""(method, path template) -> the status for each principal, in PRINCIPALS' order: the operator, A's owner and
admin, members invited to greeter as viewer, runner, editor and owner, a member not invited, greeter's key,
other's key, B's owner, an expired token and a revoked one (both A's owner's)."""

LISTINGS: dict[Operation, str] = {
    ("GET", "/v1/jobs?scope=all"): "200 200 200 403 403 403 403 403 403 403 200 401 401",
    ("GET", "/v1/jobs?scope=all&workflow={workflow}"): "200 200 200 200 200 200 200 404 403 403 404 401 401",
}
"""`GET` with the queries whose rule depends on them (checked in the route): everyone's jobs ("All jobs"), of the
workspace, or of one workflow."""

OWN_COLUMNS = ("runner", "key")
# The columns, in OWN_COLUMNS' order: runner, key.
OWN_JOB: dict[Operation, str] = {
    ("GET", J): "200 200",
    ("PATCH", J): "200 200",
    ("DELETE", J): "204 204",
    BULK_DELETE: "200 200",
    ("GET", f"{J}/events"): "200 200",
    ("GET", f"{J}/deliveries"): "200 200",
    ("GET", f"{J}/output"): "200 200",
    ("GET", f"{J}/steps/{{step}}/output"): "200 200",
    ("POST", f"{J}/cancel"): "200 200",
    ("POST", f"{J}/rerun"): "201 201",
    ("POST", f"{J}/run-from-step"): "201 201",
    ("POST", f"{J}/duplicate"): "201 201",
    ("POST", f"{J}/start"): "200 200",
    ("POST", f"{J}/deliveries/redeliver"): "201 201",
}
"""The job operations for the runner and greeter's key, on a job each created itself."""


@dataclass(frozen=True)
class Call:
    """One request of the sweep: its path parameters, body and headers, and the client to send it with when not
    the column's own (a key of the scratch workflow it deletes)."""

    params: dict[str, str]
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    client: httpx.AsyncClient | None = None
    content: bytes | None = None
    """A body sent as these bytes (a signed event), instead of `body` as JSON."""


@dataclass(frozen=True)
class Who:
    """A column of a table, and whose jobs `{job_id}` names (the operator's, or in OWN_JOB its own)."""

    column: str
    creator: str = "operator"


Target = Callable[[World, Who, Call], Awaitable[Call]]


def _fresh(name: str, make: Callable[[World], Awaitable[str]]) -> Target:
    async def target(world: World, who: Who, call: Call) -> Call:
        return replace(call, params={**call.params, name: await make(world)})

    return target


def _job(make: Callable[[World, str], Awaitable[str]]) -> Target:
    async def target(world: World, who: Who, call: Call) -> Call:
        return replace(call, params={**call.params, "job_id": await make(world, who.creator)})

    return target


async def _completed(world: World, who: Who, call: Call) -> Call:
    """The completed job of the column's creator: it has an output to download."""
    return replace(call, params={**call.params, "job_id": world.completed[who.creator]})


async def _user_token(world: World, who: Who, call: Call) -> Call:
    user_id, token_id = await world.user_with_token()
    return replace(call, params={**call.params, "user_id": user_id, "token_id": token_id})


async def _own_token(world: World, who: Who, call: Call) -> Call:
    return replace(call, params={**call.params, "token_id": await world.own_token(who.column)})


async def _scratch(world: World, who: Who, call: Call) -> Call:
    slug, key = await world.scratch_workflow()
    workflow = (await world.ok("GET", f"/v1/workflows/{slug}"))["id"] if who.column == "b-owner" else slug
    return replace(call, params={**call.params, "workflow": workflow}, client=key if who.column == "key" else None)


async def _signed_event(world: World, who: Who, call: Call) -> Call:
    content, headers = world.signed_event()
    return replace(call, content=content, headers={**call.headers, **headers})


async def _bulk(world: World, who: Who, call: Call) -> Call:
    return replace(call, body={"ids": [await world.job(who.creator)]})


def _upload(new: bool) -> Target:
    """A package of greeter's definition, as a new workflow (a fresh slug) or over greeter's draft (backed up)."""

    async def target(world: World, who: Who, call: Call) -> Call:
        fields = {"slug": f"imported-{world.number()}"} if new else {"backup": "true"}
        content, headers = multipart(package(GREETER), **fields)
        return replace(call, content=content, headers={**call.headers, **headers})

    return target


def _numbered(make: Callable[[int], dict[str, Any]]) -> Target:
    async def target(world: World, who: Who, call: Call) -> Call:
        return replace(call, body=make(world.number()))

    return target


TARGETS: dict[Operation, Target] = {
    ("POST", "/v1/workflows"): _numbered(lambda n: {"name": f"Made {n}", "slug": f"made-{n}", "definition": GREETER}),
    ("DELETE", f"{W}/env/{{name}}"): _fresh("name", World.env_var),
    ("DELETE", SCHEDULE): _fresh("schedule_id", World.schedule),
    ("DELETE", f"{W}/api-keys/{{key_id}}"): _fresh("key_id", World.api_key),
    ("PUT", f"{W}/members/{{user_id}}"): _fresh("user_id", World.user),
    ("DELETE", f"{W}/members/{{user_id}}"): _fresh("user_id", World.invited_user),
    ("DELETE", W): _scratch,
    ("POST", f"{J}/cancel"): _job(World.job),
    ("DELETE", J): _job(World.job),
    BULK_DELETE: _bulk,
    ("POST", f"{J}/start"): _job(World.new_job),
    ("GET", f"{J}/output"): _completed,
    ("GET", f"{J}/steps/{{step}}/output"): _completed,
    ("POST", "/v1/workspaces"): _numbered(
        lambda n: {"slug": f"made-{n}", "name": "Made", "owner": {"email": f"made-{n}@c.example", "name": "Made"}}
    ),
    ("DELETE", "/v1/me/tokens/{token_id}"): _own_token,
    ("POST", "/v1/users"): _numbered(lambda n: {"email": f"new-{n}@a.example", "name": "New", "issue_token": False}),
    ("DELETE", U): _fresh("user_id", World.user),
    ("DELETE", f"{U}/tokens/{{token_id}}"): _user_token,
    # Each change of a trigger on one made for it: the standing one keeps its name, secret and state for the reads.
    **{(m, path): _fresh("trigger_id", World.trigger) for m, path in EXPECTED if path.startswith(T) and m != "GET"},
    HOOK: _signed_event,
    ("POST", "/v1/workflows/import"): _upload(new=True),
    ("POST", f"{W}/import"): _upload(new=False),
}
BODIES: dict[Operation, Any] = {
    ("PUT", f"{W}/draft"): {"definition": GREETER},
    ("PATCH", f"{W}/settings"): {"sync_timeout_s": 60},
    ("PUT", f"{W}/env/{{name}}"): {"value": "eu"},
    ("POST", f"{W}/api-keys"): {"name": "sweep"},
    ("POST", f"{W}/versions/{{version}}/async"): ADA,
    ("POST", f"{W}/versions/{{version}}/push"): ADA,
    ("POST", f"{W}/versions/{{version}}/sync"): ADA,
    ("POST", f"{W}/versions/{{version}}/estimate"): ADA,
    ("PUT", f"{W}/members/{{user_id}}"): {"role": "viewer"},
    ("PATCH", J): {"name": "renamed"},
    ("POST", f"{J}/run-from-step"): {"step": "compose"},
    ("POST", f"{J}/duplicate"): {"start": True},
    ("PATCH", "/v1/workspace"): {"retention_days": 365},
    ("POST", "/v1/me/tokens"): {"name": "laptop"},
    ("PATCH", U): {"name": "Spare"},
    ("POST", f"{W}/triggers"): {"type": "webhook", "name": "sweep", "mapping": {"inputs": "{{ event }}"}},
    ("PATCH", T): {"name": "renamed"},
    ("POST", f"{W}/schedules"): {"interval": 3600, "inputs": ADA["inputs"]},
    ("PATCH", SCHEDULE): {"description": "swept"},
    ("POST", f"{SCHEDULE}/backfill"): {"from": "2026-06-01T00:00:00Z", "to": "2026-06-01T03:00:00Z"},
}
HEADERS: dict[Operation, dict[str, str]] = {("POST", f"{W}/versions/{{version}}/sync"): {"Prefer": "wait=0"}}


def _row(statuses: str, columns: tuple[str, ...]) -> dict[str, str]:
    values = statuses.split()
    assert len(values) == len(columns), statuses
    return dict(zip(columns, values, strict=True))


def test_every_operation_of_the_contract_is_in_the_table() -> None:
    schema = create_app(make_settings()).openapi()
    operations = {(m.upper(), p) for p, item in schema["paths"].items() if p.startswith("/v1/") for m in item}
    assert operations - set(EXPECTED) == set(), "add these operations to EXPECTED"
    assert set(EXPECTED) - operations == set(), "these operations are gone from the contract"
    assert set(OWN_JOB) == {op for op in EXPECTED if op[1].startswith(J)} | {BULK_DELETE}
    assert set(TARGETS) | set(BODIES) | set(HEADERS) <= set(EXPECTED)
    for statuses in EXPECTED.values():
        _row(statuses, PRINCIPALS)


@pytest.fixture(scope="module")
async def world(session_engine: AsyncEngine, redis_client: aioredis.Redis) -> AsyncIterator[World]:
    """The world, made once for the module on an emptied database, served by one app."""
    async with session_engine.begin() as conn:
        await empty_database(conn)
    await redis_client.flushdb()
    echo = EchoServer()
    echo.start()
    try:
        settings = make_settings(secret_key=SecretStr(KEY))
        async with connections(settings) as connect:
            made = World(connect, session_engine, f"{echo.url}/hook")
            await made.build()
            await made.finish_jobs(settings)
            yield made
    finally:
        echo.stop()


def _defaults(world: World, who: Who) -> dict[str, str]:
    """The path parameters: workspace A's objects under test."""
    return {
        "workflow": world.ids["greeter"] if who.column == "b-owner" else "greeter",
        "version": "current",
        "name": ENV,
        "key_id": world.ids["key"],
        "user_id": world.users["spare"],
        "token_id": world.ids["spare_token"],
        "job_id": world.standing[who.creator],
        "step": "compose",
        "trigger_id": world.ids["trigger"],
        "schedule_id": world.ids["schedule"],
        "backup_id": world.ids["backup"],
    }


async def _send(world: World, who: Who, operation: Operation, call: Call) -> httpx.Response:
    method, template = operation
    client = call.client or world.clients[who.column]
    url = template.format(**call.params)
    if call.content is not None:
        return await client.request(method, url, content=call.content, headers=call.headers)
    return await client.request(method, url, json=call.body, headers=call.headers)


async def _sweep(world: World, who: Who, operation: Operation) -> httpx.Response:
    """Call the operation as the column, on a fresh target where it needs one; a call of B's owner or a refused
    one must change none of A's rows."""
    call = Call(_defaults(world, who), BODIES.get(operation), HEADERS.get(operation, {}))
    if operation in TARGETS:
        call = await TARGETS[operation](world, who, call)
    before = await world.a_rows()
    response = await _send(world, who, operation, call)
    if operation not in BY_TRIGGER_SECRET and (who.column == "b-owner" or response.status_code in (403, 404)):
        assert await world.a_rows() == before, (who, operation, response.status_code)
    if response.status_code >= 400:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}[response.status_code]
        assert_problem(response, response.status_code, code)
    if who.column == "b-owner" and response.status_code == 404:
        await _like_a_missing_one(world, who, operation, call, response)
    return response


async def _like_a_missing_one(
    world: World, who: Who, operation: Operation, call: Call, response: httpx.Response
) -> None:
    """For B's owner, A's objects are word for word what missing ones are."""
    named = {k: v for k, v in call.params.items() if k in _placeholders(operation[1]) and k != "version"}
    missing = {k: (f"MISSING_{k.upper()}" if k == "name" else str(uuid.uuid4())) for k in named}
    answer = await _send(world, who, operation, replace(call, params={**call.params, **missing}))
    assert answer.status_code == response.status_code, (operation, answer.text)

    def said(body: dict[str, Any], values: dict[str, str]) -> str:
        detail = str(body["detail"])
        for key, value in values.items():
            detail = detail.replace(value, f"{{{key}}}")
        return detail

    assert said(answer.json(), missing) == said(response.json(), named), (operation, answer.text, response.text)


def _placeholders(template: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", template))


DELETED = {"204": "deleted", "403": "forbidden", "404": "not_found"}


def _bulk_outcomes(operation: Operation, responses: list[httpx.Response], deleting_one: str) -> None:
    """A bulk delete decides each id as `DELETE /v1/jobs/{job_id}` does (its row: `deleting_one`)."""
    if operation != BULK_DELETE:
        return
    for response, status in zip(responses, deleting_one.split(), strict=True):
        if response.status_code == 200:
            assert [r["status"] for r in response.json()["results"]] == [DELETED[status]], response.text


@pytest.mark.parametrize("operation", list(EXPECTED), ids=[f"{m} {p}" for m, p in EXPECTED])
async def test_each_principal_gets_the_tables_status(world: World, operation: Operation) -> None:
    responses = [await _sweep(world, Who(column), operation) for column in PRINCIPALS]
    got = " ".join(str(r.status_code) for r in responses)
    assert got == EXPECTED[operation], " ".join(PRINCIPALS)
    _bulk_outcomes(operation, responses, EXPECTED["DELETE", J])


@pytest.mark.parametrize("operation", list(OWN_JOB), ids=[f"{m} {p}" for m, p in OWN_JOB])
async def test_the_runner_and_the_key_on_their_own_jobs(world: World, operation: Operation) -> None:
    responses = [await _sweep(world, Who(column, column), operation) for column in OWN_COLUMNS]
    assert " ".join(str(r.status_code) for r in responses) == OWN_JOB[operation], " ".join(OWN_COLUMNS)
    _bulk_outcomes(operation, responses, OWN_JOB["DELETE", J])


@pytest.mark.parametrize("operation", list(LISTINGS), ids=[p for _, p in LISTINGS])
async def test_listing_every_job(world: World, operation: Operation) -> None:
    got = [str((await _sweep(world, Who(column), operation)).status_code) for column in PRINCIPALS]
    assert " ".join(got) == LISTINGS[operation], " ".join(PRINCIPALS)


async def test_the_other_workspaces_listings_show_nothing_of_workspace_a(world: World) -> None:
    """After the sweep (in which B's owner made workflows, users and tokens of its own), B's listings hold none of
    A's rows (A's, from the database, are many), and B's own."""
    in_a = await world.ids_in_a()
    listed: dict[str, set[str]] = {}
    for url, a_ids in in_a.items():
        page = await world.ok("GET", url, column="b-owner")
        assert page["next_cursor"] is None, url
        listed[url] = {str(item["id"]) for item in page["items"]}
        assert a_ids, url
        assert a_ids & listed[url] == set(), url
    assert listed["/v1/workflows"], "B's owner made workflows in the sweep"
    assert listed["/v1/users"], "B's owner added users in the sweep"
    assert listed["/v1/audit-log"], "and their changes are in B's audit log"
    b_workspaces = (await world.ok("GET", "/v1/workspaces", column="b-owner"))["items"]
    assert [w["id"] for w in b_workspaces] == [world.ids["b_workspace"]]
