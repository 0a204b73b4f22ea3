"""Liveness of running jobs, through in-process arq workers on the real database and Redis.

- a heartbeat keeps alive only the jobs its worker is running at that moment;
- a dropped database connection is an infrastructure error: the job is retried, never failed;
- an unexpected error (even in the final write) ends the job `failed` with a clean `internal_error`,
  and the worker goes on;
- the reconciler ends a job past its own timeout even when a stuck worker keeps its lease alive;
- the reconciler's wake-up replaces a stale arq message; duplicates are harmless.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.conftest import DATABASE_URL, REDIS_URL, WorkerFactory, eventually, wait_for_job
from tests.jobs.conftest import GREETER, create_jobs, deploy_workflow, submit
from tests.servers import EchoServer
from workflow_service.core.clock import utcnow
from workflow_service.core.dispatch import ArqDispatcher, queue_name
from workflow_service.engine.executor import Outcome
from workflow_service.jobs import repository
from workflow_service.jobs.repository import job_t
from workflow_service.jobs.run import claim as claiming
from workflow_service.jobs.run.claim import Claim
from workflow_service.jobs.run.finish import Finisher
from workflow_service.jobs.states import JobStatus

S = JobStatus
FAST_LEASES = {"lease_s": 2.0, "heartbeat_s": 0.5, "reconcile_interval_s": 0.3}
PG_DSN = DATABASE_URL.replace("postgresql+asyncpg://", "postgresql://", 1)


async def the_agent(client: httpx.AsyncClient) -> dict[str, Any]:
    """The one worker's agent."""

    async def one() -> dict[str, Any] | None:
        items = (await client.get("/v1/agents")).json()["items"]
        return dict(items[0]) if len(items) == 1 else None

    agent: dict[str, Any] = await eventually(one, "the worker registering", wait_s=15.0)
    return agent


async def events(client: httpx.AsyncClient, job_id: str | uuid.UUID) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await client.get(f"/v1/jobs/{job_id}/events")).json()["items"]
    return items


async def wake(job_id: uuid.UUID, attempt: int = 0) -> None:
    """What submit does after its commit: one arq message for the job."""
    dispatcher = await ArqDispatcher.connect(REDIS_URL)
    try:
        await dispatcher.enqueue(job_id, "default", attempt)
    finally:
        await dispatcher.close()


# --- heartbeats ---------------------------------------------------------------------------------------


async def test_a_job_left_behind_on_a_live_worker_is_not_kept_alive_by_its_heartbeat(
    engine: AsyncEngine, client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    (job_id,) = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    await start_worker(**FAST_LEASES)
    agent_id = uuid.UUID((await the_agent(client))["id"])
    # Assigned to the live worker's agent, but not running there (as an attempt whose error escaped was).
    async with engine.begin() as conn:
        now = utcnow()
        values = {"attempt": 1, "agent_id": agent_id, "lease_expires_at": now + timedelta(seconds=2), "started_at": now}
        won = await repository.transition(
            conn, job_id, repository.Move([S.PENDING, S.CLAIMED, S.RUNNING], f"agent:{agent_id}", values=values)
        )
    assert won is not None

    job = await wait_for_job(client, str(job_id), ("completed", "failed"), wait_s=15)

    assert job["status"] == "completed", job
    assert job["output"] == {"greeting": "Hello, Ada!"}
    assert job["attempt"] == 2
    retries = [e for e in await events(client, job_id) if (e["from_status"], e["to_status"]) == ("running", "pending")]
    assert len(retries) == 1, retries
    assert retries[0]["actor"] == "reconciler"


# --- unexpected errors --------------------------------------------------------------------------------

ECHO_NAME: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "steps": [{"id": "compose", "type": "transform", "output": {"text": "Hello, {{ inputs.name }}!"}}],
    "output": {"greeting": "{{ steps.compose.output.text }}"},
}


