"""service.verify: an intact chain checks out; an entry altered, removed or re-hashed, or a head moved, in the
database (raw SQL) makes it fail and name the first bad entry, its seq and what is wrong with it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.audit.conftest import note, write
from workflow_service.audit.chain import chain_of, entry_hash
from workflow_service.audit.schemas import ChainReport
from workflow_service.audit.service import verify
from workflow_service.core.db import AnyRow, snapshot
from workflow_service.models import AuditEntry

WS = uuid.UUID("018f0000-0000-7000-8000-000000000001")
CHAIN = chain_of(WS)
N = 7
OTHER_HASH = "f" * 64
entry_t: sa.Table = AuditEntry.__table__  # type: ignore[assignment]


@pytest.fixture
async def ids(db: AsyncEngine) -> list[int]:
    """N entries in WS's chain, with changes; their ids by seq (ids[0] is seq 1)."""
    made = []
    for n in range(N):
        changes = {"retries": {"before": n, "after": n + 1}, "push": {"before": None, "after": {"url": "x"}}}
        made.append(await write(db, WS, note("settings.updated", changes=changes)))
    return made


async def sql(eng: AsyncEngine, statement: str, **params: object) -> None:
    async with eng.begin() as conn:
        await conn.execute(sa.text(statement), params)


async def typed(eng: AsyncEngine, entry_id: int) -> AnyRow:
    """An entry as its columns' types read it (JSON as a dict, times as datetimes)."""
    async with eng.connect() as conn:
        return (await conn.execute(sa.select(entry_t).where(entry_t.c.id == entry_id))).one()


async def alter(eng: AsyncEngine, entry_id: int, **values: Any) -> None:
    """Change an entry's columns, typed (as `typed` reads them)."""
    async with eng.begin() as conn:
        await conn.execute(entry_t.update().where(entry_t.c.id == entry_id).values(values))


async def check(eng: AsyncEngine, batch: int = 1000) -> ChainReport:
    async with snapshot(eng) as conn:
        return await verify(conn, CHAIN, batch=batch)


def broken(report: ChainReport) -> tuple[bool, int, int | None, int, str]:
    assert report.broken is not None
    return report.ok, report.entries, report.broken.id, report.broken.seq, report.broken.reason


@pytest.mark.parametrize("batch", [1, 2, 3, N, 1000])
async def test_an_intact_chain_checks_out_in_any_batch_size(db: AsyncEngine, ids: list[int], batch: int) -> None:
    assert (await check(db, batch)).model_dump() == {"ok": True, "entries": N, "broken": None}


async def test_an_empty_chain_checks_out(db: AsyncEngine) -> None:
    assert (await check(db)).model_dump() == {"ok": True, "entries": 0, "broken": None}


@pytest.mark.parametrize("batch", [2, 1000])
async def test_a_description_altered(db: AsyncEngine, ids: list[int], batch: int) -> None:
    await sql(db, "UPDATE audit_entry SET description = 'nothing happened' WHERE id = :id", id=ids[3])
    assert broken(await check(db, batch)) == (False, 4, ids[3], 4, "its content does not match its hash")


async def test_changes_altered(db: AsyncEngine, ids: list[int]) -> None:
    await sql(db, "UPDATE audit_entry SET changes = NULL WHERE id = :id", id=ids[5])
    assert broken(await check(db)) == (False, 6, ids[5], 6, "its content does not match its hash")


async def test_a_value_inside_changes_altered(db: AsyncEngine, ids: list[int]) -> None:
    changes = (await typed(db, ids[1])).changes
    await alter(db, ids[1], changes={**changes, "retries": {"before": 1, "after": 5}})
    assert broken(await check(db)) == (False, 2, ids[1], 2, "its content does not match its hash")


async def test_a_time_altered_by_a_microsecond(db: AsyncEngine, ids: list[int]) -> None:
    at = (await typed(db, ids[0])).at
    await alter(db, ids[0], at=at + timedelta(microseconds=1))
    assert broken(await check(db)) == (False, 1, ids[0], 1, "its content does not match its hash")


async def test_a_middle_entry_deleted(db: AsyncEngine, ids: list[int]) -> None:
    await sql(db, "DELETE FROM audit_entry WHERE id = :id", id=ids[2])
    assert broken(await check(db, batch=2)) == (False, 2, None, 3, "entry seq 3 is missing")


async def test_the_first_entry_deleted(db: AsyncEngine, ids: list[int]) -> None:
    await sql(db, "DELETE FROM audit_entry WHERE id = :id", id=ids[0])
    assert broken(await check(db)) == (False, 0, None, 1, "entry seq 1 is missing")


async def test_a_hash_altered(db: AsyncEngine, ids: list[int]) -> None:
    await sql(db, "UPDATE audit_entry SET hash = :h WHERE id = :id", h=OTHER_HASH, id=ids[4])
    assert broken(await check(db)) == (False, 5, ids[4], 5, "its content does not match its hash")


async def test_an_entry_altered_and_rehashed_breaks_the_link_to_the_next(db: AsyncEngine, ids: list[int]) -> None:
    """Whoever alters an entry and recomputes its hash still leaves the next entry pointing at the old one."""
    await sql(db, "UPDATE audit_entry SET actor_name = 'someone else' WHERE id = :id", id=ids[3])
    await _rehash(db, ids[3])
    assert broken(await check(db)) == (False, 5, ids[4], 5, "its previous hash does not match entry 4")


async def test_the_first_entrys_previous_hash_altered_and_rehashed(db: AsyncEngine, ids: list[int]) -> None:
    await sql(db, "UPDATE audit_entry SET prev_hash = :h WHERE id = :id", h=OTHER_HASH, id=ids[0])
    await _rehash(db, ids[0])
    assert broken(await check(db)) == (False, 1, ids[0], 1, "its previous hash does not match the chain's start")


async def _rehash(eng: AsyncEngine, entry_id: int) -> None:
    row = await typed(eng, entry_id)
    await sql(
        eng,
        "UPDATE audit_entry SET hash = :h WHERE id = :id",
        h=entry_hash(dict(row._mapping), row.prev_hash),
        id=entry_id,
    )


async def test_the_head_moved_back(db: AsyncEngine, ids: list[int]) -> None:
    await sql(db, "UPDATE audit_head SET seq = 5 WHERE chain = :c", c=CHAIN)
    assert broken(await check(db)) == (False, N, ids[5], 6, f"the chain head says seq 5 but the last entry is {N}")


async def test_the_last_entries_deleted(db: AsyncEngine, ids: list[int]) -> None:
    await sql(db, "DELETE FROM audit_entry WHERE id IN (:a, :b)", a=ids[-1], b=ids[-2])
    assert broken(await check(db)) == (
        False,
        N - 2,
        None,
        N - 1,
        f"the chain head says seq {N} but the last entry is {N - 2}",
    )


async def test_the_heads_hash_altered(db: AsyncEngine, ids: list[int]) -> None:
    await sql(db, "UPDATE audit_head SET hash = :h WHERE chain = :c", h=OTHER_HASH, c=CHAIN)
    assert broken(await check(db)) == (False, N, ids[-1], N, f"the chain head's hash does not match entry {N}")


async def test_the_head_deleted(db: AsyncEngine, ids: list[int]) -> None:
    await sql(db, "DELETE FROM audit_head WHERE chain = :c", c=CHAIN)
    assert broken(await check(db)) == (False, N, ids[0], 1, f"the chain head says seq 0 but the last entry is {N}")
