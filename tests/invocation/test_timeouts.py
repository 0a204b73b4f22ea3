"""Job, step and queue timeouts: each fails the job with its own error code and stops the running
step; when the workflow's and a step's limits both apply, the workflow's wins."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import WorkerFactory, eventually, wait_for_job
from tests.invocation.conftest import (
    GREETER,
    deploy,
    events,
    http_step,
    http_workflow,
    invoke,
    patch_settings,
)
from tests.servers import EchoServer
from workflow_service.agents import service as agents
from workflow_service.core.clock import utcnow
from workflow_service.jobs import repository as jobs_repo


def now() -> float:
    return asyncio.get_running_loop().time()


def seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def ran(record: dict[str, Any]) -> float:
    """How long the job or step ran, by its own record: from its start to its end, without the time it
    waited in the queue or the test took to see the end (those depend on how busy the machine is)."""
    return seconds(record["started_at"], record["finished_at"])


async def run_to_end(
    client: httpx.AsyncClient, start_worker: WorkerFactory, definition: dict[str, Any], wait_s: float = 10.0
) -> dict[str, Any]:
    """Deploy, run one job on a one-job worker, return the ended job."""
    await deploy(client, "timed", definition)
    await deploy(client, "greeter", GREETER)
    await start_worker(concurrency=1)
    job_id = (await invoke(client, "timed", "async", {"inputs": {}})).json()["id"]
    job = await wait_for_job(client, job_id, wait_s=wait_s)
    # The worker runs one job at a time, and the slow step's request is held until the test ends: the next
    # job runs only if the timed-out step stopped.
    other = (await invoke(client, "greeter", "async")).json()["id"]
    assert (await wait_for_job(client, other, wait_s=wait_s))["status"] == "completed"
    return job


def two_slow_steps(echo_server: EchoServer, **slow: Any) -> list[dict[str, Any]]:
    """A step whose request the echo server holds until the test ends, then one that is never reached."""
    return [http_step("slow", f"{echo_server.url}/hold", **slow), http_step("next", f"{echo_server.url}/next")]


async def test_the_workflow_timeout_fails_the_job_with_job_timeout_and_stops_the_step(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    job = await run_to_end(client, start_worker, http_workflow(*two_slow_steps(echo_server), timeout_s=1))

    assert job["status"] == "failed"
    assert job["error"]["code"] == "job_timeout"
    assert job["error"]["step"] == "slow"
    assert 0.9 <= ran(job) < 1.5, ran(job)
    assert [(s["id"], s["status"], s["error"]["code"]) for s in job["steps"]] == [("slow", "failed", "job_timeout")]
    assert [r.path for r in echo_server.requests] == ["/hold"]


async def test_a_step_timeout_fails_the_job_with_step_timeout(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    job = await run_to_end(client, start_worker, http_workflow(*two_slow_steps(echo_server, timeout_s=0.5)))

    assert job["status"] == "failed"
    assert job["error"]["code"] == "step_timeout"
    assert job["error"]["step"] == "slow"
    assert ran(job["steps"][0]) >= 0.5, job["steps"]  # stopped at its limit ...
    assert ran(job) < 1.2, ran(job)  # ... and at once
    assert [(s["id"], s["status"], s["error"]["code"]) for s in job["steps"]] == [("slow", "failed", "step_timeout")]
    assert [r.path for r in echo_server.requests] == ["/hold"]


async def test_a_step_timeout_applies_to_any_step_type(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    """The step limit holds even when the step itself would have waited longer (the HTTP client's own
    timeout is the step's, but the executor enforces it for every step)."""
    steps = [http_step("slow", f"{echo_server.url}/hold", timeout_s=0.4)]
    job = await run_to_end(client, start_worker, http_workflow(*steps, timeout_s=60))

    assert (job["status"], job["error"]["code"]) == ("failed", "step_timeout")
    assert ran(job["steps"][0]) >= 0.4, job["steps"]  # stopped at its limit ...
    assert ran(job) < 1.2, ran(job)  # ... and at once


@pytest.mark.parametrize(("workflow_s", "step_s"), [(1, 3), (1, 1)])
async def test_when_both_limits_apply_the_workflow_timeout_wins(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer, workflow_s: float, step_s: float
) -> None:
    definition = http_workflow(*two_slow_steps(echo_server, timeout_s=step_s), timeout_s=workflow_s)
    job = await run_to_end(client, start_worker, definition)

    assert job["status"] == "failed"
    assert job["error"]["code"] == "job_timeout"
    assert job["steps"][0]["error"]["code"] == "job_timeout"
    assert ran(job) < workflow_s + 0.6, ran(job)


async def test_a_step_limit_tighter_than_the_workflow_limit_ends_the_step_first(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    definition = http_workflow(*two_slow_steps(echo_server, timeout_s=0.5), timeout_s=3)
    job = await run_to_end(client, start_worker, definition)

    assert (job["status"], job["error"]["code"]) == ("failed", "step_timeout")
    assert ran(job["steps"][0]) >= 0.5, job["steps"]  # stopped at its limit ...
    assert ran(job) < 1.2, ran(job)  # ... and at once


async def test_a_job_nobody_claims_in_time_fails_with_queue_timeout(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy(client, "greeter", GREETER)
    assert (await patch_settings(client, "greeter", {"queue_timeout_s": 0.5}))["queue_timeout_s"] == 0.5
    await start_worker(pools=("default",), reconcile_interval_s=0.2)  # runs a reconciler, not the job's pool

    started = now()
    response = await invoke(
        client, "greeter", "sync", {"inputs": {"name": "Ada"}, "pool": "nobody"}, headers={"Prefer": "wait=5"}
    )
    took = now() - started

    assert response.status_code == 200, response.text  # the sync waiter hears of the end too
    job = response.json()
    assert job["status"] == "failed"
    assert job["error"]["code"] == "queue_timeout"
    assert job["steps"] == []
    assert job["started_at"] is None
    assert 0.5 <= took < 1.5, took
    history = await events(client, job["id"])
    assert [(e["from_status"], e["to_status"], e["actor"], e["reason"]) for e in history[1:]] == [
        ("pending", "failed", "reconciler", "queue_timeout")
    ]


async def test_a_job_claimed_in_time_is_not_affected_by_the_queue_timeout(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    await deploy(client, "slowish", http_workflow(http_step("slow", f"{echo_server.url}/hold")))
    await patch_settings(client, "slowish", {"queue_timeout_s": 1.0})
    await start_worker(reconcile_interval_s=0.1)

    job_id = (await invoke(client, "slowish", "async", {"inputs": {}})).json()["id"]
    running = await wait_for_job(client, job_id, ("running", "failed"), wait_s=10)
    assert running["status"] == "running", running  # claimed in time
    await eventually(lambda: echo_server.requests, what="the step to call the echo server")
    # The step is held until the queue deadline is well behind (ten reconciler passes), then let go.
    past_deadline = seconds(running["created_at"], utcnow().isoformat()) - 1.0
    await asyncio.sleep(max(0.0, 1.0 - past_deadline))
    assert (await client.get(f"/v1/jobs/{job_id}")).json()["status"] == "running"
    echo_server.release()
    job = await wait_for_job(client, job_id, wait_s=10)

    assert job["status"] == "completed", job
    assert all(e["reason"] != "queue_timeout" for e in await events(client, job_id))


async def test_without_a_queue_timeout_a_pending_job_waits(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy(client, "greeter", GREETER)
    await patch_settings(client, "greeter", {"queue_timeout_s": 0.3})
    assert (await patch_settings(client, "greeter", {"queue_timeout_s": None}))["queue_timeout_s"] is None
    await start_worker(pools=("default",), reconcile_interval_s=0.1)

    response = await invoke(client, "greeter", "sync", {"inputs": {"name": "Ada"}, "pool": "nobody"},
                            headers={"Prefer": "wait=1"})  # fmt: skip

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"


async def test_a_job_retried_after_its_agent_died_is_not_failed_by_the_queue_timeout(
    client: httpx.AsyncClient, start_worker: WorkerFactory, engine: AsyncEngine
) -> None:
    """The queue timeout is about the first claim: a job claimed in time whose agent then stopped
    responding goes back to pending and runs again, even though its queue deadline has passed."""
    await deploy(client, "greeter", GREETER)
    await patch_settings(client, "greeter", {"queue_timeout_s": 0.3})
    job_id = uuid.UUID((await invoke(client, "greeter", "async")).json()["id"])
    lost_agent = await agents.register(engine, ("default",))
    claimed_at = utcnow()
    async with engine.begin() as conn:  # an agent claims it in time, then dies: its lease runs out
        request = jobs_repo.ClaimRequest(
            agent_id=lost_agent,
            actor=f"agent:{lost_agent}",
            pools=("default",),
            now=claimed_at,
            lease_until=claimed_at + timedelta(seconds=0.5),
        )
        claimed = await jobs_repo.claim(conn, job_id, request)
    assert claimed is not None

    await start_worker(reconcile_interval_s=0.1)  # its reconciler finds the expired lease
    job = await wait_for_job(client, str(job_id), wait_s=5)

    assert job["status"] == "completed", job["error"]
    assert job["attempt"] == 2
    history = [(e["to_status"], e["actor"]) for e in await events(client, str(job_id))]
    assert ("pending", "reconciler") in history
    assert all(reason != "queue_timeout" for reason in [e["reason"] for e in await events(client, str(job_id))])
