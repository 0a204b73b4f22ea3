"""Migration 0012 (finding jobs, per-job notices): it backfills `job.updated_at` from each job's history on both
databases, and on PostgreSQL it makes the search's trigram index, or, run by a role that may not create the
pg_trgm extension, says so and goes on without it (the search answers the same; the index can be made later with
the statements docs/invocation.md gives)."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import TEST_DB
from tests.test_migrations import admin
from workflow_service.core.db import make_engine
from workflow_service.jobs import listing
from workflow_service.jobs.schemas import JobListQuery
from workflow_service.migrate import MIGRATIONS, check, upgrade
from workflow_service.models import DEFAULT_WORKSPACE_ID, Job

DB = f"{TEST_DB}_m0012"
ROLE = f"{TEST_DB}_m0012_noext"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def migration() -> ModuleType:
    path = next((MIGRATIONS / "versions").glob("0012_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0012", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def fresh_postgres() -> AsyncIterator[str]:
    """An empty PostgreSQL database of this test run's own (and a role that owns nothing in it), dropped after."""
    await admin(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    await admin(f'DROP ROLE IF EXISTS "{ROLE}"')
    await admin(f'CREATE DATABASE "{DB}"')
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB}"
    await admin(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    await admin(f'DROP ROLE IF EXISTS "{ROLE}"')


_WORKFLOW = (
    "INSERT INTO workflow (id, workspace_id, slug, name, draft, settings, created_at, updated_at) "
    "VALUES (:id, :ws, 'old', 'Old', '{}', '{}', :at, :at)"
)
_VERSION = (
    "INSERT INTO workflow_version (id, workflow_id, number, definition, content_hash, created_at) "
    "VALUES (:vid, :id, 1, '{}', 'h', :at)"
)
_JOB = (
    "INSERT INTO job (id, workflow_id, version_id, version_number, status, pool, inputs, variables, metadata, mode, "
    "caller, attempt, max_attempts, cache_hit, created_at, workspace_id, origin) VALUES (:jid, :id, :vid, 1, "
    "'completed', 'default', '{}', '{}', '{}', 'async', 'admin', 1, 1, false, :at, :ws, 'api')"
)
_EVENT = "INSERT INTO job_event (job_id, from_status, to_status, at, actor) VALUES (:jid, NULL, 'pending', :at, 'api')"


async def _backfills_updated_at(url: str, as_id: Callable[[uuid.UUID], object]) -> None:
    """A job with events takes its newest event's time; one without any, its creation time."""
    await asyncio.to_thread(upgrade, url, "0008")
    moved, quiet = uuid.uuid4(), uuid.uuid4()
    ids = {"id": as_id(uuid.uuid4()), "vid": as_id(uuid.uuid4()), "ws": as_id(DEFAULT_WORKSPACE_ID)}
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(_WORKFLOW), ids | {"at": T0})
            await conn.execute(sa.text(_VERSION), ids | {"at": T0})
            for job_id in (moved, quiet):
                await conn.execute(sa.text(_JOB), ids | {"jid": as_id(job_id), "at": T0})
            for minutes in (5, 9, 7):
                await conn.execute(sa.text(_EVENT), {"jid": as_id(moved), "at": T0 + timedelta(minutes=minutes)})
        await asyncio.to_thread(upgrade, url)
        async with engine.connect() as conn:
            rows = {r.id: r for r in await conn.execute(sa.select(Job.id, Job.updated_at, Job.notify_url))}
    finally:
        await engine.dispose()
    assert {job_id: (r.updated_at, r.notify_url) for job_id, r in rows.items()} == {
        moved: (T0 + timedelta(minutes=9), None),
        quiet: (T0, None),
    }
    await asyncio.to_thread(check, url)


