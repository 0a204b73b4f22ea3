"""The audit tests' databases: the PostgreSQL test database with the audit tables emptied, a fresh embedded
SQLite database, and `db`, each test once on either; and `write`, recording entries each in a transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import admin, connect
from tests.jobs import parity
from workflow_service.audit.recorder import Actor, Entry, Origin, record

ALICE = Actor(f"user:{uuid.UUID(int=1)}", "alice@example.com")
BOB = Actor(f"key:{uuid.UUID(int=2)}", "deploy key")


@pytest.fixture
def pg(engine: AsyncEngine) -> AsyncEngine:
    """The PostgreSQL test database, emptied (the audit tables too: tests/conftest.TABLES)."""
    return engine


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A fresh embedded database (SQLite, migrated as `workflow-service dev` does)."""
    async for eng in parity.sqlite_engine(tmp_path / "embedded.db"):
        yield eng


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest) -> AsyncEngine:
    """Each test on PostgreSQL and on SQLite."""
    found: AsyncEngine = request.getfixturevalue("pg" if request.param == "postgresql" else "sqlite")
    return found


def note(action: str = "workflow.deployed", **fields: Any) -> Entry:
    """An entry with a description made from the action, and any other fields given."""
    return Entry(action=action, category=action.split(".")[0], description=f"did {action}", **fields)


async def write(
    eng: AsyncEngine, workspace_id: uuid.UUID | None, entry: Entry, actor: Actor = ALICE, origin: Origin = Origin()
) -> int:
    """Record `entry` in a transaction of its own; its id."""
    async with eng.begin() as conn:
        return await record(conn, workspace_id, actor, entry, origin)


__all__ = ["admin", "connect"]
