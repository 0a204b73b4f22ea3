"""Following a job through the API (over ASGI, on PostgreSQL and Redis): who may read a job's stream, what
a stream of an ended job holds, and the long poll's cap."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.apikeys.conftest import issue_key
from tests.conftest import TOKEN, ClientFactory, WorkerFactory, connections, eventually, wait_for_job
from tests.invocation.conftest import GREETER, http_step, http_workflow
from tests.jobs.conftest import deploy_workflow, submit
from tests.jobs.events.conftest import Received, events_of, receive, summary
from tests.servers import EchoServer
from tests.workflows.conftest import assert_problem
from workflow_service.config import Settings

ENDED_GREETER = [
    ("status", "pending"),
    ("status", "claimed"),
    ("status", "running"),
    ("step.started", "compose"),
    ("step.ended", "compose"),
    ("status", "validating"),
    ("status", "uploading"),
    ("status", "completed"),
]


async def test_a_stream_is_read_by_whoever_may_read_the_job(
    connect: ClientFactory, admin: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    await deploy_workflow(admin, "other", GREETER)
    await start_worker()
    key = connect((await issue_key(admin, "greeter"))["key"])
    stranger = connect((await issue_key(admin, "other"))["key"])
    own = await submit(key, "greeter", {"name": "Ada"})
    admins = await submit(admin, "greeter", {"name": "Ada"})
    for job in (own, admins):
        await wait_for_job(admin, job["id"])

    for reader in (key, admin):  # the submitter, and the admin
        received: list[Received] = []
        response = await receive(reader, own["id"], received)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert summary(received) == ENDED_GREETER
    compose_ended = events_of(received)[4].data
    assert compose_ended == {
        "step": "compose",
        "type": "transform",
        "attempt": 1,
        "status": "completed",
        "at": compose_ended["at"],
        "error": None,
    }
    for reader, job_id in ((stranger, own["id"]), (key, admins["id"]), (admin, "0193c2a4-5f7e-7c3a-9d61-2b8f4e0a1c55")):
        refused = await reader.get(f"/v1/jobs/{job_id}/events", headers={"Accept": "text/event-stream"})
        assert_problem(refused, 404, "not_found")
    # Without asking for the stream: the history, as before.
    history = await key.get(f"/v1/jobs/{own['id']}/events")
    assert [e["to_status"] for e in history.json()["items"]] == [s for kind, s in ENDED_GREETER if kind == "status"]


async def _step_started(client: httpx.AsyncClient, job_id: str) -> bool:
    return bool((await client.get(f"/v1/jobs/{job_id}")).json()["steps"])


async def test_a_job_canceled_mid_step_ends_its_stream_with_the_step_failed_then_the_job_canceled(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    await deploy_workflow(client, "sleeper", http_workflow(http_step("nap", f"{echo_server.url}/slow/5")))
    await start_worker()
    job_id = (await submit(client, "sleeper"))["id"]
    await wait_for_job(client, job_id, ("running",))
    await eventually(lambda: _step_started(client, job_id), "the step's start")  # mid-step, not just claimed
    assert (await client.post(f"/v1/jobs/{job_id}/cancel")).status_code == 200
    received: list[Received] = []
    await receive(client, job_id, received)
    assert summary(received) == [
        ("status", "pending"),
        ("status", "claimed"),
        ("status", "running"),
        ("step.started", "nap"),
        ("step.ended", "nap"),
        ("status", "canceled"),
    ]
    nap_ended: dict[str, Any] = events_of(received)[4].data
    assert (nap_ended["status"], nap_ended["error"]["code"]) == ("failed", "canceled")


async def test_a_long_poll_waits_at_most_the_configured_cap(settings: Settings) -> None:
    async with connections(settings.model_copy(update={"long_poll_max_s": 1})) as connect:
        client = connect(TOKEN)
        await deploy_workflow(client, "greeter", GREETER)
        job = await submit(client, "greeter", {"name": "Ada"}, pool="nobody")
        loop = asyncio.get_running_loop()
        asked = loop.time()
        capped = await client.get(f"/v1/jobs/{job['id']}", headers={"Prefer": "respond-async, wait=30"})
        assert 0.9 < loop.time() - asked < 3
        assert capped.headers["Preference-Applied"] == "wait=1"
        assert capped.json()["status"] == "pending"
        asked = loop.time()
        at_once = await client.get(f"/v1/jobs/{job['id']}", headers={"Prefer": "wait=0"})
        assert at_once.headers["Preference-Applied"] == "wait=0"
        unknown = await client.get("/v1/jobs/0193c2a4-5f7e-7c3a-9d61-2b8f4e0a1c55", headers={"Prefer": "wait=1"})
        not_an_id = await client.get("/v1/jobs/nope", headers={"Prefer": "wait=1"})
        assert loop.time() - asked < 0.5  # none of these waits
        assert_problem(unknown, 404, "not_found")
        assert_problem(not_an_id, 404, "not_found")
