"""The sync endpoint: 200 with the ended job, 202 + Location when the wait runs out (the job keeps
running), `Prefer: wait=N`, the workflow's sync timeout, and how completion reaches the waiter."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.conftest import BASE_URL, REDIS_URL, WorkerFactory, eventually, wait_for_job
from tests.invocation.conftest import (
    ADA,
    GREETER,
    deploy,
    events,
    http_step,
    http_workflow,
    invoke,
    job_in_status,
    list_jobs,
    patch_settings,
)
from tests.isolation import redis_database
from tests.servers import EchoServer
from tests.workflows.conftest import assert_problem
from workflow_service.core.notify import ENDED, Notifier, scoped
from workflow_service.jobs import service as jobs_service


def now() -> float:
    return asyncio.get_running_loop().time()


async def test_sync_answers_200_with_the_full_completed_job(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy(client, "greeter", GREETER)
    await start_worker()

    response = await invoke(client, "greeter", "sync")

    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "completed"
    assert job["output"] == {"greeting": "Hello, Ada!"}
    assert job["inputs"] == {"name": "Ada"}
    assert [(s["id"], s["status"]) for s in job["steps"]] == [("compose", "completed")]
    assert response.headers["Location"] == f"{BASE_URL}/v1/jobs/{job['id']}"
    assert "Preference-Applied" not in response.headers
    assert "Idempotent-Replayed" not in response.headers
    assert job == (await client.get(f"/v1/jobs/{job['id']}")).json()  # the full resource, as GET shows it


async def test_sync_answers_200_with_a_failed_job_too(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    await deploy(client, "failing", http_workflow(http_step("call", f"{echo_server.url}/status/400")))
    await start_worker()

    response = await invoke(client, "failing", "sync", {"inputs": {}})

    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "failed"
    assert job["error"]["code"] == "http_status"
    assert job["error"]["step"] == "call"
    assert job["steps"][0]["status"] == "failed"


async def test_prefer_wait_gives_202_with_location_and_the_job_keeps_running(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    await deploy(client, "slow", http_workflow(http_step("slow", f"{echo_server.url}/slow/3")))
    await start_worker()

    started = now()
    response = await invoke(client, "slow", "sync", {"inputs": {}}, headers={"Prefer": "wait=1"})
    took = now() - started

    assert response.status_code == 202, response.text
    assert 0.9 <= took < 2.0, took
    assert response.headers["Preference-Applied"] == "wait=1"
    job = response.json()
    assert response.headers["Location"] == f"{BASE_URL}/v1/jobs/{job['id']}"
    assert job["status"] in ("pending", "claimed", "running")
    done = await wait_for_job(client, job["id"], wait_s=5)
    assert done["status"] == "completed"
    assert done["steps"][0]["output"]["status_code"] == 200
    assert all(e["to_status"] != "canceled" for e in await events(client, job["id"]))


PREFERENCES = [
    ("wait=5", "wait=5"),
    ("respond-async, wait=7", "wait=7"),
    ("handling=lenient; WAIT=9", "wait=9"),
    ("wait=1000", "wait=180"),  # never longer than the workflow's sync timeout (default 180 s)
    ("wait=soon", None),  # not a number: ignored
    ("wait=-1", None),
    ("respond-async", None),
]


async def test_preference_applied_says_what_wait_was_used(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy(client, "greeter", GREETER)
    await start_worker()

    for prefer, applied in PREFERENCES:
        response = await invoke(client, "greeter", "sync", headers={"Prefer": prefer})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "completed"
        assert response.headers.get("Preference-Applied") == applied, prefer


async def test_the_workflow_sync_timeout_caps_the_preferred_wait(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy(client, "greeter", GREETER)
    assert (await patch_settings(client, "greeter", {"sync_timeout_s": 60}))["sync_timeout_s"] == 60
    await start_worker()

    response = await invoke(client, "greeter", "sync", headers={"Prefer": "wait=120"})

    assert response.status_code == 200, response.text
    assert response.headers["Preference-Applied"] == "wait=60"


async def test_prefer_wait_0_answers_at_once_with_the_pending_job(client: httpx.AsyncClient) -> None:
    await deploy(client, "greeter", GREETER)  # no worker: the job stays pending

    response = await invoke(client, "greeter", "sync", headers={"Prefer": "wait=0"})

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    assert response.headers["Location"] == f"{BASE_URL}/v1/jobs/{response.json()['id']}"
    assert response.headers["Preference-Applied"] == "wait=0"


async def test_sync_timeout_outside_60_to_300_is_a_422(client: httpx.AsyncClient) -> None:
    await deploy(client, "greeter", GREETER)
    refused: list[tuple[Any, str]] = [
        (59, "invalid_request"), (301, "invalid_request"), (0, "invalid_request"), ("soon", "invalid_request"),
        (None, "invalid_request"),
    ]  # fmt: skip

    for value, code in refused:
        response = await client.patch("/v1/workflows/greeter/settings", json={"sync_timeout_s": value})
        body = assert_problem(response, 422, code)
        assert [e["path"] for e in body["errors"]] == ["$.sync_timeout_s"], body

    assert (await client.get("/v1/workflows/greeter/settings")).json()["sync_timeout_s"] == 180


async def test_sync_timeout_accepts_60_to_300_and_defaults_to_180(client: httpx.AsyncClient) -> None:
    await deploy(client, "greeter", GREETER)
    assert (await client.get("/v1/workflows/greeter/settings")).json()["sync_timeout_s"] == 180
    for value in (60, 300, 181):
        assert (await patch_settings(client, "greeter", {"sync_timeout_s": value}))["sync_timeout_s"] == value
        assert (await client.get("/v1/workflows/greeter/settings")).json()["sync_timeout_s"] == value


async def test_completion_reaches_the_waiter_through_the_notifier(
    client: httpx.AsyncClient,
    start_worker: WorkerFactory,
    echo_server: EchoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The job ends ~1 s after submission; the notice must answer the waiter, not the safety poll (pushed out
    to 30 s here, so that a busy machine cannot blur the two), and the waiter must not have read the job in a
    loop meanwhile."""
    monkeypatch.setattr(jobs_service, "WAIT_POLL_S", 30.0)
    await deploy(client, "slowish", http_workflow(http_step("slow", f"{echo_server.url}/slow/1")))
    await start_worker()
    reads: list[str] = []
    real_get = jobs_service.get

    async def counting_get(conn: Any, job_id: str, **options: Any) -> Any:
        reads.append(job_id)
        return await real_get(conn, job_id, **options)

    monkeypatch.setattr(jobs_service, "get", counting_get)

    started = now()
    response = await invoke(client, "slowish", "sync", {"inputs": {}})
    took = now() - started

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    assert 1.0 <= took < 10, f"answered after {took:.2f} s"
    assert len(reads) <= 2, f"the waiter read the job {len(reads)} times"


