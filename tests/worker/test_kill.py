"""Worker processes as a user runs them: real `workflow-service worker` subprocesses, killed for real."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import DATABASE_URL, REDIS_URL, eventually, wait_for_job
from tests.servers import CLI, EchoServer, Process, clean_env, start_process


class Workers:
    """Spawns worker processes with short leases so crash recovery is quick to observe."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[Process] = []

    def spawn(self, name: str, *extra: str) -> Process:
        env = clean_env(
            WFS_DATABASE_URL=DATABASE_URL,
            WFS_REDIS_URL=REDIS_URL,
            WFS_LEASE_S="3",
            WFS_HEARTBEAT_S="1",
            WFS_RECONCILE_INTERVAL_S="0.5",
            WFS_OUTBOUND_ALLOWLIST="127.0.0.1",
            WFS_LOG_LEVEL="WARNING",
        )
        proc = start_process([CLI, "worker", "--name", name, "--concurrency", "4", *extra], env, self.logs / name)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop()
            print(f"worker {proc.stdout.parent.name}:\n{proc.output()}")  # shown when the test fails


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    w = Workers(tmp_path)
    yield w
    w.stop_all()


async def _agent(client: httpx.AsyncClient, name: str, wait_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        agents = (await client.get("/v1/agents")).json()["items"]
        for agent in agents:
            if agent["name"] == name:
                return dict(agent)
        await asyncio.sleep(0.1)
    raise AssertionError(f"agent {name} never registered")


async def _deploy_slow_workflow(client: httpx.AsyncClient, echo: EchoServer) -> None:
    definition = {
        "steps": [
            {
                "id": "wait",
                "type": "http",
                "method": "POST",
                "url": f"{echo.url}/hold",  # until the test releases it: the step runs as long as it needs
                "json": {"n": "{{ inputs.n }}"},
            },
            {
                "id": "done",
                "type": "transform",
                "output": {"n": "{{ inputs.n }}", "status": "{{ steps.wait.output.status_code }}"},
            },
        ]
    }
    assert (await client.post("/v1/workflows", json={"name": "slow", "definition": definition})).status_code == 201
    assert (await client.post("/v1/workflows/slow/deploy")).status_code == 201


@pytest.mark.slow
async def test_a_job_survives_its_worker_being_killed(
    engine: AsyncEngine, client: httpx.AsyncClient, echo_server: EchoServer, workers: Workers
) -> None:
    await _deploy_slow_workflow(client, echo_server)
    first = workers.spawn("first")
    first_agent = await _agent(client, "first")
    job_id = (await client.post("/v1/workflows/slow/versions/current/async", json={"inputs": {"n": 7}})).json()["id"]
    running = await wait_for_job(client, job_id, ("running",), wait_s=15)
    assert running["agent_id"] == first_agent["id"]

    workers.spawn("second")
    second_agent = await _agent(client, "second")
    await eventually(lambda: echo_server.requests, what="the first worker's step to call the echo server")
    first.popen.send_signal(signal.SIGKILL)  # mid-step: its request is held until now
    killed_at = time.monotonic()
    echo_server.release()

    job = await wait_for_job(client, job_id, ("completed", "failed"), wait_s=30)
    assert time.monotonic() - killed_at < 30
    assert job["status"] == "completed", job
    assert job["output"] == {"n": 7, "status": 200}
    assert job["attempt"] == 2
    assert job["agent_id"] == second_agent["id"]
    events = (await client.get(f"/v1/jobs/{job_id}/events")).json()["items"]
    retry = [e for e in events if e["from_status"] == "running" and e["to_status"] == "pending"]
    assert len(retry) == 1
    assert retry[0]["actor"] == "reconciler"
    assert [e["to_status"] for e in events].count("completed") == 1
    agents = {a["name"]: a for a in (await client.get("/v1/agents")).json()["items"]}
    assert agents["second"]["status"] == "online"
    assert agents["first"]["last_heartbeat_at"] < agents["second"]["last_heartbeat_at"]


@pytest.mark.slow
async def test_sigterm_stops_a_worker_cleanly(engine: AsyncEngine, client: httpx.AsyncClient, workers: Workers) -> None:
    proc = workers.spawn("polite")
    await _agent(client, "polite")
    proc.popen.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.popen.wait, 15) == 0
    agent = await _agent(client, "polite")
    assert agent["status"] == "stopped"


GREETER = {
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "steps": [{"id": "compose", "type": "transform", "output": {"text": "Hello, {{ inputs.name }}!"}}],
    "output": {"greeting": "{{ steps.compose.output.text }}"},
}


@pytest.mark.slow
async def test_a_worker_killed_between_taking_a_message_and_claiming_the_job_does_not_strand_it(
    engine: AsyncEngine, client: httpx.AsyncClient, redis_client: Any, workers: Workers
) -> None:
    """arq has taken the message (its in-progress key is set, for arq's seven-day job timeout) but the
    database claim never commits: the job is pending, and only the reconciler can wake it again."""
    assert (await client.post("/v1/workflows", json={"name": "greeter", "definition": GREETER})).status_code == 201
    assert (await client.post("/v1/workflows/greeter/deploy")).status_code == 201
    job_id = (
        await client.post("/v1/workflows/greeter/versions/current/async", json={"inputs": {"name": "Ada"}})
    ).json()["id"]
    in_progress = f"arq:in-progress:{job_id}"

    # The test holds the job's row, so the doomed worker's claim waits, after arq handed it the message.
    locker = await asyncpg.connect(DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        lock = locker.transaction()
        await lock.start()
        await locker.execute("SELECT 1 FROM job WHERE id = $1 FOR UPDATE", uuid.UUID(job_id))
        doomed = workers.spawn("doomed")

        async def claim_waiting() -> bool:
            await locker.execute("SELECT pg_stat_clear_snapshot()")  # a transaction sees one snapshot of it
            waiting = await locker.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE '%UPDATE job SET status%'"
            )
            return bool(waiting) and bool(await redis_client.exists(in_progress))

        await eventually(claim_waiting, "the doomed worker taking the message and waiting in its claim", wait_s=20.0)
        doomed.popen.send_signal(signal.SIGKILL)
        await asyncio.to_thread(doomed.popen.wait, 10)
        killed_at = time.monotonic()
        # Its claim dies with it (as it would have had the kill come a moment earlier): never committed.
        await locker.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        await lock.rollback()
    finally:
        await locker.close()
    assert (await client.get(f"/v1/jobs/{job_id}")).json()["status"] == "pending"
    assert await redis_client.exists(in_progress)  # arq would keep the dead worker's message for days

    workers.spawn("survivor")
    survivor = await _agent(client, "survivor")
    job = await wait_for_job(client, job_id, ("completed", "failed"), wait_s=30)
    assert time.monotonic() - killed_at < 30
    assert job["status"] == "completed", job
    assert job["output"] == {"greeting": "Hello, Ada!"}
    assert job["agent_id"] == survivor["id"]
    events = (await client.get(f"/v1/jobs/{job_id}/events")).json()["items"]
    assert [e["to_status"] for e in events].count("running") == 1  # one claim: the survivor's
