"""A job with its own notification URL, run by a runner on PostgreSQL (the single finish statement) and on the
embedded SQLite (the portable statements): both store the same rows, the notice's delivery to the job's URL
among them, and on PostgreSQL that delivery shares the end's transaction (the finish opens one for it, as for a
push job); a job without a notification URL keeps the one-statement end that commits on its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.conftest import default_ref, make_settings
from tests.jobs import parity
from tests.jobs.conftest import RunnerFactory, direct_context
from tests.jobs.parity import Run, stored
from workflow_service.core.db import unit_of_work
from workflow_service.jobs import repository
from workflow_service.jobs import service as jobs
from workflow_service.jobs.schemas import JobCreate
from workflow_service.jobs.states import JobStatus
from workflow_service.workflows.settings import new_signing_secret

PLAIN: dict[str, Any] = {"steps": [{"id": "shape", "type": "transform", "output": "x"}]}
URL = "https://hooks.example.com/jobs/done"
SIGNING = {
    "push": {"secrets": [{"secret": new_signing_secret(), "created_at": "2026-01-01T00:00:00", "expires_at": None}]}
}


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async for engine in parity.sqlite_engine(tmp_path / "embedded.db"):
        yield engine


@pytest.fixture
def runs(engine: AsyncEngine, sqlite: AsyncEngine) -> tuple[Run, Run]:
    settings = make_settings()
    return Run(engine, settings), Run(sqlite, settings)


@pytest.fixture
def finishes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[uuid.UUID, bool]]:
    """Each end an agent writes: the job, and whether it was written in a transaction of the caller's."""
    seen: list[tuple[uuid.UUID, bool]] = []
    real = repository.finish

    async def spied(conn: AsyncConnection, job_id: uuid.UUID, end: Any, *, in_transaction: bool = False) -> Any:
        seen.append((job_id, in_transaction))
        return await real(conn, job_id, end, in_transaction=in_transaction)

    monkeypatch.setattr(repository, "finish", spied)
    return seen


async def run_two(r: Run, make_runner: RunnerFactory) -> tuple[dict[str, Any], list[uuid.UUID]]:
    """Two jobs run by a runner: one with a notification URL, one without."""
    await r.deploy("greeter", PLAIN, SIGNING)
    ids = []
    for notify_url in (URL, None):
        data = JobCreate(notify_url=notify_url, cache="never")
        submission = jobs.Submission(workflow=default_ref("greeter"), version="current", data=data, actor="test")
        async with direct_context(r.engine, r.settings) as ctx, unit_of_work(r.engine) as uow:
            ids.append((await jobs.submit(uow, ctx, submission)).job.id)
    runner = await make_runner(runner_engine=r.engine)
    for job_id in ids:
        assert await runner.run(job_id) == JobStatus.COMPLETED.value
    snapshot = await stored(r)
    for job in snapshot["jobs"]:
        for delivery in job["deliveries"]:  # measured, so never the same twice
            delivery["payload"]["data"]["duration"] = delivery["payload"]["data"]["duration"] is not None
    return snapshot, ids


async def test_a_notified_jobs_end_queues_its_notice_in_the_same_transaction_on_both(
    runs: tuple[Run, Run], make_runner: RunnerFactory, finishes: list[tuple[uuid.UUID, bool]]
) -> None:
    on_pg, ids = await run_two(runs[0], make_runner)
    assert finishes == [(ids[0], True), (ids[1], False)]
    on_sqlite, _ = await run_two(runs[1], make_runner)

    found = parity.differences(on_pg, on_sqlite)
    assert found == [], "PostgreSQL and SQLite stored different rows:\n" + "\n".join(found)
    notified, plain = on_pg["jobs"]
    assert (notified["job"]["notify_url"], plain["job"]["notify_url"]) == (URL, None)
    (notice,) = notified["deliveries"]
    assert (notice["url"], notice["event_type"], notice["status"]) == (URL, "job.completed", "pending")
    assert notice["payload"]["data"]["id"] == notified["job"]["id"]
    assert plain["deliveries"] == []
    async with runs[0].engine.connect() as conn:  # the end's time is when it last changed, to the microsecond
        for job_id in ids:
            row = await repository.get_job(conn, job_id)
            assert row is not None
            assert row.updated_at == row.finished_at
