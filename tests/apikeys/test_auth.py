"""Authenticating with API keys: what a key may call, what it may read, revocation, and the audit trail."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import issue_key
from tests.conftest import BASE_URL, ClientFactory, WorkerFactory, wait_for_job
from tests.jobs.conftest import GREETER, deploy_workflow, submit
from tests.workflows.conftest import assert_problem
from workflow_service.core.clock import utcnow

ASYNC = "/v1/workflows/{}/versions/current/async"
ADA = {"inputs": {"name": "Ada"}}


async def _caller(engine: AsyncEngine, job_id: str) -> str:
    async with engine.connect() as conn:
        caller: str = (
            await conn.execute(sa.text("SELECT caller FROM job WHERE id = :id"), {"id": uuid.UUID(job_id)})
        ).scalar_one()
    return caller


async def _last_used(engine: AsyncEngine, key_id: str) -> Any:
    async with engine.connect() as conn:
        return (
            await conn.execute(sa.text("SELECT last_used_at FROM api_key WHERE id = :id"), {"id": uuid.UUID(key_id)})
        ).scalar_one()


async def test_a_key_submits_to_its_workflow_and_reads_that_job_and_its_events(
    connect: ClientFactory, admin: httpx.AsyncClient, start_worker: WorkerFactory, engine: AsyncEngine
) -> None:
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    created = await issue_key(admin, "greeter")
    key = connect(created["key"])
    await start_worker()

    response = await key.post(ASYNC.format("greeter"), json=ADA)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert response.headers["Location"] == f"{BASE_URL}/v1/jobs/{job_id}"
    done = await wait_for_job(key, job_id)  # polls with the key
    assert done["status"] == "completed"
    assert done["output"] == {"greeting": "Hello, Ada!"}

    events = await key.get(f"/v1/jobs/{job_id}/events")
    assert events.status_code == 200, events.text
    items = events.json()["items"]
    assert items[0]["to_status"] == "pending"
    assert items[0]["actor"] == f"key:{created['id']}"
    assert items[-1]["to_status"] == "completed"

    by_id = await key.post(ASYNC.format(workflow["id"]), json=ADA)  # the workflow's id works as well as its slug
    assert by_id.status_code == 202, by_id.text


async def test_the_job_records_its_caller(
    connect: ClientFactory, admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    created = await issue_key(admin, "greeter")
    by_key = await submit(connect(created["key"]), "greeter", {"name": "Ada"})
    by_admin = await submit(admin, "greeter", {"name": "Ada"})
    assert await _caller(engine, by_key["id"]) == f"key:{created['id']}"
    assert await _caller(engine, by_admin["id"]) == "admin"
    # and the admin reads the key's job like any other
    assert (await admin.get(f"/v1/jobs/{by_key['id']}")).status_code == 200
    listed = (await admin.get("/v1/jobs", params={"scope": "all"})).json()["items"]
    assert {j["id"] for j in listed} == {by_key["id"], by_admin["id"]}
    # the default is the caller's own jobs, for the key as for the operator
    assert [j["id"] for j in (await admin.get("/v1/jobs")).json()["items"]] == [by_admin["id"]]
    by_key_list = (await connect(created["key"]).get("/v1/jobs", params={"workflow": "greeter"})).json()["items"]
    assert [j["id"] for j in by_key_list] == [by_key["id"]]


@pytest.mark.parametrize("target", ["other", "missing"])
async def test_a_key_is_forbidden_on_another_workflows_endpoints(
    connect: ClientFactory, admin: httpx.AsyncClient, engine: AsyncEngine, target: str
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    other = await deploy_workflow(admin, "other", GREETER)
    key = connect((await issue_key(admin, "greeter"))["key"])
    for ref in [target] if target == "missing" else [target, other["id"]]:
        # A missing workflow is 403 too: a key learns nothing about workflows that are not its own.
        for version in ("current", "1"):
            response = await key.post(f"/v1/workflows/{ref}/versions/{version}/async", json=ADA)
            assert_problem(response, 403, "forbidden")
    assert (await admin.get("/v1/jobs")).json()["items"] == []


ADMIN_ROUTES = [
    ("GET", "/v1/workflows", None),
    ("POST", "/v1/workflows", {"name": "mine", "definition": GREETER}),
    ("PUT", "/v1/workflows/greeter/draft", {"definition": GREETER}),
    ("POST", "/v1/workflows/greeter/validate", None),
    ("POST", "/v1/workflows/greeter/deploy", None),
    ("GET", "/v1/workflows/greeter/api-keys", None),
    ("POST", "/v1/workflows/greeter/api-keys", {"name": "escalation"}),
    ("DELETE", "/v1/workflows/greeter/api-keys/{key_id}", None),
    ("GET", "/v1/jobs?scope=all", None),
    ("GET", "/v1/agents", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
async def test_a_key_is_forbidden_on_admin_routes(
    connect: ClientFactory,
    admin: httpx.AsyncClient,
    engine: AsyncEngine,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    created = await issue_key(admin, "greeter")
    key = connect(created["key"])
    response = await key.request(method, path.format(key_id=created["id"]), json=body)
    assert_problem(response, 403, "forbidden")
    # nothing changed: still one workflow, one version, the same one key
    assert [w["slug"] for w in (await admin.get("/v1/workflows")).json()["items"]] == ["greeter"]
    assert len((await admin.get("/v1/workflows/greeter/versions")).json()["items"]) == 1
    keys = (await admin.get("/v1/workflows/greeter/api-keys")).json()["items"]
    assert [k["id"] for k in keys] == [created["id"]]


async def test_a_key_cannot_read_jobs_it_did_not_submit(
    connect: ClientFactory, admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    await deploy_workflow(admin, "other", GREETER)
    mine = connect((await issue_key(admin, "greeter", "mine"))["key"])
    sibling = connect((await issue_key(admin, "greeter", "sibling"))["key"])
    stranger = connect((await issue_key(admin, "other", "stranger"))["key"])
    own = await submit(mine, "greeter", {"name": "Ada"})
    others = [
        await submit(sibling, "greeter", {"name": "Bo"}),  # another key of the same workflow
        await submit(admin, "greeter", {"name": "Cy"}),  # the admin, on the same workflow
        await submit(stranger, "other", {"name": "Di"}),  # another workflow's key
    ]
    assert (await mine.get(f"/v1/jobs/{own['id']}")).status_code == 200
    assert (await mine.get(f"/v1/jobs/{own['id']}/events")).status_code == 200
    missing = str(uuid.uuid4())
    for job_id in [o["id"] for o in others] + [missing, "not-a-uuid"]:
        for suffix in ("", "/events"):
            response = await mine.get(f"/v1/jobs/{job_id}{suffix}")
            body = assert_problem(response, 404, "not_found")
            # word for word what a missing job says: no hint that the job exists
            assert body["detail"] == f"job {job_id!r} does not exist"
    # each of the others still reads its own
    assert (await sibling.get(f"/v1/jobs/{others[0]['id']}")).status_code == 200
    assert (await stranger.get(f"/v1/jobs/{others[2]['id']}/events")).status_code == 200


async def test_a_revoked_key_is_refused_from_the_next_request(
    connect: ClientFactory, admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    created = await issue_key(admin, "greeter")
    key = connect(created["key"])
    job = await submit(key, "greeter", {"name": "Ada"})
    assert (await key.get(f"/v1/jobs/{job['id']}")).status_code == 200

    assert (await admin.delete(f"/v1/workflows/greeter/api-keys/{created['id']}")).status_code == 204

    for response in (
        await key.post(ASYNC.format("greeter"), json=ADA),
        await key.get(f"/v1/jobs/{job['id']}"),
        await key.get(f"/v1/jobs/{job['id']}/events"),
    ):
        assert_problem(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    # the job it submitted stays, and the admin still reads it
    assert (await admin.get(f"/v1/jobs/{job['id']}")).status_code == 200


def _tamper(key: str) -> str:
    last = "A" if key[-1] != "A" else "B"
    return key[:-1] + last


@pytest.mark.parametrize(
    "token",
    [
        "unknown",
        "wrong-secret",
        "wrong-prefix",
        "truncated",
        "wfs_key_",
        "wfs_key_000000000000_" + "x" * 43,
        "wfs_key_not-hex-at-al_" + "x" * 43,
        "test-admin-token-but-longer",
        "garbage \u00e9",
        "x" * 5000,
    ],
)
async def test_an_unknown_or_garbled_key_is_a_401(
    connect: ClientFactory, admin: httpx.AsyncClient, engine: AsyncEngine, token: str
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    real = (await issue_key(admin, "greeter"))["key"]
    prefix, secret = real[:20], real[21:]
    token = {
        "unknown": f"wfs_key_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}",
        "wrong-secret": _tamper(real),
        "wrong-prefix": "wfs_key_0123456789ab_" + secret,
        "truncated": real[:-1],
    }.get(token, token)
    assert prefix != "wfs_key_0123456789ab"
    client = connect("")
    response = await client.post(
        ASYNC.format("greeter"), json=ADA, headers={b"Authorization": f"Bearer {token}".encode()}
    )
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert (await admin.get("/v1/jobs")).json()["items"] == []


@pytest.mark.parametrize("header", [None, "Bearer", "Basic dGVzdDp0ZXN0", "test-admin-token"])
async def test_a_request_without_a_bearer_token_is_a_401(
    connect: ClientFactory, engine: AsyncEngine, header: str | None
) -> None:
    client = connect("")
    headers = {"Authorization": header} if header is not None else {}
    if header is None:
        del client.headers["Authorization"]
    response = await client.get("/v1/jobs/00000000-0000-0000-0000-000000000000", headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_the_admin_still_reaches_everything(admin: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    created = await issue_key(admin, "greeter")
    job = await submit(admin, "greeter", {"name": "Ada"})
    for path in (
        "/v1/workflows",
        "/v1/workflows/greeter",
        "/v1/workflows/greeter/versions",
        "/v1/workflows/greeter/api-keys",
        "/v1/jobs",
        f"/v1/jobs/{job['id']}",
        f"/v1/jobs/{job['id']}/events",
        "/v1/agents",
    ):
        response = await admin.get(path)
        assert response.status_code == 200, (path, response.text)
    assert (await admin.post("/v1/workflows/greeter/validate")).status_code == 200
    assert (await admin.delete(f"/v1/workflows/greeter/api-keys/{created['id']}")).status_code == 204


async def test_last_used_at_is_recorded_at_most_once_a_minute(
    connect: ClientFactory, admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    created = await issue_key(admin, "greeter")
    key = connect(created["key"])
    assert await _last_used(engine, created["id"]) is None

    before = utcnow()
    job = await submit(key, "greeter", {"name": "Ada"})
    first = await _last_used(engine, created["id"])
    assert first is not None
    assert first >= before
    listed = (await admin.get("/v1/workflows/greeter/api-keys")).json()["items"][0]
    assert listed["last_used_at"] is not None

    assert (await key.get(f"/v1/jobs/{job['id']}")).status_code == 200
    assert await _last_used(engine, created["id"]) == first  # within the minute: no write

    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE api_key SET last_used_at = :at WHERE id = :id"),
            {"at": first - timedelta(minutes=2), "id": uuid.UUID(created["id"])},
        )
    assert (await key.get(f"/v1/jobs/{job['id']}")).status_code == 200
    assert await _last_used(engine, created["id"]) > first

    # a bad key does not touch the row; a request the key may not make (403) still counts as a use
    second = await _last_used(engine, created["id"])
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE api_key SET last_used_at = :at WHERE id = :id"),
            {"at": second - timedelta(minutes=2), "id": uuid.UUID(created["id"])},
        )
    assert (await connect(_tamper(created["key"])).get(f"/v1/jobs/{job['id']}")).status_code == 401
    assert await _last_used(engine, created["id"]) == second - timedelta(minutes=2)
    assert (await key.get("/v1/agents")).status_code == 403
    assert await _last_used(engine, created["id"]) > second


async def test_one_key_used_concurrently(connect: ClientFactory, admin: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    created = await issue_key(admin, "greeter")
    key = connect(created["key"])

    responses = await asyncio.gather(
        *(key.post(ASYNC.format("greeter"), json={"inputs": {"name": f"n{i}"}}) for i in range(30))
    )
    assert [r.status_code for r in responses] == [202] * 30, [r.text for r in responses if r.status_code != 202]
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == 30
    reads = await asyncio.gather(*(key.get(f"/v1/jobs/{job_id}") for job_id in ids))
    assert [r.status_code for r in reads] == [200] * 30
    async with engine.connect() as conn:
        callers = (await conn.execute(sa.text("SELECT DISTINCT caller FROM job"))).scalars().all()
    assert callers == [f"key:{created['id']}"]
    assert await _last_used(engine, created["id"]) is not None


async def test_no_v1_route_lets_a_key_past_its_own_workflow_and_jobs(
    connect: ClientFactory, admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Every operation in the contract, called with a key on someone else's resources, is refused: 404 for
    job routes (no existence leak), 403 for everything else but listing its own jobs (none here). New routes
    are covered as they are added."""
    await deploy_workflow(admin, "greeter", GREETER)
    await deploy_workflow(admin, "other", GREETER)
    created = await issue_key(admin, "greeter")
    key = connect(created["key"])
    admins_job = await submit(admin, "greeter", {"name": "Ada"})
    params = {"workflow": "other", "version": "current", "job_id": admins_job["id"], "key_id": created["id"],
              "name": "NAME", "user_id": str(uuid.uuid4()), "token_id": str(uuid.uuid4()),
              "trigger_id": str(uuid.uuid4()), "schedule_id": str(uuid.uuid4()), "backup_id": str(uuid.uuid4()),
              "step": "compose"}  # fmt: skip
    schema = (await admin.get("/openapi.json")).json()
    operations = [
        (method, path) for path, item in schema["paths"].items() if path.startswith("/v1/") for method in item
    ]
    assert len(operations) >= 14
    for method, path in operations:
        body = {"ids": [admins_job["id"]]} if (method, path) in KEY_SERVICE_WRITES else {"inputs": {"name": "x"}}
        response = await key.request(method, path.format(**params), json=body)
        if (method, path) in KEY_SERVICE_WRITES:  # allowed, and each job decided on its own: not its job
            assert response.status_code == 200, (method, path, response.text)
            assert [r["status"] for r in response.json()["results"]] == ["not_found"]
            continue
        if (method, path) in KEY_SERVICE_READS:
            assert response.status_code == 200, (method, path, response.text)
            continue
        # A trigger's URL does not read the key as a credential: no such trigger, whoever asks.
        expected = (404, "not_found") if path.startswith(("/v1/jobs/{job_id}", "/v1/hooks/")) else (403, "forbidden")
        assert (response.status_code, response.json()["code"]) == expected, (method, path, response.text)
    job = (await admin.get(f"/v1/jobs/{admins_job['id']}")).json()
    assert job["status"] == "pending"  # not canceled, not touched
    assert [j["id"] for j in (await admin.get("/v1/jobs")).json()["items"]] == [admins_job["id"]]
    assert (await key.get("/v1/jobs")).json()["items"] == []


