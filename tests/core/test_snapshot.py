"""core/db.snapshot: every read of the block sees the database as its first read did, on PostgreSQL and on
SQLite, so that a reader combining several queries never sees a later write in one and not in another."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.core.db import make_engine, snapshot


async def _reads_one_snapshot(engine: AsyncEngine, other_writer: bool) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE snapshot_probe (n integer)"))
    try:
        async with snapshot(engine) as reader:
            before = (await reader.execute(sa.text("SELECT count(*) FROM snapshot_probe"))).scalar_one()
            if other_writer:  # PostgreSQL: another transaction commits meanwhile
                async with engine.begin() as writer:
                    await writer.execute(sa.text("INSERT INTO snapshot_probe VALUES (1)"))
            after = (await reader.execute(sa.text("SELECT count(*) FROM snapshot_probe"))).scalar_one()
        assert (before, after) == (0, 0)
        async with engine.connect() as conn:
            count = (await conn.execute(sa.text("SELECT count(*) FROM snapshot_probe"))).scalar_one()
        assert count == (1 if other_writer else 0)
    finally:
        async with engine.begin() as conn:
            await conn.execute(sa.text("DROP TABLE snapshot_probe"))


async def test_reads_see_one_snapshot_on_postgresql(engine: AsyncEngine) -> None:
    await _reads_one_snapshot(engine, other_writer=True)


async def test_a_snapshot_on_sqlite_is_its_transaction(tmp_path: Path) -> None:
    """SQLite writes one transaction at a time (BEGIN IMMEDIATE): no writer can commit within the block."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}")
    try:
        await _reads_one_snapshot(engine, other_writer=False)
    finally:
        await engine.dispose()
