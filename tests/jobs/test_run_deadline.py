"""The run deadline a claim records, and the reconciler enforcing it, on PostgreSQL and on the embedded SQLite."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.jobs.conftest import GREETER, create_jobs, direct_context
from workflow_service.agents import service as agents
from workflow_service.config import Settings
from workflow_service.core.clock import utcnow
from workflow_service.core.db import make_engine
from workflow_service.jobs import repository as repo
from workflow_service.jobs.reconciler import ReconcileReport, reconcile
from workflow_service.jobs.repository import job_t, step_t
from workflow_service.jobs.run.claim import Agent, Claim, Claimer
from workflow_service.migrate import upgrade


@pytest.fixture(params=["postgresql", "sqlite"])
async def any_engine(request: pytest.FixtureRequest, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "postgresql":
        yield engine
        return
    url = f"sqlite+aiosqlite:///{tmp_path / 'embedded.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    yield engine
    await engine.dispose()


async def _row(engine: AsyncEngine, job_id: uuid.UUID) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(job_t).where(job_t.c.id == job_id))).one()


async def _reconcile(engine: AsyncEngine, settings: Settings) -> ReconcileReport:
    async with direct_context(engine, settings) as ctx:
        return await reconcile(ctx)


async def test_the_claim_records_the_run_deadline_and_the_reconciler_fails_a_job_held_past_it(
    any_engine: AsyncEngine, settings: Settings
) -> None:
    settings = settings.model_copy(update={"lease_s": 0.2})
    (job_id,) = await create_jobs(any_engine, {**GREETER, "timeout_s": 0.5}, inputs={"name": "Ada"})
    agent_id = await agents.register(any_engine, ("default",), "stuck")
    # The claim's lease is long, as a live worker's heartbeat keeps it (the loop below extends it too): however
    # slowly this test gets to its first extension, the lease has not run out; the reconciler's grace is 0.2 s.
    async with direct_context(any_engine, settings.model_copy(update={"lease_s": 15.0})) as ctx:
        claimer = Claimer(ctx, Agent.of(agent_id, ("default",)))
        claim = await claimer.claim(job_id)  # claimed, then never run nor ended: a stuck worker
    assert isinstance(claim, Claim)
    claimed = await _row(any_engine, job_id)
    assert claimed.run_deadline_at == claimed.started_at + timedelta(seconds=0.5)
    async with any_engine.begin() as conn:  # a step the stuck attempt showed as running
        await conn.execute(
            step_t.insert().values(job_id=job_id, step_id="compose", position=0, type="transform", status="running",
                                   attempt=1, started_at=utcnow())
        )  # fmt: skip
    # Its heartbeat would keep the lease alive: the reconciler must look at the run deadline, not the lease.
    deadline = asyncio.get_running_loop().time() + 10
    while (report := await _reconcile(any_engine, settings)).failed == 0:
        async with any_engine.begin() as conn:
            assert await repo.extend_leases(conn, agent_id, timedelta(seconds=15), [job_id]) == {job_id}
        assert asyncio.get_running_loop().time() < deadline, "the reconciler never failed the job"
        await asyncio.sleep(0.05)

    assert report.failed == 1
    ended = await _row(any_engine, job_id)
    assert ended.status == "failed"
    assert ended.error == {
        "code": "job_timeout",
        "message": "the job did not finish within its timeout of 0.5 s",
        "step": None,
    }
    assert ended.lease_expires_at is None
    assert utcnow() - claimed.run_deadline_at >= timedelta(seconds=settings.lease_s)  # a lease of grace first
    async with any_engine.connect() as conn:
        steps = (await conn.execute(sa.select(step_t.c.status, step_t.c.error).where(step_t.c.job_id == job_id))).all()
        history = await repo.get_events(conn, job_id)
    assert [(s.status, s.error["code"]) for s in steps] == [("failed", "job_timeout")]
    assert (history[-1].from_status, history[-1].to_status, history[-1].actor) == ("running", "failed", "reconciler")
