"""Durability: racing claims, a lost Redis, expired leases, checkpointed steps, fenced writes."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import DATABASE_URL, WorkerFactory, wait_for_job
from tests.jobs.conftest import (
    GREETER,
    ContextFactory,
    RecordingDispatcher,
    RunnerFactory,
    create_jobs,
    deploy_workflow,
    submit,
)
from tests.servers import EchoServer
from workflow_service.agents import service as agents
from workflow_service.agents.repository import agent_t
from workflow_service.config import Settings
from workflow_service.core.clock import utcnow
from workflow_service.core.db import AnyRow, make_engine
from workflow_service.core.dispatch import queue_name
from workflow_service.engine.executor import Outcome, StepRecord
from workflow_service.jobs import repository as repo
from workflow_service.jobs.reconciler import ReconcileReport, reconcile
from workflow_service.jobs.repository import event_t, job_t
from workflow_service.jobs.run.claim import Claim
from workflow_service.jobs.run.errors import LostLease
from workflow_service.jobs.states import JobStatus

S = JobStatus
ACTIVE_PATHS = {
    S.CLAIMED: [S.PENDING, S.CLAIMED],
    S.RUNNING: [S.PENDING, S.CLAIMED, S.RUNNING],
    S.VALIDATING: [S.PENDING, S.CLAIMED, S.RUNNING, S.VALIDATING],
}


async def job_row(engine: AsyncEngine, job_id: uuid.UUID) -> AnyRow:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(job_t).where(job_t.c.id == job_id))).one()
    return row


async def events_of(engine: AsyncEngine, job_id: uuid.UUID) -> list[AnyRow]:
    async with engine.connect() as conn:
        return list(await repo.get_events(conn, job_id))


async def hold(
    engine: AsyncEngine,
    job_id: uuid.UUID,
    agent_id: uuid.UUID,
    *,
    status: JobStatus = S.RUNNING,
    attempt: int = 1,
    lease: timedelta = timedelta(seconds=-1),
) -> None:
    """Put a pending job in `status` under `agent_id`'s lease, as a claim would (negative lease: expired)."""
    now = utcnow()
    async with engine.begin() as conn:
        values = {"attempt": attempt, "agent_id": agent_id, "lease_expires_at": now + lease, "started_at": now}
        won = await repo.transition(conn, job_id, repo.Move(ACTIVE_PATHS[status], f"agent:{agent_id}", values=values))
    assert won is not None


# --- (a) racing claims ------------------------------------------------------------------------------


async def test_concurrent_runners_complete_every_job_exactly_once(
    engine: AsyncEngine, make_runner: RunnerFactory
) -> None:
    job_ids = await create_jobs(engine, GREETER, count=50, inputs={"name": "Ada"})
    engines = [make_engine(DATABASE_URL, pool_size=3) for _ in range(4)]
    try:
        runners = [await make_runner(runner_engine=e) for e in engines]
        offers = [(runner, job_id) for job_id in job_ids for runner in runners]
        random.shuffle(offers)
        results = await asyncio.gather(*(runner.run(job_id) for runner, job_id in offers))
    finally:
        for e in engines:
            await e.dispose()

    per_job = Counter(job_id for (_, job_id), result in zip(offers, results, strict=True) if result is not None)
    assert per_job == Counter(dict.fromkeys(job_ids, 1))
    assert {r for r in results if r is not None} == {"completed"}
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(job_t.c.status, job_t.c.attempt, job_t.c.agent_id, job_t.c.output))).all()
        claims = (
            await conn.execute(
                sa.select(event_t.c.job_id, sa.func.count())
                .where(event_t.c.from_status == "pending", event_t.c.to_status == "claimed")
                .group_by(event_t.c.job_id)
            )
        ).all()
        completions = (
            await conn.execute(sa.select(sa.func.count()).where(event_t.c.to_status == "completed"))
        ).scalar_one()
    assert len(rows) == 50
    assert {(r.status, r.attempt) for r in rows} == {("completed", 1)}
    assert {r.output["greeting"] for r in rows} == {"Hello, Ada!"}
    assert {r.agent_id for r in rows} <= {runner.agent_id for runner in runners}
    assert sorted(job_id for job_id, _ in claims) == sorted(job_ids)
    assert {count for _, count in claims} == {1}
    assert completions == 50


# --- (b) Redis loses every message ------------------------------------------------------------------