async def test_a_lost_notification_is_covered_by_the_safety_poll(
    client: httpx.AsyncClient,
    start_worker: WorkerFactory,
    echo_server: EchoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await deploy(client, "slowish", http_workflow(http_step("slow", f"{echo_server.url}/slow/0.5")))
    await start_worker()
    attempts: list[str] = []

    async def broken_publish(self: Any, channel: str, message: Any) -> int:
        attempts.append(channel)
        raise ConnectionError("Redis is unreachable (test)")

    monkeypatch.setattr(aioredis.Redis, "publish", broken_publish)

    started = now()
    response = await invoke(client, "slowish", "sync", {"inputs": {}})
    took = now() - started

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed"
    assert scoped(ENDED, redis_database(REDIS_URL)) in attempts  # the worker tried to announce the end; lost
    assert 1.9 <= took < 3.5, f"answered after {took:.2f} s; the safety poll runs every 2 s"


async def test_a_client_that_disconnects_does_not_cancel_the_job(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    await deploy(client, "slowish", http_workflow(http_step("slow", f"{echo_server.url}/slow/1.5")))
    await start_worker()

    request = asyncio.create_task(invoke(client, "slowish", "sync", {"inputs": {}}))
    listed = await eventually(lambda: list_jobs(client, "slowish"), what="the job to be stored")
    job_id = listed[0]["id"]
    await eventually(lambda: job_in_status(client, job_id, "running"), what="the job to run")
    request.cancel()  # the client goes away mid-wait
    with pytest.raises(asyncio.CancelledError):
        await request

    done = await wait_for_job(client, job_id, wait_s=5)
    assert done["status"] == "completed"
    assert [e["to_status"] for e in await events(client, job_id)][-1] == "completed"
    assert [r.path for r in echo_server.requests] == ["/slow/1.5"]


async def test_a_job_that_never_starts_still_answers_202_after_the_wait(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait ends when asked (1 s), not at the waiter's next read of the job (pushed out to 30 s here, so that
    a busy machine cannot blur the two)."""
    monkeypatch.setattr(jobs_service, "WAIT_POLL_S", 30.0)
    await deploy(client, "greeter", GREETER)  # no worker

    started = now()
    response = await invoke(client, "greeter", "sync", ADA, headers={"Prefer": "wait=1"})

    assert response.status_code == 202, response.text
    assert 0.9 <= now() - started < 10
    assert response.json()["status"] == "pending"


async def test_the_in_process_notifier_wakes_watchers_and_runs_cancel_handlers() -> None:
    """The embedded mode's notifier: the same contract without Redis."""
    notifier = Notifier()
    job_id, other = uuid.uuid4(), uuid.uuid4()
    canceled: list[uuid.UUID] = []

    async def failing(_: uuid.UUID) -> None:
        raise RuntimeError("a broken handler must not stop the others")

    async def record(job: uuid.UUID) -> None:
        canceled.append(job)

    notifier.on_cancel(failing)
    notifier.on_cancel(record)
    async with notifier.watch(job_id) as ended, notifier.watch(job_id) as ended_too:
        await notifier.job_ended(other)
        assert not ended.is_set()
        await notifier.job_ended(job_id)
        assert ended.is_set()
        assert ended_too.is_set()
    assert not notifier._waiters  # watchers are removed when they stop watching
    await notifier.cancel_job(job_id)
    assert canceled == [job_id]


async def test_concurrent_sync_waiters_each_get_their_own_job(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    """Two sync waiters in flight at once each get their own job's answer."""
    await deploy(client, "slowish", http_workflow(http_step("slow", f"{echo_server.url}/slow/{{{{ inputs.s }}}}")))
    await start_worker()

    fast, slow = await asyncio.gather(
        invoke(client, "slowish", "sync", {"inputs": {"s": 0.3}}),
        invoke(client, "slowish", "sync", {"inputs": {"s": 1}}),
    )

    assert fast.status_code == slow.status_code == 200
    assert fast.json()["inputs"] == {"s": 0.3}
    assert slow.json()["inputs"] == {"s": 1}
    assert fast.json()["status"] == slow.json()["status"] == "completed"