@pytest.fixture
def refused_results(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """The database refuses to store any result that contains "poison" (a value PostgreSQL will not take):
    the final write raises a DataError whose text carries the SQL statement, its parameters and the value.
    Returns the errors raised."""
    real_finish = repository.finish
    raised: list[BaseException] = []

    async def finish(conn: AsyncConnection, job_id: uuid.UUID, end: repository.Finish, **kwargs: Any) -> Any:
        if b"poison" in orjson.dumps([end.output, [r.as_row() for r in end.records]], default=str):
            try:
                await conn.execute(sa.text("SELECT CAST(CAST(:value AS text) AS integer)"), {"value": "poison"})
            except Exception as exc:
                raised.append(exc)
                raise
        return await real_finish(conn, job_id, end, **kwargs)

    monkeypatch.setattr(repository, "finish", finish)
    return raised


async def test_a_refused_final_write_fails_the_job_with_a_clean_internal_error_and_the_worker_goes_on(
    engine: AsyncEngine, client: httpx.AsyncClient, start_worker: WorkerFactory, refused_results: list[BaseException]
) -> None:
    await deploy_workflow(client, "echo", ECHO_NAME)
    await start_worker(**FAST_LEASES)
    agent = await the_agent(client)
    submitted = await client.post("/v1/workflows/echo/versions/current/async", json={"inputs": {"name": "poison"}})
    job_id = submitted.json()["id"]

    job = await wait_for_job(client, job_id, ("completed", "failed"), wait_s=15)

    assert job["status"] == "failed", job
    assert job["attempt"] == 1  # ended by its worker at once, not by a lease running out
    error = job["error"]
    assert error["code"] == "internal_error"
    assert error["message"].startswith("unexpected error: a database statement failed")
    (refused,) = refused_results
    assert "poison" in str(refused)  # what the database said quotes the value...
    driver_error = refused.orig.__cause__  # type: ignore[attr-defined]  # asyncpg's, under SQLAlchemy's
    assert f"({type(driver_error).__name__}, SQLSTATE {driver_error.sqlstate})" in error["message"]
    for leak in ("SELECT", "CAST", "poison", "[SQL", "parameters", job_id):  # ...the job's error does not
        assert leak not in error["message"], error
    assert job["output"] is None
    last = (await events(client, job_id))[-1]
    assert (last["to_status"], last["actor"]) == ("failed", f"agent:{agent['id']}")

    # The worker is unharmed: it keeps heartbeating and runs the next job.
    heartbeat = agent["last_heartbeat_at"]
    other = (await client.post("/v1/workflows/echo/versions/current/async", json={"inputs": {"name": "Ada"}})).json()
    done = await wait_for_job(client, other["id"], ("completed", "failed"), wait_s=15)
    assert done["status"] == "completed", done
    assert done["output"] == {"greeting": "Hello, Ada!"}
    assert done["agent_id"] == agent["id"]

    async def beating() -> bool:
        return bool((await the_agent(client))["last_heartbeat_at"] > heartbeat)

    await eventually(beating, "a later heartbeat", wait_s=15.0)


async def test_an_unexpected_error_preparing_a_claimed_job_fails_it_with_internal_error(
    engine: AsyncEngine, client: httpx.AsyncClient, start_worker: WorkerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def plan_for(*args: Any) -> Any:  # e.g. a stored definition this code can no longer compile
        raise RuntimeError("the definition cannot be compiled")

    monkeypatch.setattr(claiming, "plan_for", plan_for)
    await deploy_workflow(client, "echo", ECHO_NAME)
    await start_worker(**FAST_LEASES)
    job_id = (await client.post("/v1/workflows/echo/versions/current/async", json={"inputs": {"name": "Ada"}})).json()[
        "id"
    ]

    job = await wait_for_job(client, job_id, ("completed", "failed"), wait_s=15)

    assert job["status"] == "failed", job
    assert job["attempt"] == 1
    assert job["error"] == {
        "code": "internal_error",
        "message": "unexpected error: RuntimeError: the definition cannot be compiled",
        "step": None,
    }


# --- database connection errors -----------------------------------------------------------------------

CALL_THEN_COMPOSE: dict[str, Any] = {
    "input_schema": {"type": "object"},
    "steps": [
        {"id": "call", "type": "http", "method": "POST", "url": "{{ inputs.url }}", "json": {"n": 1}},
        {"id": "compose", "type": "transform", "output": {"status": "{{ steps.call.output.status_code }}"}},
    ],
    "output": "{{ steps.compose.output }}",
}

BLOCKED_STATEMENT = {
    # what the test holds, so that the worker's statement waits on it; how to recognise that statement
    "claim": ("SELECT 1 FROM job WHERE id = $1 FOR UPDATE", "%UPDATE job SET status%"),
    "checkpoint": (
        "INSERT INTO job_step (job_id, step_id, position, type, status, attempt, started_at) "
        "VALUES ($1, 'call', 0, 'http', 'running', 0, now())",
        "%INSERT INTO job_step%",
    ),
    "finish": (
        "INSERT INTO job_step (job_id, step_id, position, type, status, attempt, started_at) "
        "VALUES ($1, 'compose', 1, 'transform', 'running', 0, now())",
        "%jsonb_to_recordset%",
    ),
}


@pytest.fixture
async def locker() -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(PG_DSN)
    yield conn
    await conn.close()


@pytest.mark.parametrize("statement", sorted(BLOCKED_STATEMENT))
async def test_a_connection_the_database_terminates_is_retried_never_failed(
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    start_worker: WorkerFactory,
    echo_server: EchoServer,
    locker: asyncpg.Connection,
    statement: str,
) -> None:
    """The database ends the worker's connection in the middle of its claim, a step's checkpoint or the
    job's final write ('terminating connection due to administrator command', as in a restart)."""
    (job_id,) = await create_jobs(engine, CALL_THEN_COMPOSE, inputs={"url": f"{echo_server.url}/ok"})
    await start_worker(requeue_after_s=120.0, **FAST_LEASES)  # no reconciler wake-up comes to the rescue
    hold, pattern = BLOCKED_STATEMENT[statement]
    lock = locker.transaction()
    await lock.start()
    await locker.execute(hold, job_id)
    await wake(job_id)

    async def waiting_pids() -> list[int]:
        await locker.execute("SELECT pg_stat_clear_snapshot()")  # a transaction sees one snapshot of it
        rows = await locker.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND pid <> pg_backend_pid() AND query LIKE $1",
            pattern,
        )
        return [r["pid"] for r in rows]

    pids = await eventually(waiting_pids, f"the worker's {statement} waiting", wait_s=15.0)
    for pid in pids:
        assert await locker.fetchval("SELECT pg_terminate_backend($1)", pid)
    await lock.rollback()

    job = await wait_for_job(client, str(job_id), ("completed", "failed"), wait_s=20)

    assert job["status"] == "completed", job
    assert job["output"] == {"status": 200}
    assert job["error"] is None


# --- the reconciler and timeouts ----------------------------------------------------------------------


@pytest.fixture
def stuck_final_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker stuck in a job's final write: it never returns, and the worker keeps heartbeating."""

    async def finish(self: Finisher, claim: Claim, outcome: Outcome) -> str | None:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    monkeypatch.setattr(Finisher, "finish", finish)


async def _job(engine: AsyncEngine, job_id: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(job_t).where(job_t.c.id == uuid.UUID(job_id)))).one()