KEY_SERVICE_READS = {("get", "/v1/jobs"), ("get", "/v1/me"), ("get", "/v1/workspace")}
"""The operations without a workflow or job in the path that a key may call: listing its own jobs, saying who it
is and reading its workspace."""
KEY_SERVICE_WRITES = {("post", "/v1/jobs/delete")}
"""And those that change something: deleting its own jobs in bulk (each job checked as DELETE /v1/jobs/{id})."""


async def test_a_key_reads_its_workflow_but_not_its_secrets(
    connect: ClientFactory, admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """A key is a runner on its workflow, who may read what a viewer reads."""
    await deploy_workflow(admin, "greeter", GREETER)
    key = connect((await issue_key(admin, "greeter"))["key"])
    for path in ("", "/versions", "/versions/current", "/settings", "/env"):
        assert (await key.get(f"/v1/workflows/greeter{path}")).status_code == 200, path


async def test_a_key_cancels_its_own_job_but_not_anothers(
    connect: ClientFactory, admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    created = await issue_key(admin, "greeter")
    key = connect(created["key"])
    job = await submit(key, "greeter", {"name": "Ada"})
    assert (await key.get(f"/v1/jobs/{job['id']}/deliveries")).json() == {"items": []}
    admins = await submit(admin, "greeter", {"name": "Bo"})
    refused = await key.post(f"/v1/jobs/{admins['id']}/cancel")
    assert (refused.status_code, refused.json()["code"]) == (404, "not_found")
    assert (await admin.get(f"/v1/jobs/{admins['id']}")).json()["status"] == "pending"
    canceled = await key.post(f"/v1/jobs/{job['id']}/cancel")
    assert canceled.status_code == 200, canceled.text
    assert (await admin.get(f"/v1/jobs/{job['id']}")).json()["status"] == "canceled"
