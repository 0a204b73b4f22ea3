"""The audit sweep's world and, for every operation that changes something, a scenario: what it prepares, the call
it makes, and what the entries it writes must say (tests/audit/test_sweep.py)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import issue_key
from tests.audit.conftest import entries_since, last_entry_id
from tests.conftest import ClientFactory
from tests.deliveries.conftest import GREETER, submit_push, wait_for_delivery
from workflow_service.models import DEFAULT_WORKSPACE_ID

IDLE = "idle"
"""A pool no worker serves: a job submitted to it stays pending."""
CLIENT_ADDRESS = "127.0.0.1"
"""Where httpx's ASGI transport says the requests come from."""
OPERATOR = ("admin", "operator")


@dataclass(frozen=True)
class Caller:
    """A user (by a personal token) or an API key, with a client of its own."""

    kind: str
    """`user` or `key`."""
    id: str
    name: str
    """As entries record it: a user's email, a key's name."""
    client: httpx.AsyncClient

    @property
    def actor(self) -> tuple[str, str]:
        return f"{self.kind}:{self.id}", self.name


@dataclass(frozen=True)
class Call:
    """A request to make, by whom (None: the operator), and what its entries must name."""

    url: str
    body: dict[str, Any] | None = None
    workflow_id: str | Callable[[Any], str] | None = None
    """The workflow the entries concern: an id, one read from the response's body, or None (none)."""
    by: Caller | None = None
    entries: int = 1
    """How many entries it writes (one per job, for a bulk deletion)."""
    workspace_id: Callable[[Any], str] | None = None
    """The workspace whose log it goes in, read from the response's body; None: the default workspace."""
    target_is_response: bool = False
    """Its target is what the response is (a job made from another)."""

    def workflow_of(self, body: Any) -> str | None:
        return self.workflow_id(body) if callable(self.workflow_id) else self.workflow_id


@dataclass
class World:
    """A workflow `greeter` with push to a receiver, a workspace admin and a member, and the operator's client."""

    admin: httpx.AsyncClient
    connect: ClientFactory
    engine: AsyncEngine
    greeter_id: str
    manager: Caller
    member: Caller
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def job(self, client: httpx.AsyncClient | None = None, pool: str = IDLE) -> dict[str, Any]:
        """A job of greeter, left pending in a pool no worker serves."""
        response = await (client or self.admin).post(
            "/v1/workflows/greeter/versions/current/async", json={"inputs": {"name": "Ada"}, "pool": pool}
        )
        assert response.status_code == 202, response.text
        job: dict[str, Any] = response.json()
        return job

    async def person(self, role: str = "member") -> Caller:
        n = next(self.numbers)
        body = {"email": f"p{n}@example.com", "name": f"Person {n}", "role": role}
        added = await self.admin.post("/v1/users", json=body)
        assert added.status_code == 201, added.text
        made = added.json()
        return Caller("user", made["id"], made["email"], self.connect(made["token"]))

    async def call(
        self, method: str, call: Call, *, expect: int | None = None
    ) -> tuple[httpx.Response, list[Mapping[str, Any]]]:
        """Make the call with a request id of its own; its response and the entries written meanwhile."""
        before = await last_entry_id(self.engine)
        request_id = f"sweep-{next(self.numbers)}"
        client = self.admin if call.by is None else call.by.client
        response = await client.request(method, call.url, json=call.body, headers={"X-Request-Id": request_id})
        assert response.headers["X-Request-Id"] == request_id
        if expect is None:
            assert response.is_success, (method, call.url, response.text)
        else:
            assert response.status_code == expect, (method, call.url, response.text)
        return response, list(await entries_since(self.engine, before))


def assert_entry(entry: Mapping[str, Any], action: str, response: httpx.Response, call: Call) -> None:
    """One change's entry: its action and category, the caller, the request, and what it concerns."""
    assert (entry["action"], entry["category"]) == (action, action.partition(".")[0])
    assert (entry["actor"], entry["actor_name"]) == (OPERATOR if call.by is None else call.by.actor)
    assert entry["request_id"] == response.request.headers["X-Request-Id"]
    assert entry["client_address"] == CLIENT_ADDRESS
    json_body = response.content and response.headers["content-type"].endswith("json")  # not a zip
    body = response.json() if json_body else {}
    workspace = DEFAULT_WORKSPACE_ID if call.workspace_id is None else uuid.UUID(call.workspace_id(body))
    assert (entry["workspace_id"], entry["chain"]) == (workspace, str(workspace))
    workflow = call.workflow_of(body)
    assert entry["workflow_id"] == (None if workflow is None else uuid.UUID(workflow))
    assert entry["description"]
    if call.target_is_response:
        assert entry["target_id"] == body["id"]


Scenario = Callable[[World], Awaitable[Call]]


def simple(url: str, body: dict[str, Any] | None = None, *, on_greeter: bool = True) -> Scenario:
    """A call that needs nothing prepared, as the operator, on greeter (or on no workflow)."""

    async def make(w: World) -> Call:
        return Call(url, body, w.greeter_id if on_greeter else None)

    return make


async def created(w: World) -> Call:
    n = next(w.numbers)
    body = {"name": f"made {n}", "slug": f"made-{n}", "definition": GREETER}
    return Call("/v1/workflows", body, lambda made: str(made["id"]))


async def workflow_deleted(w: World) -> Call:
    n = next(w.numbers)
    made = await w.admin.post("/v1/workflows", json={"name": f"doomed {n}", "definition": GREETER})
    assert made.status_code == 201, made.text
    return Call(f"/v1/workflows/{made.json()['id']}", None, str(made.json()["id"]))