async def test_jobs_survive_a_flushed_redis(
    client: httpx.AsyncClient, start_worker: WorkerFactory, redis_client: aioredis.Redis
) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    ids = [(await submit(client, "greeter", {"name": f"n{i}"}))["id"] for i in range(20)]
    assert await redis_client.zcard(queue_name("default")) == 20
    await redis_client.flushdb()
    assert await redis_client.zcard(queue_name("default")) == 0

    await start_worker(requeue_after_s=0.5)
    jobs = [await wait_for_job(client, job_id) for job_id in ids]
    assert [j["status"] for j in jobs] == ["completed"] * 20
    assert [j["output"]["greeting"] for j in jobs] == [f"Hello, n{i}!" for i in range(20)]
    assert {j["attempt"] for j in jobs} == {1}


# --- (c) the reconciler -----------------------------------------------------------------------------


async def test_an_expired_lease_goes_back_to_pending_and_the_job_runs_again(
    engine: AsyncEngine, make_runner: RunnerFactory, make_context: ContextFactory
) -> None:
    [job_id] = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    lost = await make_runner()
    await hold(engine, job_id, lost.agent_id, attempt=1)
    dispatcher = RecordingDispatcher()

    report = await reconcile(await make_context(dispatcher))

    assert report == ReconcileReport(retried=1)
    row = await job_row(engine, job_id)
    assert (row.status, row.attempt, row.agent_id, row.lease_expires_at) == ("pending", 1, None, None)
    last = (await events_of(engine, job_id))[-1]
    assert (last.from_status, last.to_status, last.actor) == ("running", "pending", "reconciler")
    assert last.reason is not None
    assert "lease expired" in last.reason
    assert str(lost.agent_id) in last.reason
    assert dispatcher.enqueued == [(job_id, "default", 1)]  # woken again, under a new arq job id

    again = await reconcile(await make_context(dispatcher))  # idempotent
    assert again == ReconcileReport()
    assert len(dispatcher.enqueued) == 1

    rescuer = await make_runner()
    assert await rescuer.run(job_id) == "completed"
    row = await job_row(engine, job_id)
    assert (row.status, row.attempt, row.agent_id) == ("completed", 2, rescuer.agent_id)
    assert row.output == {"greeting": "Hello, Ada!"}
    claims = [e.actor for e in await events_of(engine, job_id) if e.to_status == "claimed"]
    assert claims == [f"agent:{lost.agent_id}", f"agent:{rescuer.agent_id}"]


async def test_an_expired_claim_is_retried_too(
    engine: AsyncEngine, make_runner: RunnerFactory, make_context: ContextFactory
) -> None:
    [job_id] = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    lost = await make_runner()
    await hold(engine, job_id, lost.agent_id, status=S.CLAIMED, attempt=2)
    report = await reconcile(await make_context())
    assert report.retried == 1
    row = await job_row(engine, job_id)
    assert (row.status, row.attempt) == ("pending", 2)
    assert (await events_of(engine, job_id))[-1].from_status == "claimed"


async def test_an_expired_lease_past_max_attempts_fails_the_job(
    engine: AsyncEngine, make_runner: RunnerFactory, make_context: ContextFactory
) -> None:
    [job_id] = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    lost = await make_runner()
    await hold(engine, job_id, lost.agent_id, attempt=3)  # max_attempts is 3
    dispatcher = RecordingDispatcher()

    report = await reconcile(await make_context(dispatcher))

    assert report == ReconcileReport(failed=1)
    assert dispatcher.enqueued == []
    row = await job_row(engine, job_id)
    assert (row.status, row.attempt, row.lease_expires_at) == ("failed", 3, None)
    assert row.error["code"] == "lease_expired"
    assert "3 attempt" in row.error["message"]
    assert row.finished_at is not None
    last = (await events_of(engine, job_id))[-1]
    assert (last.from_status, last.to_status, last.actor, last.reason) == (
        "running",
        "failed",
        "reconciler",
        "lease_expired",
    )
    assert await (await make_runner()).run(job_id) is None  # failed is final


async def test_an_expired_lease_while_validating_fails_rather_than_retries(
    engine: AsyncEngine, make_runner: RunnerFactory, make_context: ContextFactory
) -> None:
    [job_id] = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    lost = await make_runner()
    await hold(engine, job_id, lost.agent_id, status=S.VALIDATING, attempt=1)
    report = await reconcile(await make_context())
    assert report == ReconcileReport(failed=1)
    row = await job_row(engine, job_id)
    assert row.status == "failed"
    assert row.error["code"] == "lease_expired"


