"""Claims made together are one statement: the jobs a worker starts at once are claimed by one
`claim_many`, each still exactly once, and what a batch cannot claim is left as it was."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.jobs.conftest import GREETER, RunnerFactory, create_jobs
from workflow_service.agents import service as agents
from workflow_service.core.clock import utcnow
from workflow_service.jobs import repository as repo
from workflow_service.jobs.repository import job_t
from workflow_service.jobs.states import JobStatus

S = JobStatus


async def statuses(engine: AsyncEngine, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(job_t.c.id, job_t.c.status).where(job_t.c.id.in_(ids)))
        return {row.id: row.status for row in rows}


async def test_jobs_started_together_are_claimed_by_one_statement(
    engine: AsyncEngine, make_runner: RunnerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_ids = await create_jobs(engine, GREETER, count=20, inputs={"name": "Ada"})
    batches: list[int] = []
    real_claim_many = repo.claim_many

    async def counted(conn: AsyncConnection, ids: Sequence[uuid.UUID], request: Any) -> Any:
        batches.append(len(ids))
        return await real_claim_many(conn, ids, request)

    monkeypatch.setattr(repo, "claim_many", counted)
    runner = await make_runner()

    results = await asyncio.gather(*(runner.run(job_id) for job_id in job_ids))

    assert results == [S.COMPLETED.value] * 20
    assert set((await statuses(engine, job_ids)).values()) == {S.COMPLETED.value}
    assert sum(batches) == 20  # every job asked for once
    assert len(batches) < 20 / 2  # most of them together: the first alone, then those that waited for it


async def test_two_agents_claiming_the_same_jobs_take_each_once(
    engine: AsyncEngine, make_runner: RunnerFactory
) -> None:
    job_ids = await create_jobs(engine, GREETER, count=30, inputs={"name": "Ada"})
    first, second = await make_runner(), await make_runner()

    results = await asyncio.gather(
        *(first.run(job_id) for job_id in job_ids), *(second.run(job_id) for job_id in reversed(job_ids))
    )

    assert results.count(S.COMPLETED.value) == 30  # each job run by exactly one of them
    assert results.count(None) == 30
    async with engine.connect() as conn:
        attempts = (await conn.execute(sa.select(job_t.c.attempt).where(job_t.c.id.in_(job_ids)))).scalars().all()
    assert set(attempts) == {1}


async def test_a_job_woken_twice_in_one_batch_runs_once(engine: AsyncEngine, make_runner: RunnerFactory) -> None:
    [job_id] = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    runner = await make_runner()

    results = await asyncio.gather(runner.run(job_id), runner.run(job_id), runner.run(job_id))

    assert sorted(results, key=str) == [None, None, S.COMPLETED.value]


async def test_claim_many_claims_only_what_is_pending_in_its_pools(engine: AsyncEngine) -> None:
    pending = await create_jobs(engine, GREETER, count=3, inputs={"name": "Ada"})
    elsewhere = await create_jobs(engine, GREETER, count=1, inputs={"name": "Ada"}, pool="gpu")
    agent_id = await agents.register(engine, ("default",))
    now = utcnow()
    request = repo.ClaimRequest(
        agent_id=agent_id,
        actor=f"agent:{agent_id}",
        pools=("default",),
        now=now,
        lease_until=now + timedelta(seconds=60),
    )
    async with engine.begin() as conn:
        first = await repo.claim_many(conn, [pending[0]], request)
    missing = uuid.uuid4()

    async with engine.begin() as conn:
        claimed = await repo.claim_many(conn, [*pending, *elsewhere, missing, pending[1]], request)

    assert set(first) == {pending[0]}
    assert set(claimed) == {pending[1], pending[2]}  # not the one already running, nor another pool's
    assert all(row.attempt == 1 for row in claimed.values())
    after = await statuses(engine, [*pending, *elsewhere])
    assert after == {**dict.fromkeys(pending, S.RUNNING.value), elsewhere[0]: S.PENDING.value}
    async with engine.connect() as conn:
        events = (
            await conn.execute(
                sa.text("SELECT job_id, count(*) FROM job_event WHERE job_id = ANY(:ids) GROUP BY job_id"),
                {"ids": [str(i) for i in pending]},
            )
        ).all()
    assert {str(job): n for job, n in events} == dict.fromkeys(map(str, pending), 3)  # submitted + 2 hops
