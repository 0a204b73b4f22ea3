"""The schedule tests' helpers: making schedules through the API or the service, driving the firing pass with a
clock of the test's own, and reading what it recorded (fires, the jobs they made) on either database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import default_ref, make_settings
from tests.jobs import parity
from tests.jobs.conftest import GREETER, create_jobs, direct_context
from workflow_service.context import Context
from workflow_service.core.db import AnyRow, unit_of_work
from workflow_service.jobs import lifecycle
from workflow_service.jobs.states import JobStatus
from workflow_service.models import Job, Schedule, ScheduleFire
from workflow_service.schedules import service
from workflow_service.schedules.backfill import backfill
from workflow_service.schedules.firing import FireReport, fire_due
from workflow_service.schedules.schemas import BackfillRequest, BackfillResult, ScheduleCreate, ScheduleRead

fire_t: sa.Table = ScheduleFire.__table__  # type: ignore[assignment]
schedule_t: sa.Table = Schedule.__table__  # type: ignore[assignment]
job_t: sa.Table = Job.__table__  # type: ignore[assignment]
ADA = {"name": "Ada"}


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


async def make_schedule(client: httpx.AsyncClient, slug: str = "greeter", **body: Any) -> dict[str, Any]:
    """A schedule made through the API (201)."""
    body.setdefault("inputs", ADA)
    response = await client.post(f"/v1/workflows/{slug}/schedules", json=body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def fires(engine: AsyncEngine, schedule_id: uuid.UUID | str) -> list[AnyRow]:
    """The schedule's fires, by scheduled time."""
    stmt = sa.select(fire_t).where(fire_t.c.schedule_id == uuid.UUID(str(schedule_id))).order_by(fire_t.c.scheduled_at)
    async with engine.connect() as conn:
        return list((await conn.execute(stmt)).all())


async def jobs_of(engine: AsyncEngine, schedule_id: uuid.UUID | str) -> list[AnyRow]:
    """The jobs the schedule made (its caller), oldest first."""
    stmt = sa.select(job_t).where(job_t.c.caller == f"schedule:{schedule_id}").order_by(job_t.c.id)
    async with engine.connect() as conn:
        return list((await conn.execute(stmt)).all())


async def schedule_row(engine: AsyncEngine, schedule_id: uuid.UUID | str) -> AnyRow:
    async with engine.connect() as conn:
        stmt = sa.select(schedule_t).where(schedule_t.c.id == uuid.UUID(str(schedule_id)))
        return (await conn.execute(stmt)).one()


async def end_job(ctx: Context, job_id: uuid.UUID, status: JobStatus = JobStatus.FAILED) -> None:
    """End a pending job through the lifecycle (its follow-ups run), as the reconciler ends one it gave up on."""
    async with unit_of_work(ctx.engine) as uow:
        move = lifecycle.Move(
            job_id=job_id,
            path=[JobStatus.PENDING, status],
            actor="test",
            reason="ended by the test",
            values={"finished_at": datetime.now(UTC), "error": {"code": "test", "message": "ended", "step": None}},
        )
        assert await lifecycle.move(uow, ctx.ends, move) is not None


@dataclass
class Scheduler:
    """A database with the workflow `greeter` deployed, a Context on it, and the firing pass with the test's clock."""

    engine: AsyncEngine
    ctx: Context

    async def create(self, **body: Any) -> ScheduleRead:
        body.setdefault("inputs", ADA)
        async with unit_of_work(self.engine) as uow:
            return await service.create(
                uow.conn, self.ctx, default_ref("greeter"), ScheduleCreate(**body), actor="admin"
            )

    async def fire(self, now: datetime) -> FireReport:
        return await fire_due(self.ctx, now=now)

    async def backfill(self, schedule: ScheduleRead, lo: datetime, hi: datetime, now: datetime) -> BackfillResult:
        ref = service.ScheduleRef(default_ref("greeter"), str(schedule.id))
        async with unit_of_work(self.engine) as uow:
            done = await backfill(uow, self.ctx, ref, BackfillRequest(**{"from": lo, "to": hi}), now=now)
        return done.result

    async def fires(self, schedule: ScheduleRead) -> list[AnyRow]:
        return await fires(self.engine, schedule.id)

    async def jobs(self, schedule: ScheduleRead) -> list[AnyRow]:
        return await jobs_of(self.engine, schedule.id)

    async def row(self, schedule: ScheduleRead) -> AnyRow:
        return await schedule_row(self.engine, schedule.id)


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A fresh embedded database (SQLite, migrated as `workflow-service dev` does)."""
    async for eng in parity.sqlite_engine(tmp_path / "embedded.db"):
        yield eng


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest) -> AsyncEngine:
    """Each test on PostgreSQL (the test database, emptied) and on a fresh embedded SQLite database."""
    found: AsyncEngine = request.getfixturevalue("engine" if request.param == "postgresql" else "sqlite")
    return found


@pytest.fixture
async def scheduler(db: AsyncEngine) -> AsyncIterator[Scheduler]:
    """A Scheduler on `db`, with `greeter` deployed."""
    engine = db
    await create_jobs(engine, GREETER, count=0, slug="greeter")
    async with direct_context(engine, make_settings(reconcile_interval_s=0.5)) as ctx:
        yield Scheduler(engine, ctx)
