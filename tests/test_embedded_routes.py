"""Every mutating route of the embedded mode (SQLite, in-process worker), once, against a real
`workflow-service dev` process: each answers at once with its documented status. On SQLite a
transaction holds the database's only write lock, so a route that opened a second connection while its
request's transaction was open would wait out the 30 s busy timeout and answer 500 "database is locked",
with every other request queued behind it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.deliveries.conftest import WebhookReceiver
from tests.packages.importing import package
from tests.test_embedded import Service, admin_client, embedded, finished

PROMPT_S = 5.0
"""Well above what any of these routes takes on SQLite, far below the 30 s busy timeout."""

GREETER = {
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "steps": [
        {"id": "compose", "type": "transform", "output": {"text": "Hello, {{ inputs.name }}!"}},
        {"id": "shout", "type": "transform", "output": "{{ steps.compose.output.text | upper }}"},
    ],
    "output": {"greeting": "{{ steps.shout.output }}"},
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with embedded(tmp_path_factory.mktemp("embedded-routes")) as svc:
        yield svc


@pytest.fixture
async def api(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    # The client waits longer than SQLite's busy timeout, so a locked route shows as its 500, not a client timeout.
    async with admin_client(service, request_timeout_s=45) as client:
        yield client


class Calls:
    """Makes each call, checks its status and that it answered promptly, and lists what was called."""

    def __init__(self, api: httpx.AsyncClient, service: Service) -> None:
        self.api, self.service = api, service
        self.called: set[tuple[str, str]] = set()

    async def __call__(self, expected: int, method: str, route: str, url: str, **kwargs: Any) -> httpx.Response:
        client: httpx.AsyncClient = kwargs.pop("client", self.api)
        started = time.monotonic()
        response = await client.request(method, url, **kwargs)
        took = time.monotonic() - started
        assert response.status_code == expected, (
            f"{method} {url}: {response.status_code} {response.text}\n{self.service.output()}"
        )
        assert took < PROMPT_S, f"{method} {url} took {took:.1f} s"
        self.called.add((method, route))
        return response


def mutating_routes() -> set[tuple[str, str]]:
    from pydantic import SecretStr

    from workflow_service.app import create_app
    from workflow_service.config import Settings

    schema = create_app(Settings(admin_token=SecretStr("unused"))).openapi()
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("post", "put", "patch", "delete")
    }


async def test_every_mutating_route_answers_promptly_on_sqlite(
    api: httpx.AsyncClient, service: Service, receiver: WebhookReceiver
) -> None:
    call = Calls(api, service)
    w = "/v1/workflows/{workflow}"
    await call(201, "POST", "/v1/workflows", "/v1/workflows", json={"name": "Routes", "definition": GREETER})
    await call(200, "PUT", f"{w}/draft", "/v1/workflows/routes/draft", json={"definition": GREETER})
    await call(200, "POST", f"{w}/validate", "/v1/workflows/routes/validate")
    zipped = {"package": ("routes.zip", package(GREETER), "application/zip")}
    await call(201, "POST", "/v1/workflows/import", "/v1/workflows/import", files=zipped, data={"slug": "imported"})
    backed_up = {"backup": "true", "on_conflict": "keep"}
    await call(200, "POST", f"{w}/import", "/v1/workflows/routes/import", files=zipped, data=backed_up)
    await call(201, "POST", f"{w}/deploy", "/v1/workflows/routes/deploy")
    push = {"push": {"enabled": True, "callback_url": receiver.url, "access_token": "t0ken"}}
    enabled = await call(200, "PATCH", f"{w}/settings", "/v1/workflows/routes/settings", json=push)
    rotated = await call(
        200, "POST", f"{w}/settings/rotate-signing-secret", "/v1/workflows/routes/settings/rotate-signing-secret"
    )
    receiver.secrets = [enabled.json()["signing_secret"], rotated.json()["signing_secret"]]
    env_route = f"{w}/env/{{name}}"
    await call(201, "PUT", env_route, "/v1/workflows/routes/env/REGION", json={"value": "eu"})
    await call(204, "DELETE", env_route, "/v1/workflows/routes/env/REGION")
    await _schedule_routes(call, api)

    keys = f"{w}/api-keys"
    key = (await call(201, "POST", keys, "/v1/workflows/routes/api-keys", json={"name": "shop"})).json()
    invoke = f"{w}/versions/{{version}}"
    body = {"inputs": {"name": "Ada"}}
    # A key authenticates in its own short transaction before the route's: both on the one SQLite lock.
    async with httpx.AsyncClient(
        base_url=service.url, headers={"Authorization": f"Bearer {key['key']}"}, timeout=45
    ) as as_key:
        by_key = await call(
            202, "POST", f"{invoke}/async", "/v1/workflows/routes/versions/current/async", json=body, client=as_key
        )
        assert (await finished(as_key, by_key.json()["id"]))["status"] == "completed"
    await call(204, "DELETE", f"{keys}/{{key_id}}", f"/v1/workflows/routes/api-keys/{key['id']}")

    sync = await call(200, "POST", f"{invoke}/sync", "/v1/workflows/routes/versions/1/sync", json=body)
    assert sync.json()["output"] == {"greeting": "HELLO, ADA!"}
    await call(200, "POST", f"{invoke}/estimate", "/v1/workflows/routes/versions/1/estimate", json=body)
    pushed = await call(202, "POST", f"{invoke}/push", "/v1/workflows/routes/versions/current/push", json=body)
    source = await finished(api, pushed.json()["id"])
    [first] = await receiver.wait_for(1)
    assert first.json()["data"]["id"] == source["id"]
    assert first.verified_by

    job = "/v1/jobs/{job_id}"
    await call(201, "POST", f"{job}/rerun", f"/v1/jobs/{source['id']}/rerun")
    await call(201, "POST", f"{job}/run-from-step", f"/v1/jobs/{source['id']}/run-from-step", json={"step": "shout"})
    kept = await call(201, "POST", f"{job}/duplicate", f"/v1/jobs/{source['id']}/duplicate", json={"start": False})
    await call(200, "POST", f"{job}/start", f"/v1/jobs/{kept.json()['id']}/start")
    waiting = (await api.post(f"/v1/jobs/{source['id']}/duplicate", json={"start": False})).json()
    canceled = await call(200, "POST", f"{job}/cancel", f"/v1/jobs/{waiting['id']}/cancel")
    assert canceled.json()["status"] == "canceled"

    # Redeliver while submissions keep the database busy: it answers at once, and so do they.
    async def submit(i: int) -> str:
        url = "/v1/workflows/routes/versions/current/async"
        response = await call(202, "POST", f"{invoke}/async", url, json={"inputs": {"name": f"n{i}"}})
        job_id: str = response.json()["id"]
        return job_id

    submissions = [asyncio.create_task(submit(i)) for i in range(20)]
    redelivered = await call(
        201, "POST", f"{job}/deliveries/redeliver", f"/v1/jobs/{source['id']}/deliveries/redeliver"
    )
    assert redelivered.json()["trigger"] == "redeliver"
    assert redelivered.json()["status_code"] == 204
    ids = await asyncio.gather(*submissions)
    for job_id in ids:
        assert (await finished(api, job_id))["status"] == "completed"
    again = [r for r in receiver.requests if r.webhook_id == first.webhook_id]
    assert len(again) == 2
    assert again[1].verified_by

    renamed = await call(200, "PATCH", job, f"/v1/jobs/{source['id']}", json={"name": "first"})
    assert renamed.json()["name"] == "first"
    await call(204, "DELETE", job, f"/v1/jobs/{kept.json()['id']}")
    bulk = await call(200, "POST", "/v1/jobs/delete", "/v1/jobs/delete", json={"ids": ids[:5]})
    assert [r["status"] for r in bulk.json()["results"]] == ["deleted"] * 5
    await _people_routes(call, service)
    await _trigger_routes(call, service)
    await api.post(f"/v1/jobs/{source['id']}/duplicate", json={"start": False})  # a `new` job: not ended
    refused = await call(409, "DELETE", w, "/v1/workflows/routes")
    assert refused.json()["active_jobs"] == 1
    await call(204, "DELETE", w, "/v1/workflows/routes?cancel_active=true")
    assert (await api.get("/v1/jobs", params={"scope": "all"})).json()["items"] == []
    assert call.called == mutating_routes()  # every mutating route was called


async def _trigger_routes(call: Calls, service: Service) -> None:
    """A webhook trigger of `routes`: made, changed, paused and resumed, its secret rotated, an event posted to it
    (signed, by a sender with no credential of the service) and again, then deleted."""
    t = "/v1/workflows/{workflow}/triggers"
    mapping = {"inputs": {"name": "{{ event.who }}"}}
    made = await call(
        201, "POST", t, "/v1/workflows/routes/triggers", json={"type": "webhook", "name": "e", "mapping": mapping}
    )
    url = f"/v1/workflows/routes/triggers/{made.json()['id']}"
    await call(200, "PATCH", f"{t}/{{trigger_id}}", url, json={"name": "events"})
    await call(200, "POST", f"{t}/{{trigger_id}}/pause", f"{url}/pause")
    await call(200, "POST", f"{t}/{{trigger_id}}/resume", f"{url}/resume")
    secret = (await call(200, "POST", f"{t}/{{trigger_id}}/rotate-secret", f"{url}/rotate-secret")).json()["secret"]
    body = b'{"who": "Lin"}'
    now = datetime.now(UTC)
    signed = {
        "content-type": "application/json",
        "webhook-id": "evt_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign("evt_1", now, body),
    }
    async with httpx.AsyncClient(base_url=service.url, timeout=45) as sender:
        hook = made.json()["url"].removeprefix(service.url)
        accepted = await call(202, "POST", "/v1/hooks/{trigger_id}", hook, content=body, headers=signed, client=sender)
        again = await call(200, "POST", "/v1/hooks/{trigger_id}", hook, content=body, headers=signed, client=sender)
    assert again.json()["job_id"] == accepted.json()["job_id"]
    assert (await finished(call.api, accepted.json()["job_id"]))["output"] == {"greeting": "HELLO, LIN!"}
    await call(204, "DELETE", f"{t}/{{trigger_id}}", url)


async def _schedule_routes(call: Calls, api: httpx.AsyncClient) -> None:
    """A per-second schedule that the service's own worker fires, then its changes, pause, resume, backfill."""
    route, url = "/v1/workflows/{workflow}/schedules", "/v1/workflows/routes/schedules"
    body = {"interval": 1, "inputs": {"name": "Ada"}, "overlap": "allow_all"}
    made = (await call(201, "POST", route, url, json=body)).json()
    one, at = f"{route}/{{schedule_id}}", f"{url}/{made['id']}"
    deadline = time.monotonic() + 15
    while not [f for f in (await api.get(at)).json()["recent"] if f["job_status"] == "completed"]:
        assert time.monotonic() < deadline, "no scheduled job completed"
        await asyncio.sleep(0.1)
    await call(200, "PATCH", one, at, json={"description": "every second"})
    await call(200, "POST", f"{one}/pause", f"{at}/pause")
    await call(200, "POST", f"{one}/resume", f"{at}/resume")
    backfill = {"from": "2026-06-01T00:00:00Z", "to": "2026-06-01T00:00:02Z"}
    await call(200, "POST", f"{one}/backfill", f"{at}/backfill", json=backfill)
    await call(204, "DELETE", one, at)


