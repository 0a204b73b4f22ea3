"""recorder.record: an entry in the caller's transaction, chained to the one before it in its workspace's chain;
on PostgreSQL, concurrent writers of one chain take seqs 1, 2, … with no gap, and a rolled-back entry leaves
no trace."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.audit.conftest import ALICE, BOB, note, write
from workflow_service.audit import recorder
from workflow_service.audit.chain import DEPLOYMENT_CHAIN, GENESIS, chain_of, entry_hash
from workflow_service.audit.recorder import SYSTEM, Origin, record
from workflow_service.audit.repository import AuditFilter
from workflow_service.audit.service import page, verify
from workflow_service.core.db import make_engine
from workflow_service.models import AuditEntry

WS = uuid.UUID("018f0000-0000-7000-8000-000000000001")
OTHER_WS = uuid.UUID("018f0000-0000-7000-8000-000000000002")
WORKFLOW = uuid.UUID("018f0000-0000-7000-8000-0000000000aa")
entry_t: sa.Table = AuditEntry.__table__  # type: ignore[assignment]


async def rows(eng: AsyncEngine, chain: str) -> list[sa.Row[tuple[object, ...]]]:
    async with eng.connect() as conn:
        result = await conn.execute(sa.select(entry_t).where(entry_t.c.chain == chain).order_by(entry_t.c.seq))
        return list(result.all())


async def test_an_entry_keeps_every_field(db: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    at = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    monkeypatch.setattr(recorder, "utcnow", lambda: at)
    changes = {"name": {"before": "Old", "after": "New"}, "retry": {"before": {"max": 1}, "after": {"max": 3}}}
    entry = note(
        "workflow.updated", target_id=str(WORKFLOW), target_name="Summaries", workflow_id=WORKFLOW, changes=changes
    )
    entry_id = await write(db, WS, entry, ALICE, Origin(request_id="req-1", client_address="10.0.0.7"))

    async with db.connect() as conn:
        listed = (await page(conn, AuditFilter(chain=chain_of(WS)), None, 10)).items
    assert [e.model_dump() for e in listed] == [
        {
            "id": entry_id,
            "seq": 1,
            "workspace_id": WS,
            "at": at,
            "actor": ALICE.id,
            "actor_name": ALICE.name,
            "action": "workflow.updated",
            "category": "workflow",
            "target_id": str(WORKFLOW),
            "target_name": "Summaries",
            "workflow_id": WORKFLOW,
            "description": "did workflow.updated",
            "request_id": "req-1",
            "client_address": "10.0.0.7",
            "changes": changes,
            "prev_hash": GENESIS,
            "hash": listed[0].hash,
        }
    ]
    (row,) = await rows(db, chain_of(WS))
    assert row.hash == entry_hash(dict(row._mapping), GENESIS)


async def test_entries_of_no_workspace_go_to_the_deployment_chain(db: AsyncEngine) -> None:
    await write(db, None, note("auth.failed"), SYSTEM)
    await write(db, None, note("workspace.created"))
    assert await rows(db, chain_of(WS)) == []
    found = await rows(db, DEPLOYMENT_CHAIN)
    assert [(r.seq, r.workspace_id, r.actor) for r in found] == [(1, None, "system"), (2, None, ALICE.id)]
    assert found[1].prev_hash == found[0].hash


async def test_each_workspace_has_its_own_chain(db: AsyncEngine) -> None:
    for ws in (WS, OTHER_WS, WS, WS, OTHER_WS):
        await write(db, ws, note())
    ours, theirs = await rows(db, chain_of(WS)), await rows(db, chain_of(OTHER_WS))
    assert [r.seq for r in ours] == [1, 2, 3]
    assert [r.seq for r in theirs] == [1, 2]
    assert theirs[0].prev_hash == GENESIS
    assert [r.prev_hash for r in ours[1:]] == [r.hash for r in ours[:-1]]
    async with db.connect() as conn:
        reports = [await verify(conn, chain_of(ws)) for ws in (WS, OTHER_WS)]
    assert [(r.ok, r.entries) for r in reports] == [(True, 3), (True, 2)]


async def test_text_too_long_for_its_column_is_cut_and_marked(db: AsyncEngine) -> None:
    await write(db, WS, note(target_name="n" * 500), BOB, Origin(request_id="r" * 300))
    (row,) = await rows(db, chain_of(WS))
    assert (len(row.target_name), row.target_name[-2:]) == (320, "n…")
    assert (len(row.request_id), row.request_id[-1]) == (100, "…")
    async with db.connect() as conn:
        assert (await verify(conn, chain_of(WS))).ok


async def test_changes_are_hashed_as_stored(db: AsyncEngine) -> None:
    """Values JSON has no type for (a datetime, a UUID, a tuple) are stored as JSON makes them, and the hash
    is over what is stored, so the chain verifies."""
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    changes = {"when": {"before": None, "after": at}, "ids": {"before": (WORKFLOW,), "after": []}}
    await write(db, WS, note("settings.updated", changes=changes))
    (row,) = await rows(db, chain_of(WS))
    assert row.changes == {
        "when": {"before": None, "after": at.isoformat()},
        "ids": {"before": [str(WORKFLOW)], "after": []},
    }
    async with db.connect() as conn:
        assert (await verify(conn, chain_of(WS))).ok


async def test_an_entry_rolled_back_with_its_change_leaves_nothing(db: AsyncEngine) -> None:
    await write(db, WS, note("env.updated"))
    async with db.connect() as conn, conn.begin() as tx:
        await record(conn, WS, ALICE, note("job.deleted"))
        await tx.rollback()
    await write(db, WS, note("workflow.deployed"))
    assert [(r.seq, r.action) for r in await rows(db, chain_of(WS))] == [(1, "env.updated"), (2, "workflow.deployed")]
    async with db.connect() as conn:
        assert (await verify(conn, chain_of(WS))).model_dump() == {"ok": True, "entries": 2, "broken": None}


async def test_a_chains_first_entry_rolled_back_leaves_no_head(db: AsyncEngine) -> None:
    async with db.connect() as conn, conn.begin() as tx:
        await record(conn, WS, ALICE, note())
        await tx.rollback()
    await write(db, WS, note())
    (row,) = await rows(db, chain_of(WS))
    assert (row.seq, row.prev_hash) == (1, GENESIS)


# --- PostgreSQL: concurrent writers ---------------------------------------------------------------------------


@pytest.fixture
async def wide(pg: AsyncEngine, database: str) -> AsyncIterator[AsyncEngine]:
    """The test database (audit tables emptied) through a pool of 10 connections: 10 writers at once."""
    eng = make_engine(database, pool_size=10)
    yield eng
    await eng.dispose()


async def _write_held(eng: AsyncEngine, workspace_id: uuid.UUID, n: int, barrier: asyncio.Barrier | None) -> int:
    """Record an entry, holding the head a moment before committing (so that others queue behind it)."""
    async with eng.begin() as conn:
        await conn.execute(sa.text("SELECT 1"))
        if barrier is not None:
            await barrier.wait()
        entry_id = await record(conn, workspace_id, ALICE, note(target_id=str(n)))
        await asyncio.sleep(0.002)
        return entry_id


async def test_concurrent_writers_of_one_chain_take_every_seq_once(wide: AsyncEngine) -> None:
    ids = await asyncio.gather(*(_write_held(wide, WS, n, None) for n in range(50)))
    found = await rows(wide, chain_of(WS))
    assert [r.seq for r in found] == list(range(1, 51))
    assert sorted(int(r.target_id) for r in found) == list(range(50))
    # Ids are taken under the head's lock, so they follow the seqs: a listing newest first is the chain reversed.
    assert [r.id for r in found] == sorted(ids)
    async with wide.connect() as conn:
        assert (await verify(conn, chain_of(WS))).model_dump() == {"ok": True, "entries": 50, "broken": None}


async def test_concurrent_first_entries_of_a_chain_make_one_head(wide: AsyncEngine) -> None:
    barrier = asyncio.Barrier(10)
    await asyncio.gather(*(_write_held(wide, WS, n, barrier) for n in range(10)))
    assert [r.seq for r in await rows(wide, chain_of(WS))] == list(range(1, 11))
    async with wide.connect() as conn:
        heads = (await conn.execute(sa.text("SELECT seq FROM audit_head WHERE chain = :c"), {"c": str(WS)})).all()
        assert [h.seq for h in heads] == [10]
        assert (await verify(conn, chain_of(WS))).ok


async def test_concurrent_writers_of_two_chains_keep_them_apart(wide: AsyncEngine) -> None:
    await asyncio.gather(*(_write_held(wide, (WS, OTHER_WS)[n % 2], n, None) for n in range(50)))
    for ws, targets in ((WS, range(0, 50, 2)), (OTHER_WS, range(1, 50, 2))):
        found = await rows(wide, chain_of(ws))
        assert [r.seq for r in found] == list(range(1, 26))
        assert sorted(int(r.target_id) for r in found) == list(targets)
        async with wide.connect() as conn:
            assert (await verify(conn, chain_of(ws))).model_dump() == {"ok": True, "entries": 25, "broken": None}


async def test_a_writer_waits_for_the_chains_head_but_not_for_another_chain(wide: AsyncEngine) -> None:
    async with wide.begin() as holder:
        await record(holder, WS, ALICE, note())
        # Another chain: not held up.
        await asyncio.wait_for(write(wide, OTHER_WS, note()), timeout=5)
        # The same chain: waits for the holder's commit.
        waiting = asyncio.create_task(write(wide, WS, note()))
        await asyncio.sleep(0.3)
        assert not waiting.done()
    await asyncio.wait_for(waiting, timeout=5)
    assert [r.seq for r in await rows(wide, chain_of(WS))] == [1, 2]


async def test_a_writer_behind_a_first_entry_rolled_back_starts_the_chain(wide: AsyncEngine) -> None:
    async with wide.connect() as holder, holder.begin() as tx:
        await record(holder, WS, ALICE, note("job.deleted"))
        waiting = asyncio.create_task(write(wide, WS, note("env.updated")))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        await tx.rollback()
    await asyncio.wait_for(waiting, timeout=5)
    found = await rows(wide, chain_of(WS))
    assert [(r.seq, r.action, r.prev_hash) for r in found] == [(1, "env.updated", GENESIS)]
    async with wide.connect() as conn:
        assert (await verify(conn, chain_of(WS))).ok
