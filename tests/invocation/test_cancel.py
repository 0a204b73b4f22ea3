"""POST /v1/jobs/{id}/cancel: a pending job at once; a running one interrupted mid-step within 2 s (by
the pub/sub message, or by the heartbeat when that message is lost); 409 for an ended job; 404 for
an unknown one, leaving nothing behind."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import WorkerFactory, eventually, wait_for_job
from tests.invocation.conftest import (
    GREETER,
    count_rows,
    deploy,
    events,
    http_step,
    http_workflow,
    invoke,
    job_in_status,
    list_jobs,
)
from tests.servers import EchoServer
from tests.workflows.conftest import assert_problem
from workflow_service.core.notify import CANCEL, RedisNotifier

SLOW_S = 5.0


def now() -> float:
    return asyncio.get_running_loop().time()


async def cancel(client: httpx.AsyncClient, job_id: str) -> httpx.Response:
    return await client.post(f"/v1/jobs/{job_id}/cancel")


async def test_a_pending_job_is_canceled_at_once(client: httpx.AsyncClient, start_worker: WorkerFactory) -> None:
    await deploy(client, "greeter", GREETER)
    job_id = (await invoke(client, "greeter", "async")).json()["id"]  # no worker yet: it stays pending

    response = await cancel(client, job_id)

    assert response.status_code == 200, response.text
    job = response.json()
    assert job["status"] == "canceled"
    assert job["error"]["code"] == "canceled"
    assert job["finished_at"] is not None
    assert (await client.get(f"/v1/jobs/{job_id}")).json() == job
    history = await events(client, job_id)
    assert [(e["from_status"], e["to_status"]) for e in history] == [(None, "pending"), ("pending", "canceled")]
    assert history[-1]["actor"] == "admin"

    # A worker that starts later takes the queued message but must not run the canceled job.
    await start_worker()
    later = (await invoke(client, "greeter", "async")).json()["id"]
    assert (await wait_for_job(client, later))["status"] == "completed"
    after = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert after["status"] == "canceled"
    assert after["steps"] == []
    assert len(await events(client, job_id)) == 2


async def _start_a_running_job(client: httpx.AsyncClient, echo_server: EchoServer) -> str:
    """A job whose first step is waiting on /slow/5, with a second step after it."""
    definition = http_workflow(
        http_step("slow", f"{echo_server.url}/slow/{SLOW_S:g}"), http_step("next", f"{echo_server.url}/next")
    )
    await deploy(client, "two-steps", definition)
    await deploy(client, "greeter", GREETER)
    job_id: str = (await invoke(client, "two-steps", "async", {"inputs": {}})).json()["id"]
    await eventually(lambda: any(r.path.startswith("/slow/") for r in echo_server.requests), what="the slow request")
    assert await job_in_status(client, job_id, "running")
    return job_id


async def _assert_stopped_promptly(
    client: httpx.AsyncClient,
    echo_server: EchoServer,
    job_id: str,
    caplog: pytest.LogCaptureFixture,
    watch_for_next_step: bool = True,
) -> None:
    """Cancel the running job and check that its step was interrupted, not waited for."""
    acknowledged = now()
    response = await cancel(client, job_id)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "canceled"

    # The worker runs one job at a time: another job only runs once the canceled one has really stopped.
    other = (await invoke(client, "greeter", "async")).json()["id"]
    done = await wait_for_job(client, other, wait_s=2.0)
    assert done["status"] == "completed"
    assert now() - acknowledged < 2.0
    assert any(f"job {job_id}: canceled while running; stopped" in r.getMessage() for r in caplog.records)

    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "canceled"
    assert [(s["id"], s["status"], s["error"]["code"]) for s in job["steps"]] == [("slow", "failed", "canceled")]
    assert [e["to_status"] for e in await events(client, job_id)][-1] == "canceled"

    assert [r.path for r in echo_server.requests if r.path == "/next"] == []
    if not watch_for_next_step:
        return
    # Nothing starts after the cancel: wait until the slow answer would have arrived, then look again.
    await asyncio.sleep(SLOW_S - (now() - acknowledged) + 0.5)
    assert [r.path for r in echo_server.requests if r.path == "/next"] == []
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "canceled"
    assert [s["id"] for s in job["steps"]] == ["slow"]


async def test_a_running_job_is_interrupted_mid_step(
    client: httpx.AsyncClient,
    start_worker: WorkerFactory,
    echo_server: EchoServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="workflow_service.jobs.run")
    await start_worker(concurrency=1)
    job_id = await _start_a_running_job(client, echo_server)

    await _assert_stopped_promptly(client, echo_server, job_id, caplog)


async def test_the_heartbeat_stops_a_canceled_job_when_the_message_is_lost(
    client: httpx.AsyncClient,
    start_worker: WorkerFactory,
    echo_server: EchoServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, logger="workflow_service.jobs.run")
    dropped: list[str] = []
    real_publish = RedisNotifier._publish

    async def lossy_publish(self: RedisNotifier, channel: str, job_ids: list[uuid.UUID]) -> None:
        if channel == CANCEL:
            dropped.extend(map(str, job_ids))
            return
        await real_publish(self, channel, job_ids)

    monkeypatch.setattr(RedisNotifier, "_publish", lossy_publish)
    await start_worker(concurrency=1, heartbeat_s=0.3)
    job_id = await _start_a_running_job(client, echo_server)

    await _assert_stopped_promptly(client, echo_server, job_id, caplog, watch_for_next_step=False)
    assert dropped == [job_id]


@pytest.mark.parametrize("status", ["completed", "failed", "canceled"])
async def test_canceling_an_ended_job_is_a_409_with_its_status(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer, status: str
) -> None:
    url = f"{echo_server.url}/status/500" if status == "failed" else f"{echo_server.url}/ok"
    await deploy(client, "one-step", http_workflow(http_step("call", url)))
    if status == "canceled":
        job_id = (await invoke(client, "one-step", "async", {"inputs": {}})).json()["id"]
        assert (await cancel(client, job_id)).status_code == 200
    else:
        await start_worker()
        job_id = (await invoke(client, "one-step", "sync", {"inputs": {}})).json()["id"]
    before = await client.get(f"/v1/jobs/{job_id}")
    assert before.json()["status"] == status
    history = await events(client, job_id)

    response = await cancel(client, job_id)

    body = assert_problem(response, 409, "job_ended")
    assert body["job_status"] == status
    assert status in body["detail"]
    assert (await client.get(f"/v1/jobs/{job_id}")).json() == before.json()
    assert await events(client, job_id) == history


async def test_canceling_an_unknown_job_is_a_404_and_leaves_no_trace(
    client: httpx.AsyncClient,
    start_worker: WorkerFactory,
    engine: AsyncEngine,
    redis_client: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    announced: list[Any] = []
    real_publish = RedisNotifier._publish

    async def spy(self: RedisNotifier, channel: str, job_ids: list[uuid.UUID]) -> None:
        announced.extend((channel, str(job)) for job in job_ids)
        await real_publish(self, channel, job_ids)

    monkeypatch.setattr(RedisNotifier, "_publish", spy)
    keys_before = set(await redis_client.keys("*"))

    for job_id in ("0192f1c2-7b8e-7c3d-9a4f-5e6d7c8b9a01", "not-a-job", "0" * 40, "123", "%20"):
        assert_problem(await cancel(client, job_id), 404, "not_found")

    assert await count_rows(engine, "job") == 0
    assert await count_rows(engine, "job_event") == 0
    assert announced == []
    assert set(await redis_client.keys("*")) == keys_before

    # A job submitted afterwards runs normally, and can itself be canceled only once.
    await deploy(client, "greeter", GREETER)
    await start_worker()
    later = (await invoke(client, "greeter", "async")).json()["id"]
    assert (await wait_for_job(client, later))["status"] == "completed"
    assert "canceled" not in [e["to_status"] for e in await events(client, later)]
    assert announced == [("wfs:jobs:ended", later)]


@pytest.mark.parametrize("running", [False, True])
async def test_a_sync_waiter_answers_200_with_the_canceled_job(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer, running: bool
) -> None:
    await deploy(client, "slowish", http_workflow(http_step("slow", f"{echo_server.url}/slow/3")))
    if running:
        await start_worker()
    waiting = asyncio.create_task(invoke(client, "slowish", "sync", {"inputs": {}}))
    job_id = (await eventually(lambda: list_jobs(client, "slowish"), what="the job"))[0]["id"]
    if running:
        await eventually(lambda: job_in_status(client, job_id, "running"), what="the job to run")

    canceled_at = now()
    assert (await cancel(client, job_id)).status_code == 200
    response = await asyncio.wait_for(waiting, 1.0)  # woken by the cancel, not by the 2 s safety poll

    assert now() - canceled_at < 1.0
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "canceled"
    assert response.json()["error"]["code"] == "canceled"
