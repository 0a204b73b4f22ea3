"""The packaged migrations build the schema from nothing, on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.util.exc import CommandError
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import PG_ADMIN_DSN, TEST_DB
from workflow_service.migrate import alembic_config, check, upgrade
from workflow_service.models import DEFAULT_WORKSPACE_ID, DEFAULT_WORKSPACE_SLUG, Base, Job, Workflow, Workspace

MIGRATIONS_DB = f"{TEST_DB}_migrations"
"""Beside the test database, named after it: concurrent runs and xdist workers each have their own."""
TABLES = {
    "workflow",
    "workflow_version",
    "job",
    "job_event",
    "job_step",
    "agent",
    "delivery",
    "delivery_attempt",
    "api_key",
    "workflow_env",
    "workspace",
    "app_user",
    "membership",
    "personal_token",
    "workflow_member",
    "audit_entry",
    "audit_head",
    "event_trigger",
    "trigger_event",
    "schedule",
    "schedule_fire",
    "workflow_backup",
    "ui_session",
}


async def admin(sql: str) -> None:
    """Run one statement on the maintenance database, outside a transaction (CREATE/DROP DATABASE)."""
    engine = create_async_engine(
        PG_ADMIN_DSN.replace("postgresql://", "postgresql+asyncpg://", 1), isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(sql)
    finally:
        await engine.dispose()


@pytest.fixture
async def fresh_postgres() -> AsyncIterator[str]:
    """An empty PostgreSQL database, dropped after the test."""
    await admin(f'DROP DATABASE IF EXISTS "{MIGRATIONS_DB}" WITH (FORCE)')
    await admin(f'CREATE DATABASE "{MIGRATIONS_DB}"')
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{MIGRATIONS_DB}"
    await admin(f'DROP DATABASE IF EXISTS "{MIGRATIONS_DB}" WITH (FORCE)')


def downgrade(url: str) -> None:
    command.downgrade(alembic_config(url), "base")


def sqlite_tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


async def postgres_tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            return {name for (name,) in rows}
    finally:
        await engine.dispose()


def test_the_models_define_the_tables_the_tests_expect() -> None:
    assert set(Base.metadata.tables) == TABLES


async def test_sqlite_from_empty(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there" / "wfs.db"
    url = f"sqlite+aiosqlite:///{path}"

    await asyncio.to_thread(upgrade, url)  # creates the directory too

    assert sqlite_tables(path) == TABLES | {"alembic_version"}
    await asyncio.to_thread(check, url)  # models and migrations agree
    await asyncio.to_thread(upgrade, url)  # a second upgrade is a no-op
    await asyncio.to_thread(check, url)


async def test_sqlite_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    path = tmp_path / "wfs.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    await asyncio.to_thread(downgrade, url)
    assert sqlite_tables(path) == {"alembic_version"}
    await asyncio.to_thread(upgrade, url)
    assert sqlite_tables(path) == TABLES | {"alembic_version"}
    await asyncio.to_thread(check, url)


async def test_check_refuses_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    with pytest.raises(CommandError, match="not up to date"):
        await asyncio.to_thread(check, f"sqlite+aiosqlite:///{path}")


async def test_postgres_from_empty(fresh_postgres: str) -> None:
    assert await postgres_tables(fresh_postgres) == set()

    await asyncio.to_thread(upgrade, fresh_postgres)

    assert await postgres_tables(fresh_postgres) == TABLES | {"alembic_version"}
    await asyncio.to_thread(check, fresh_postgres)
    await asyncio.to_thread(downgrade, fresh_postgres)
    assert await postgres_tables(fresh_postgres) == {"alembic_version"}
    await asyncio.to_thread(upgrade, fresh_postgres)
    await asyncio.to_thread(check, fresh_postgres)


_OLD_WORKFLOW = (
    "INSERT INTO workflow (id, slug, name, draft, settings, created_at, updated_at) "
    "VALUES (:id, 'old', 'Old', '{}', '{}', :at, :at)"
)
_OLD_VERSION = (
    "INSERT INTO workflow_version (id, workflow_id, number, definition, content_hash, created_at) "
    "VALUES (:vid, :id, 1, '{}', 'h', :at)"
)
_OLD_JOB = (
    "INSERT INTO job (id, workflow_id, version_id, version_number, status, pool, inputs, variables, metadata, "
    "mode, caller, attempt, max_attempts, cache_hit, created_at) "
    "VALUES (:jid, :id, :vid, 1, 'completed', 'default', '{}', '{}', '{}', 'async', 'admin', 1, 1, false, :at)"
)


async def _moves_existing_data(url: str, as_id: Callable[[uuid.UUID], object]) -> None:
    await asyncio.to_thread(upgrade, url, "0006")
    ids = {"id": uuid.uuid4(), "vid": uuid.uuid4(), "jid": uuid.uuid4()}
    params = {key: as_id(value) for key, value in ids.items()} | {"at": datetime.now(UTC)}
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for sql in (_OLD_WORKFLOW, _OLD_VERSION, _OLD_JOB):
                await conn.execute(sa.text(sql), params)
        await asyncio.to_thread(upgrade, url)
        async with engine.connect() as conn:
            workflow = (await conn.execute(sa.select(Workflow.workspace_id, Workflow.slug))).one()
            job = (await conn.execute(sa.select(Job.workspace_id, Job.caller))).one()
            workspace = (await conn.execute(sa.select(Workspace.id, Workspace.slug))).one()
    finally:
        await engine.dispose()
    assert tuple(workspace) == (DEFAULT_WORKSPACE_ID, DEFAULT_WORKSPACE_SLUG)
    assert tuple(workflow) == (DEFAULT_WORKSPACE_ID, "old")
    assert tuple(job) == (DEFAULT_WORKSPACE_ID, "admin")
    await asyncio.to_thread(check, url)


async def test_sqlite_moves_existing_data_into_the_default_workspace(tmp_path: Path) -> None:
    await _moves_existing_data(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", lambda value: value.hex)


async def test_postgres_moves_existing_data_into_the_default_workspace(fresh_postgres: str) -> None:
    await _moves_existing_data(fresh_postgres, lambda value: value)


_WORKFLOW_AT_0007 = (
    "INSERT INTO workflow (id, workspace_id, slug, name, draft, settings, created_at, updated_at) "
    "VALUES (:id, :ws, 'old', 'Old', '{}', '{}', :at, :at)"
)
_JOB_AT_0007 = (
    "INSERT INTO job (id, workflow_id, version_id, version_number, status, pool, inputs, variables, metadata, "
    "mode, caller, attempt, max_attempts, cache_hit, created_at, source_job_id, source_kind, parent_job_id, "
    "workspace_id) VALUES (:jid, :id, :vid, 1, 'completed', 'default', '{}', '{}', '{}', 'async', 'admin', 1, 1, "
    "false, :at, :source, :kind, :parent, :ws)"
)


async def _backfills_job_origin(url: str, as_id: Callable[[uuid.UUID], object]) -> None:
    """Jobs made before 0008 get their origin from what they kept: a lineage kind, a parent job, else `api`."""
    await asyncio.to_thread(upgrade, url, "0007")
    ids = {"id": uuid.uuid4(), "vid": uuid.uuid4(), "ws": DEFAULT_WORKSPACE_ID}
    params = {key: as_id(value) for key, value in ids.items()} | {"at": datetime.now(UTC)}
    first = uuid.uuid4()
    jobs = {  # job id -> (source_kind, has a parent, the origin expected)
        first: (None, False, "api"),
        uuid.uuid4(): ("rerun", False, "rerun"),
        uuid.uuid4(): ("run_from_step", False, "run_from_step"),
        uuid.uuid4(): ("duplicate", False, "duplicate"),
        uuid.uuid4(): ("cache", False, "api"),
        uuid.uuid4(): (None, True, "child"),
    }
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for sql in (_WORKFLOW_AT_0007, _OLD_VERSION):
                await conn.execute(sa.text(sql), params)
            for job_id, (kind, child, _) in jobs.items():
                lineage = {"source": as_id(first) if kind else None, "kind": kind}
                parent = {"parent": as_id(first) if child else None}
                await conn.execute(sa.text(_JOB_AT_0007), params | {"jid": as_id(job_id)} | lineage | parent)
        await asyncio.to_thread(upgrade, url)
        async with engine.connect() as conn:
            origins = {row.id: row.origin for row in await conn.execute(sa.select(Job.id, Job.origin))}
    finally:
        await engine.dispose()
    assert origins == {job_id: expected for job_id, (_, _, expected) in jobs.items()}


async def test_sqlite_backfills_job_origin(tmp_path: Path) -> None:
    await _backfills_job_origin(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", lambda value: value.hex)


async def test_postgres_backfills_job_origin(fresh_postgres: str) -> None:
    await _backfills_job_origin(fresh_postgres, lambda value: value)
