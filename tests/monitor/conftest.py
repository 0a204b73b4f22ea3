"""The monitor tests' helpers: runs with chosen times stored as the service stores jobs (an id made at the run's
submission, as intake makes it), on PostgreSQL or on the embedded SQLite database; and the embedded app."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TOKEN, ClientFactory, WorkerFactory, connections, make_settings
from tests.llm.conftest import ModelServer
from workflow_service.config import Price, Settings
from workflow_service.core.db import make_engine
from workflow_service.core.ids import uuid7_floor
from workflow_service.migrate import upgrade
from workflow_service.models import Job, Workflow, WorkflowVersion

job_t: sa.Table = Job.__table__  # type: ignore[assignment]
workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]
version_t: sa.Table = WorkflowVersion.__table__  # type: ignore[assignment]

EMBEDDED_TOKEN = "embedded-admin"
PRICING = {"*": Price(input_per_1k=1.5, output_per_1k=4)}
"""Every model's price, so that model calls have a cost."""
BASE = datetime(2026, 11, 30, tzinfo=UTC)
"""Midnight UTC: the start of the windows the tests choose (a 15-minute bucket starts on it)."""


def uuid7_at(at: datetime) -> uuid.UUID:
    """A UUIDv7 of the millisecond `at` (version and variant set, the rest random), as core/ids.uuid7 makes one
    at that time."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = uuid7_floor(at).int | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


@dataclass(frozen=True)
class Run:
    """A run to store: submitted at `created`, started `wait_s` later, ended `response_s` after its submission
    (None: not started, not ended)."""

    created: datetime
    status: str = "completed"
    response_s: float | None = None
    wait_s: float | None = None
    version: int = 1
    origin: str = "api"
    caller: str = "admin"
    error_code: str | None = None


async def store_runs(engine: AsyncEngine, slug: str, runs: list[Run]) -> list[uuid.UUID]:
    """Store `runs` as jobs of the workflow `slug` (already deployed, in any workspace), in one transaction;
    their ids, in order. A run not ended holds a lease an hour long, so that no reconciler takes it back."""
    async with engine.begin() as conn:
        workflow = (await conn.execute(sa.select(workflow_t).where(workflow_t.c.slug == slug))).one()
        versions = {
            row.number: row.id
            for row in await conn.execute(sa.select(version_t).where(version_t.c.workflow_id == workflow.id))
        }
        ids, rows = [], []
        for run in runs:
            job_id = uuid7_at(run.created)
            ids.append(job_id)
            ended = run.status in ("completed", "failed", "canceled")
            started = run.created + timedelta(seconds=run.wait_s) if run.wait_s is not None else None
            finished = run.created + timedelta(seconds=run.response_s) if run.response_s is not None else None
            rows.append(
                {
                    "id": job_id,
                    "workspace_id": workflow.workspace_id,
                    "workflow_id": workflow.id,
                    "version_id": versions[run.version],
                    "version_number": run.version,
                    "status": run.status,
                    "pool": "default",
                    "inputs": {"secret": "never shown"},
                    "variables": {},
                    "metadata": {},
                    "error": {"code": run.error_code, "message": "m", "step": None} if run.error_code else None,
                    "origin": run.origin,
                    "caller": run.caller,
                    "attempt": 1 if started else 0,
                    "max_attempts": 3,
                    "created_at": run.created,
                    "started_at": started,
                    "finished_at": finished if ended else None,
                    "lease_expires_at": None if ended else datetime.now(UTC) + timedelta(hours=1),
                }
            )
        await conn.execute(job_t.insert(), rows)
    return ids


@asynccontextmanager
async def embedded(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[ClientFactory, AsyncEngine]]:
    """The embedded mode's app (SQLite, the in-process worker, outbound calls to 127.0.0.1 allowed) and an engine
    on its database."""
    settings = Settings(
        data_dir=tmp_path,
        admin_token=SecretStr(EMBEDDED_TOKEN),
        database_url=None,
        redis_url=None,
        outbound_allowlist=["127.0.0.1"],
        **overrides,
    )
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    engine = make_engine(settings.effective_database_url)
    try:
        async with connections(settings) as connect:
            yield connect, engine
    finally:
        await engine.dispose()


def at(minutes: float, seconds: float = 0) -> datetime:
    """`minutes` and `seconds` after BASE."""
    return BASE + timedelta(minutes=minutes, seconds=seconds)


def window(start: datetime, end: datetime, **more: Any) -> dict[str, Any]:
    """The query of a window (and `more` parameters)."""
    return {"from": start.isoformat(), "to": end.isoformat(), **more}


@dataclass(frozen=True)
class Backend:
    """The app on one database, as the operator, with an engine on that database to store runs, and `work()`,
    which has jobs run (the embedded mode's in-process worker always does), their model calls answered by the
    test's model server."""

    name: str
    client: httpx.AsyncClient
    engine: AsyncEngine
    connect: ClientFactory
    work: Callable[[], Awaitable[object]]


async def _nothing() -> None:
    return None


@pytest.fixture(params=["postgresql", "sqlite"])
async def backend(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    engine: AsyncEngine,
    start_worker: WorkerFactory,
    model_server: ModelServer,
) -> AsyncIterator[Backend]:
    """Each test that takes it runs twice: on PostgreSQL (emptied first; a worker once `work()` is called) and
    in the embedded mode (SQLite, a fresh database)."""
    models: dict[str, Any] = {
        "openai_base_url": f"{model_server.url}/v1",
        "openai_api_key": SecretStr("sk-test"),
        "llm_backoff_s": 0.05,
        "pricing": PRICING,
    }
    if request.param == "postgresql":
        async with connections(make_settings()) as connect:
            yield Backend("postgresql", connect(TOKEN), engine, connect, partial(start_worker, **models))
        return
    async with embedded(tmp_path, **models) as (connect, sqlite):
        yield Backend("sqlite", connect(EMBEDDED_TOKEN), sqlite, connect, _nothing)