async def _people_routes(call: Calls, service: Service) -> None:
    """Workspaces, users, their tokens and sharing: the operator in the default workspace, and a user."""
    owner = {"email": "ada@example.com", "name": "Ada"}
    await call(201, "POST", "/v1/workspaces", "/v1/workspaces", json={"slug": "acme", "name": "Acme", "owner": owner})
    await call(200, "PATCH", "/v1/workspace", "/v1/workspace", json={"retention_days": 30})
    bo = (await call(201, "POST", "/v1/users", "/v1/users", json={"email": "bo@example.com", "name": "Bo"})).json()
    user = "/v1/users/{user_id}"
    await call(200, "PATCH", user, f"/v1/users/{bo['id']}", json={"role": "admin"})
    await call(200, "PATCH", user, f"/v1/users/{bo['id']}", json={"role": "member"})
    members = "/v1/workflows/{workflow}/members/{user_id}"
    await call(201, "PUT", members, f"/v1/workflows/routes/members/{bo['id']}", json={"role": "runner"})
    async with httpx.AsyncClient(
        base_url=service.url, headers={"Authorization": f"Bearer {bo['token']}"}, timeout=45
    ) as as_bo:
        laptop = (
            await call(201, "POST", "/v1/me/tokens", "/v1/me/tokens", json={"name": "laptop"}, client=as_bo)
        ).json()
        await call(204, "DELETE", "/v1/me/tokens/{token_id}", f"/v1/me/tokens/{laptop['id']}", client=as_bo)
        [first] = [t for t in (await as_bo.get("/v1/me/tokens")).json()["items"] if t["name"] == "initial"]
    await call(204, "DELETE", f"{user}/tokens/{{token_id}}", f"/v1/users/{bo['id']}/tokens/{first['id']}")
    await call(204, "DELETE", members, f"/v1/workflows/routes/members/{bo['id']}")
    await call(204, "DELETE", user, f"/v1/users/{bo['id']}")