async def test_sqlite_backfills_updated_at(tmp_path: Path) -> None:
    await _backfills_updated_at(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", lambda value: value.hex)


async def test_postgres_backfills_updated_at(fresh_postgres: str) -> None:
    await _backfills_updated_at(fresh_postgres, lambda value: value)


async def _indexes(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'job'"))
            return {name for (name,) in rows}
    finally:
        await engine.dispose()


async def test_postgres_makes_the_search_index(fresh_postgres: str) -> None:
    await asyncio.to_thread(upgrade, fresh_postgres)
    assert {"ix_job_search_trgm", "ix_job_workflow_completed"} <= await _indexes(fresh_postgres)


async def test_without_the_right_to_create_the_extension_it_warns_and_goes_on(
    fresh_postgres: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A role that may create tables in the database's schema but not extensions in the database.
    await admin(f'CREATE ROLE "{ROLE}" LOGIN')
    engine = create_async_engine(fresh_postgres, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.exec_driver_sql(f'GRANT CREATE ON SCHEMA public TO "{ROLE}"')
    await engine.dispose()
    as_role = fresh_postgres.replace("postgres@", f"{ROLE}@", 1)
    with caplog.at_level(logging.WARNING, logger="workflow_service.migrations"):
        await asyncio.to_thread(upgrade, as_role)
    [warning] = [r for r in caplog.records if r.name == "workflow_service.migrations"]
    assert "no trigram index" in warning.getMessage()
    assert "permission denied" in warning.getMessage()
    indexes = await _indexes(fresh_postgres)
    assert "ix_job_search_trgm" not in indexes
    assert "ix_job_workflow_completed" in indexes
    await asyncio.to_thread(check, as_role)  # the models agree: the index is not one of them

    # The search answers without the index.
    await _seed(as_role)
    found = await _search(as_role, "needle")
    assert found == ["a haystack with a needle in it"]

    # Later, a role that may makes both, with the statements the docs give; the answer stays the same.
    module = migration()
    engine = create_async_engine(fresh_postgres)
    async with engine.begin() as conn:
        made = await conn.run_sync(lambda sync: module.create_search_index(sync))
    await engine.dispose()
    assert made is True
    assert "ix_job_search_trgm" in await _indexes(fresh_postgres)
    assert await _search(as_role, "needle") == found


async def test_an_extension_that_cannot_be_made_leaves_the_transaction_usable(fresh_postgres: str) -> None:
    await asyncio.to_thread(upgrade, fresh_postgres, "0008")
    module = migration()
    engine = create_async_engine(fresh_postgres)
    async with engine.begin() as conn:
        made = await conn.run_sync(lambda sync: module.create_search_index(sync, extension="no_such_extension"))
        assert made is False
        assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1  # the savepoint took the failure
    await engine.dispose()


_NAMED_JOB = (
    "INSERT INTO job (id, workflow_id, version_id, version_number, name, status, pool, inputs, variables, metadata, "
    "mode, caller, attempt, max_attempts, cache_hit, created_at, updated_at, workspace_id, origin) VALUES (:jid, :id, "
    ":vid, 1, :name, 'pending', 'default', '{}', '{}', '{}', 'async', 'admin', 0, 1, false, :at, :at, :ws, 'api')"
)


async def _seed(url: str) -> None:
    """A workflow with two named jobs, in the schema as migrated."""
    ids = {"id": uuid.uuid4(), "vid": uuid.uuid4(), "ws": DEFAULT_WORKSPACE_ID, "at": T0}
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(_WORKFLOW), ids)
            await conn.execute(sa.text(_VERSION), ids)
            for name in ("a haystack with a needle in it", "just hay"):
                await conn.execute(sa.text(_NAMED_JOB), ids | {"jid": uuid.uuid4(), "name": name})
    finally:
        await engine.dispose()


async def _search(url: str, q: str) -> list[str | None]:
    """The names of the jobs `GET /v1/jobs?q=` finds, read through the listing service."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            lister = listing.Lister(workspace_id=DEFAULT_WORKSPACE_ID, caller=None)
            page = await listing.page(conn, lister, JobListQuery(scope="all", q=q))
    finally:
        await engine.dispose()
    return [item.name for item in page.items]