@pytest.mark.usefixtures("stuck_final_write")
@pytest.mark.parametrize("mode", ["async", "sync", "push"])
async def test_a_job_its_stuck_worker_never_ends_is_failed_by_the_reconciler_at_its_own_timeout(
    engine: AsyncEngine, client: httpx.AsyncClient, start_worker: WorkerFactory, mode: str
) -> None:
    timeout_s = 600.0 if mode == "push" else 1.0
    await deploy_workflow(client, "stuck", {**ECHO_NAME, "timeout_s": timeout_s})
    if mode == "push":
        push = {"enabled": True, "callback_url": "http://127.0.0.1:9/callback", "access_token": "tok"}
        assert (await client.patch("/v1/workflows/stuck/settings", json={"push": push})).status_code == 200
    await start_worker(**FAST_LEASES)
    url = f"/v1/workflows/stuck/versions/current/{mode}"
    body = {"inputs": {"name": "Ada"}}
    waiter: asyncio.Task[httpx.Response] | None = None
    if mode == "sync":
        waiter = asyncio.create_task(client.post(url, json=body))  # waits for the end (up to 180 s)

        async def submitted() -> str | None:
            items = (await client.get("/v1/jobs")).json()["items"]
            return str(items[0]["id"]) if items else None

        job_id = await eventually(submitted, "the sync job being stored", wait_s=15.0)
    else:
        response = await client.post(url, json=body)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
    await wait_for_job(client, job_id, ("running",), wait_s=10)
    row = await _job(engine, job_id)
    assert row.run_deadline_at == min(
        row.started_at + timedelta(seconds=timeout_s), row.deadline_at or row.started_at + timedelta(days=1)
    )
    if mode == "push":  # the push timeout (60 s at least) runs out: as if that long had passed
        async with engine.begin() as conn:
            past = utcnow() - timedelta(seconds=1)
            await conn.execute(job_t.update().where(job_t.c.id == row.id).values(deadline_at=past,
                                                                                  run_deadline_at=past))  # fmt: skip

    if waiter is not None:
        response = await asyncio.wait_for(waiter, 20)
        assert response.status_code == 200, response.text
    job = await wait_for_job(client, job_id, ("completed", "failed"), wait_s=20)

    assert job["status"] == "failed", job
    assert job["error"]["code"] == ("push_timeout" if mode == "push" else "job_timeout")
    assert (await _job(engine, job_id)).lease_expires_at is None
    ended = (await events(client, job_id))[-1]
    assert (ended["from_status"], ended["to_status"], ended["actor"]) == ("running", "failed", "reconciler")
    if waiter is not None:
        assert response.json()["status"] == "failed"
    if mode == "push":
        async with engine.connect() as conn:
            deliveries = (await conn.execute(sa.text("SELECT count(*) FROM delivery WHERE job_id = :j"),
                                             {"j": row.id})).scalar_one()  # fmt: skip
        assert deliveries == 1