async def env_deleted(w: World) -> Call:
    assert (await w.admin.put("/v1/workflows/greeter/env/GONE", json={"value": "soon"})).status_code == 201
    return Call("/v1/workflows/greeter/env/GONE", None, w.greeter_id)


async def key_revoked(w: World) -> Call:
    key = await issue_key(w.admin, "greeter", "to revoke")
    return Call(f"/v1/workflows/greeter/api-keys/{key['id']}", None, w.greeter_id)


def on_job(suffix: str, body: dict[str, Any] | None = None, *, answers_job: bool = True) -> Scenario:
    """A call on a fresh pending job (`suffix` after its URL); with `answers_job`, the response is the job acted
    on (or made), which the entry names."""

    async def make(w: World) -> Call:
        job = await w.job()
        return Call(f"/v1/jobs/{job['id']}{suffix}", body, w.greeter_id, target_is_response=answers_job)

    return make


async def started(w: World) -> Call:
    source = await w.job()
    made = await w.admin.post(f"/v1/jobs/{source['id']}/duplicate", json={"start": False, "name": "later"})
    assert made.status_code == 201, made.text
    return Call(f"/v1/jobs/{made.json()['id']}/start", None, w.greeter_id, target_is_response=True)


async def redelivered(w: World) -> Call:
    job = await submit_push(w.admin)
    await wait_for_delivery(w.admin, job["id"], "succeeded")
    return Call(f"/v1/jobs/{job['id']}/deliveries/redeliver", None, w.greeter_id)


async def bulk_deleted(w: World) -> Call:
    ids = [(await w.job())["id"], (await w.job())["id"], str(uuid.uuid4())]
    return Call("/v1/jobs/delete", {"ids": ids}, w.greeter_id, entries=2)


async def workspace_created(w: World) -> Call:
    n = next(w.numbers)
    body = {"slug": f"team-{n}", "name": f"Team {n}", "owner": {"email": f"owner{n}@example.com", "name": "Owner"}}
    return Call("/v1/workspaces", body, workspace_id=lambda made: str(made["workspace"]["id"]))


async def token_created(w: World) -> Call:
    return Call("/v1/me/tokens", {"name": "laptop"}, by=w.manager)


async def token_revoked(w: World) -> Call:
    made = await w.manager.client.post("/v1/me/tokens", json={"name": "old laptop"})
    assert made.status_code == 201, made.text
    return Call(f"/v1/me/tokens/{made.json()['id']}", by=w.manager)


async def member_added(w: World) -> Call:
    n = next(w.numbers)
    return Call("/v1/users", {"email": f"new{n}@example.com", "name": "New", "role": "member"})


async def member_changed(w: World) -> Call:
    return Call(f"/v1/users/{(await w.person()).id}", {"role": "admin"})


async def member_removed(w: World) -> Call:
    return Call(f"/v1/users/{(await w.person()).name}")


async def user_token_revoked(w: World) -> Call:
    person = await w.person()
    [token] = (await w.admin.get(f"/v1/users/{person.id}/tokens")).json()["items"]
    return Call(f"/v1/users/{person.id}/tokens/{token['id']}")


async def shared(w: World) -> Call:
    return Call(f"/v1/workflows/greeter/members/{(await w.person()).id}", {"role": "runner"}, w.greeter_id)


async def unshared(w: World) -> Call:
    person = await w.person()
    invited = await w.admin.put(f"/v1/workflows/greeter/members/{person.id}", json={"role": "viewer"})
    assert invited.status_code == 201, invited.text
    return Call(f"/v1/workflows/greeter/members/{person.id}", None, w.greeter_id)


TRIGGER = {"type": "webhook", "name": "greetings", "auth": "bearer", "mapping": {"inputs": "{{ event }}"}}
"""A trigger of greeter (a bearer one: its token is stored hashed, so the sweep's service needs no secret key)."""


async def trigger_of_greeter(w: World) -> dict[str, Any]:
    made = await w.admin.post("/v1/workflows/greeter/triggers", json=TRIGGER)
    assert made.status_code == 201, made.text
    trigger: dict[str, Any] = made.json()
    return trigger


def on_trigger(suffix: str, body: dict[str, Any] | None = None, *, paused: bool = False) -> Scenario:
    """A call on a fresh trigger of greeter (`suffix` after its URL); `paused`: paused first."""

    async def make(w: World) -> Call:
        url = f"/v1/workflows/greeter/triggers/{(await trigger_of_greeter(w))['id']}"
        if paused:
            assert (await w.admin.post(f"{url}/pause")).status_code == 200
        return Call(f"{url}{suffix}", body, w.greeter_id)

    return make


HOURLY = {"interval": 3600, "inputs": {"name": "Ada"}}
"""A schedule of greeter that runs nothing during a test."""


async def schedule_of(w: World, *, paused: bool = False) -> str:
    """A fresh hourly schedule of greeter (paused if asked): its URL."""
    made = await w.admin.post("/v1/workflows/greeter/schedules", json=HOURLY)
    assert made.status_code == 201, made.text
    url = f"/v1/workflows/greeter/schedules/{made.json()['id']}"
    if paused:
        assert (await w.admin.post(f"{url}/pause")).status_code == 200
    return url


def on_schedule(suffix: str, body: dict[str, Any] | None = None, *, paused: bool = False) -> Scenario:
    """A call on a fresh schedule of greeter (`suffix` after its URL)."""

    async def make(w: World) -> Call:
        return Call(f"{await schedule_of(w, paused=paused)}{suffix}", body, w.greeter_id)

    return make
