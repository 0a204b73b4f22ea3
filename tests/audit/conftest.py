"""The audit tests' databases: the PostgreSQL test database with the audit tables emptied, a fresh embedded
SQLite database, and `db`, each test once on either; `write`, recording entries each in a transaction; reading
the entries written since a point; and users with personal tokens, made in the database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import admin, connect
from tests.deliveries.conftest import receiver, workers
from tests.jobs import parity
from workflow_service.access.credentials import TOKEN_START, hash_key, new_key
from workflow_service.audit.recorder import Actor, Entry, Origin, record
from workflow_service.core.clock import utcnow
from workflow_service.core.ids import uuid7
from workflow_service.models import DEFAULT_WORKSPACE_ID, AuditEntry, Membership, PersonalToken, User, WorkflowMember

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


async def last_entry_id(eng: AsyncEngine) -> int:
    """The id of the newest entry of any chain (0 when there is none)."""
    async with eng.connect() as conn:
        found = (await conn.execute(sa.select(sa.func.max(AuditEntry.id)))).scalar_one()
    return int(found or 0)


async def entries_since(eng: AsyncEngine, after_id: int) -> list[Mapping[str, Any]]:
    """The entries of every chain with an id above `after_id`, oldest first, as rows read through the table."""
    async with eng.connect() as conn:
        stmt = sa.select(AuditEntry.__table__).where(AuditEntry.id > after_id).order_by(AuditEntry.id)
        return [dict(row._mapping) for row in await conn.execute(stmt)]


@dataclass(frozen=True)
class Someone:
    """A user of a workspace with a personal access token."""

    id: uuid.UUID
    email: str
    token: str
    token_id: uuid.UUID

    @property
    def actor(self) -> str:
        return f"user:{self.id}"


async def make_user(
    eng: AsyncEngine,
    email: str,
    role: str = "member",
    shares: Mapping[uuid.UUID, str] | None = None,
    *,
    workspace_id: uuid.UUID = DEFAULT_WORKSPACE_ID,
    expires_at: datetime | None = None,
) -> Someone:
    """A user with this workspace role, invited to the workflows of `shares` with their roles, and a personal
    token (expiring at `expires_at`), made in the database."""
    now, user_id, token_id = utcnow(), uuid7(), uuid7()
    prefix, token = new_key(TOKEN_START)
    async with eng.begin() as conn:
        await conn.execute(
            sa.insert(User).values(id=user_id, email=email, name=email.split("@")[0], subject=None, created_at=now)
        )
        await conn.execute(
            sa.insert(Membership).values(
                id=uuid7(), workspace_id=workspace_id, user_id=user_id, role=role, created_at=now
            )
        )
        await conn.execute(
            sa.insert(PersonalToken).values(
                id=token_id,
                user_id=user_id,
                workspace_id=workspace_id,
                name=f"{email} laptop",
                prefix=prefix,
                token_hash=hash_key(token),
                created_at=now,
                expires_at=expires_at,
            )
        )
        for workflow_id, shared_role in (shares or {}).items():
            await conn.execute(
                sa.insert(WorkflowMember).values(
                    id=uuid7(), workflow_id=workflow_id, user_id=user_id, role=shared_role, created_at=now
                )
            )
    return Someone(user_id, email, token, token_id)


__all__ = ["admin", "connect", "receiver", "workers"]