# --- waking jobs: the database is the judge -------------------------------------------------------------


async def test_submit_enqueues_once_and_the_reconcilers_wake_up_replaces_a_stale_message(
    redis_client: aioredis.Redis, engine: AsyncEngine
) -> None:
    job_id = uuid.uuid4()
    message = str(job_id)  # one message per job, whatever its attempt
    dispatcher = await ArqDispatcher.connect(REDIS_URL)
    try:
        await dispatcher.enqueue(job_id, "default", 0)
        first_score = await redis_client.zscore(queue_name("default"), message)
        await dispatcher.enqueue(job_id, "default", 0)  # submit's dedupe: the same message is not queued twice
        assert await redis_client.zcard(queue_name("default")) == 1
        assert await redis_client.zscore(queue_name("default"), message) == first_score

        # A worker took it (arq's in-progress key) and died before claiming: every worker would skip it.
        await redis_client.set(f"arq:in-progress:{message}", b"1", px=7 * 86400 * 1000)
        await dispatcher.enqueue(job_id, "default", 0)
        assert await redis_client.exists(f"arq:in-progress:{message}")

        await asyncio.sleep(0.01)
        await dispatcher.enqueue_many([(job_id, "default", 0)], replace=True)
        assert not await redis_client.exists(f"arq:in-progress:{message}")
        assert await redis_client.exists(f"arq:job:{message}")
        assert await redis_client.zcard(queue_name("default")) == 1
        assert (await redis_client.zscore(queue_name("default"), message) or 0) > (first_score or 0)
        # The retry of a later attempt replaces the same message too: nothing is left of the one before.
        await redis_client.set(f"arq:in-progress:{message}", b"1", px=7 * 86400 * 1000)
        await dispatcher.enqueue_many([(job_id, "default", 1)], replace=True)
        assert not await redis_client.exists(f"arq:in-progress:{message}")
        assert await redis_client.zrange(queue_name("default"), 0, -1) == [message.encode()]
    finally:
        await dispatcher.close()


async def test_messages_stranded_in_progress_by_dead_workers_never_block_the_queue(
    engine: AsyncEngine, client: httpx.AsyncClient, redis_client: aioredis.Redis, start_worker: WorkerFactory
) -> None:
    """arq reads only the first due messages of a queue on each poll and skips those marked in progress.
    Messages that dead workers left in progress after their jobs ended sit at the head of the queue; with
    enough of them no worker would ever reach the messages behind them."""
    assert (await client.post("/v1/workflows", json={"name": "greeter", "definition": GREETER})).status_code == 201
    assert (await client.post("/v1/workflows/greeter/deploy")).status_code == 201
    ended = []
    for _ in range(3):
        ended.append((await submit(client, "greeter", {"name": "old"}))["id"])
    await start_worker(concurrency=2)
    for job_id in ended:
        assert (await wait_for_job(client, job_id))["status"] == "completed"
    # 250 messages older than anything queued now, each taken by a worker that died after its job ended
    # (three real ended jobs, and ids that no longer exist); arq's own read limit here is 100.
    stale = [*ended, *(str(uuid.uuid4()) for _ in range(247))]
    for message in stale:
        await redis_client.set(f"arq:job:{message}", b"{}", px=86_400_000)
        await redis_client.set(f"arq:in-progress:{message}", b"1", px=7 * 86400 * 1000)
    await redis_client.zadd(queue_name("default"), {message: 1_000 + i for i, message in enumerate(stale)})

    fresh = await submit(client, "greeter", {"name": "Ada"})
    job = await wait_for_job(client, fresh["id"], wait_s=20)

    assert job["status"] == "completed"
    deadline = time.monotonic() + 10  # each reconciler pass discards up to 200 of them
    while await redis_client.zcard(queue_name("default")):
        assert time.monotonic() < deadline, "stranded messages left in the queue"
        await asyncio.sleep(0.1)
    assert not await redis_client.exists(*(f"arq:in-progress:{m}" for m in stale))


async def test_duplicate_messages_for_one_job_run_it_once(
    engine: AsyncEngine, client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    (job_id,) = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    await start_worker(concurrency=4)
    await start_worker(concurrency=4)
    for attempt in (0, 0, 1, 2, 3):  # the same message twice, and stale wake-ups under other ids
        await wake(job_id, attempt)

    job = await wait_for_job(client, str(job_id), ("completed", "failed"), wait_s=10)
    await asyncio.sleep(0.5)  # let every message be handled

    assert job["status"] == "completed"
    history = [e["to_status"] for e in await events(client, job_id)]
    assert history.count("running") == 1, history
    assert history.count("completed") == 1, history
    assert (await client.get(f"/v1/jobs/{job_id}")).json()["attempt"] == 1