async def test_a_fresh_lease_is_left_alone(
    engine: AsyncEngine, make_runner: RunnerFactory, make_context: ContextFactory
) -> None:
    [job_id] = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    alive = await make_runner()
    await hold(engine, job_id, alive.agent_id, lease=timedelta(seconds=10))
    before = await job_row(engine, job_id)
    dispatcher = RecordingDispatcher()

    report = await reconcile(await make_context(dispatcher))

    assert report == ReconcileReport()
    assert dispatcher.enqueued == []
    after = await job_row(engine, job_id)
    assert (after.status, after.attempt, after.agent_id, after.lease_expires_at) == (
        "running",
        1,
        alive.agent_id,
        before.lease_expires_at,
    )
    assert len(await events_of(engine, job_id)) == 3


async def test_a_pending_job_nobody_claimed_is_enqueued_again(
    engine: AsyncEngine, settings: Settings, make_context: ContextFactory
) -> None:
    stale, fresh = await create_jobs(engine, GREETER, count=2, inputs={"name": "Ada"}, pool="gpu")
    async with engine.begin() as conn:
        old = utcnow() - timedelta(seconds=settings.requeue_after_s + 5)
        await conn.execute(job_t.update().where(job_t.c.id == stale).values(enqueued_at=old))
    dispatcher = RecordingDispatcher()

    report = await reconcile(await make_context(dispatcher))

    assert report == ReconcileReport(requeued=1)
    assert dispatcher.enqueued == [(stale, "gpu", 0)]
    assert (await job_row(engine, stale)).enqueued_at > old
    assert await reconcile(await make_context(dispatcher)) == ReconcileReport()
    assert (await job_row(engine, stale)).status == "pending"
    assert (await job_row(engine, fresh)).status == "pending"


async def test_an_agent_without_heartbeat_is_marked_offline(
    engine: AsyncEngine, settings: Settings, make_context: ContextFactory
) -> None:
    silent = await agents.register(engine, ("default",), "silent")
    alive = await agents.register(engine, ("default",), "alive")
    async with engine.begin() as conn:
        long_ago = utcnow() - timedelta(seconds=settings.agent_offline_after_s + 1)
        await conn.execute(agent_t.update().where(agent_t.c.id == silent).values(last_heartbeat_at=long_ago))

    report = await reconcile(await make_context())

    assert report.agents_offline == 1
    async with engine.connect() as conn:
        listed = {a.name: a.status for a in (await agents.list_agents(conn, None)).items}
    assert listed == {"silent": "offline", "alive": "online"}
    assert (await reconcile(await make_context())).agents_offline == 0

    await agents.heartbeat(engine, silent, timedelta(seconds=15))  # it was only slow
    async with engine.connect() as conn:
        online = [a.id for a in (await agents.list_agents(conn, "online")).items]
    assert sorted(online) == sorted([silent, alive])


async def test_a_heartbeat_extends_only_the_leases_of_the_jobs_the_agent_is_running(
    engine: AsyncEngine, make_runner: RunnerFactory
) -> None:
    mine, left_behind, theirs, canceled = await create_jobs(engine, GREETER, count=4, inputs={"name": "Ada"})
    me, other = await make_runner(), await make_runner()
    await hold(engine, mine, me.agent_id, lease=timedelta(seconds=1))
    await hold(engine, canceled, me.agent_id, lease=timedelta(seconds=1))
    async with engine.begin() as conn:
        assert await repo.transition(conn, canceled, repo.Move([S.RUNNING, S.CANCELED], "api")) is not None
    await hold(engine, left_behind, me.agent_id, lease=timedelta(seconds=1))  # assigned to me, not running here
    await hold(engine, theirs, other.agent_id, lease=timedelta(seconds=1))
    before = utcnow()
    lost = await agents.heartbeat(engine, me.agent_id, timedelta(seconds=15), [mine, theirs, canceled])
    assert (await job_row(engine, mine)).lease_expires_at >= before + timedelta(seconds=14)
    assert (await job_row(engine, left_behind)).lease_expires_at < before + timedelta(seconds=2)
    assert (await job_row(engine, theirs)).lease_expires_at < before + timedelta(seconds=2)
    assert lost == agents.Lost([theirs, canceled], [canceled])  # not mine (any more): the runner stops them
    assert await agents.heartbeat(engine, me.agent_id, timedelta(seconds=15), []) == agents.Lost([], [])
    assert (await job_row(engine, left_behind)).lease_expires_at < before + timedelta(seconds=2)


# --- (d) checkpointed steps -------------------------------------------------------------------------

CHARGE: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"base": {"type": "string"}}},
    "steps": [
        {"id": "charge", "type": "http", "method": "POST", "url": "{{ inputs.base }}/charge", "json": {"cents": 42}},
        {"id": "receipt", "type": "transform", "output": {"paid": "{{ steps.charge.output.body.json.cents }}"}},
    ],
    "output": "{{ steps.receipt.output }}",
}


def charge_record(status: str, output: Any = None) -> StepRecord:
    now = utcnow()
    return StepRecord(
        step_id="charge",
        position=0,
        type="http",
        status=status,
        attempt=1,
        started_at=now,
        output=output,
        finished_at=now if status == "completed" else None,
    )


async def crash_after(engine: AsyncEngine, job_id: uuid.UUID, agent_id: uuid.UUID, record: StepRecord) -> None:
    """Attempt 1 got as far as `record`, then its agent died and its lease expired."""
    await hold(engine, job_id, agent_id, attempt=1)
    async with engine.begin() as conn:
        await repo.upsert_steps(conn, job_id, [record])


async def test_a_retried_job_does_not_repeat_a_completed_step(
    engine: AsyncEngine,
    make_runner: RunnerFactory,
    echo_server: EchoServer,
    make_context: ContextFactory,
) -> None:
    [job_id] = await create_jobs(engine, CHARGE, inputs={"base": echo_server.url}, slug="charge")
    lost = await make_runner()
    done = {"status_code": 200, "headers": {}, "body": {"json": {"cents": 42}}}
    await crash_after(engine, job_id, lost.agent_id, charge_record("completed", done))
    assert (await reconcile(await make_context())).retried == 1

    assert await (await make_runner()).run(job_id) == "completed"

    assert echo_server.requests == []  # the charge was not made twice
    row = await job_row(engine, job_id)
    assert (row.status, row.attempt, row.output) == ("completed", 2, {"paid": 42})
    async with engine.connect() as conn:
        steps = {s.step_id: (s.status, s.attempt) for s in await repo.get_steps(conn, job_id)}
    assert steps == {"charge": ("completed", 1), "receipt": ("completed", 2)}


async def test_a_step_interrupted_mid_flight_runs_again_with_the_same_idempotency_key(
    engine: AsyncEngine,
    make_runner: RunnerFactory,
    echo_server: EchoServer,
    make_context: ContextFactory,
) -> None:
    [job_id] = await create_jobs(engine, CHARGE, inputs={"base": echo_server.url}, slug="charge")
    lost = await make_runner()
    await crash_after(engine, job_id, lost.agent_id, charge_record("running"))
    assert (await reconcile(await make_context())).retried == 1

    assert await (await make_runner()).run(job_id) == "completed"

    [request] = echo_server.requests
    assert request.headers["Idempotency-Key"] == f"{job_id}:charge"  # the receiver can deduplicate
    row = await job_row(engine, job_id)
    assert row.output == {"paid": 42}
    async with engine.connect() as conn:
        steps = {s.step_id: (s.status, s.attempt) for s in await repo.get_steps(conn, job_id)}
    assert steps == {"charge": ("completed", 2), "receipt": ("completed", 2)}


# --- fencing: an agent that lost its lease cannot write -----------------------------------------------


async def test_an_agent_that_lost_its_lease_cannot_finish_or_checkpoint(
    engine: AsyncEngine, make_runner: RunnerFactory, make_context: ContextFactory
) -> None:
    [job_id] = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    slow = await make_runner()
    claim = await slow.claimer.claim(job_id)
    assert isinstance(claim, Claim)
    assert claim.attempt == 1
    async with engine.begin() as conn:  # it stalls past its lease
        await conn.execute(
            job_t.update().where(job_t.c.id == job_id).values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await reconcile(await make_context())).retried == 1
    rescuer = await make_runner()
    assert await rescuer.run(job_id) == "completed"

    with pytest.raises(LostLease):
        await slow.steps._checkpoint(claim, [])
    assert await slow.finisher.finish(claim, Outcome(output={"greeting": "stale"})) is None

    row = await job_row(engine, job_id)
    assert (row.status, row.attempt, row.agent_id) == ("completed", 2, rescuer.agent_id)
    assert row.output == {"greeting": "Hello, Ada!"}
    finished = [e for e in await events_of(engine, job_id) if e.to_status == "completed"]
    assert len(finished) == 1
