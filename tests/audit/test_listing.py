"""service.page: entries newest first, filtered by chain, workflow, actor, action, category, target and time,
cursor-paginated with no entry twice and none left out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.audit.conftest import ALICE, BOB, note, write
from workflow_service.audit import recorder
from workflow_service.audit.chain import DEPLOYMENT_CHAIN, chain_of
from workflow_service.audit.repository import AuditFilter
from workflow_service.audit.schemas import AuditEntryRead
from workflow_service.audit.service import page
from workflow_service.core.pagination import encode_cursor, encode_int_cursor
from workflow_service.errors import InvalidInput

WS = uuid.UUID("018f0000-0000-7000-8000-000000000001")
OTHER_WS = uuid.UUID("018f0000-0000-7000-8000-000000000002")
WF_A = uuid.UUID("018f0000-0000-7000-8000-0000000000aa")
WF_B = uuid.UUID("018f0000-0000-7000-8000-0000000000bb")
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    """recorder's clock, a minute further on each time it is read."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        now, self.now = self.now, self.now + timedelta(minutes=1)
        return now


@pytest.fixture
async def logged(db: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[AuditEntryRead]:
    """Ten entries of WS (at T0, T0 + 1 min, …) and one of another workspace and one of none; WS's, newest first."""
    monkeypatch.setattr(recorder, "utcnow", Clock())
    plan: list[tuple[Any, ...]] = [
        (ALICE, "workflow.deployed", WF_A, "a"),
        (BOB, "job.deleted", WF_A, "j1"),
        (ALICE, "env.updated", WF_B, "b"),
        (ALICE, "member.role_changed", None, "u1"),
        (BOB, "job.deleted", WF_B, "j2"),
        (ALICE, "workflow.deployed", WF_B, "b"),
        (BOB, "apikey.created", WF_A, "k1"),
        (ALICE, "job.deleted", WF_A, "j3"),
        (ALICE, "env.updated", WF_A, "a"),
        (BOB, "workflow.deployed", WF_A, "a"),
    ]
    for actor, action, workflow_id, target in plan:
        await write(db, WS, note(action, workflow_id=workflow_id, target_id=target), actor)
    await write(db, OTHER_WS, note("workflow.deployed", workflow_id=WF_A, target_id="a"), ALICE)
    await write(db, None, note("auth.failed"), ALICE)
    return await everything(db, AuditFilter(chain=chain_of(WS)))


async def everything(eng: AsyncEngine, f: AuditFilter, limit: int = 100) -> list[AuditEntryRead]:
    """Every page of the listing, one after the other."""
    found: list[AuditEntryRead] = []
    cursor: str | None = None
    async with eng.connect() as conn:
        while True:
            got = await page(conn, f, cursor, limit)
            assert len(got.items) <= limit
            found += got.items
            if got.next_cursor is None:
                return found
            cursor = got.next_cursor


async def test_a_workspaces_log_is_its_chain_newest_first(logged: list[AuditEntryRead]) -> None:
    assert [e.seq for e in logged] == list(range(10, 0, -1))
    assert [e.id for e in logged] == sorted((e.id for e in logged), reverse=True)
    assert {e.workspace_id for e in logged} == {WS}


async def test_every_chain_without_a_chain_filter(db: AsyncEngine, logged: list[AuditEntryRead]) -> None:
    found = await everything(db, AuditFilter())
    assert len(found) == 12
    assert [e.workspace_id for e in found[:2]] == [None, OTHER_WS]
    found = await everything(db, AuditFilter(chain=DEPLOYMENT_CHAIN))
    assert [(e.action, e.workspace_id) for e in found] == [("auth.failed", None)]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("workflow_id", WF_A),
        ("workflow_id", WF_B),
        ("actor", BOB.id),
        ("actor", ALICE.id),
        ("action", "job.deleted"),
        ("action", "workflow.deployed"),
        ("category", "env"),
        ("target_id", "a"),
    ],
)
async def test_each_filter_keeps_only_its_entries(
    db: AsyncEngine, logged: list[AuditEntryRead], field: str, value: Any
) -> None:
    found = await everything(db, AuditFilter(chain=chain_of(WS), **{field: value}))
    expected = [e for e in logged if getattr(e, field) == value]
    assert expected
    assert found == expected


async def test_filters_combine(db: AsyncEngine, logged: list[AuditEntryRead]) -> None:
    f = AuditFilter(chain=chain_of(WS), workflow_id=WF_A, actor=ALICE.id, category="job")
    assert [(e.action, e.target_id) for e in await everything(db, f)] == [("job.deleted", "j3")]


async def test_a_time_window_includes_its_start_and_excludes_its_end(
    db: AsyncEngine, logged: list[AuditEntryRead]
) -> None:
    since, until = T0 + timedelta(minutes=2), T0 + timedelta(minutes=5)
    found = await everything(db, AuditFilter(chain=chain_of(WS), since=since, until=until))
    assert [e.at for e in found] == [T0 + timedelta(minutes=m) for m in (4, 3, 2)]
    assert [e.seq for e in found] == [5, 4, 3]
    assert len(await everything(db, AuditFilter(chain=chain_of(WS), since=since))) == 8
    assert len(await everything(db, AuditFilter(chain=chain_of(WS), until=until))) == 5


@pytest.mark.parametrize("limit", [1, 3, 4, 9, 10, 11])
async def test_pages_hold_every_entry_once(db: AsyncEngine, logged: list[AuditEntryRead], limit: int) -> None:
    found = await everything(db, AuditFilter(chain=chain_of(WS)), limit)
    assert found == logged


async def test_a_page_says_when_it_is_the_last(db: AsyncEngine, logged: list[AuditEntryRead]) -> None:
    async with db.connect() as conn:
        first = await page(conn, AuditFilter(chain=chain_of(WS)), None, 4)
        assert first.next_cursor is not None
        last = await page(conn, AuditFilter(chain=chain_of(WS)), encode_int_cursor(logged[5].id), 4)
    assert ([e.seq for e in first.items], [e.seq for e in last.items]) == ([10, 9, 8, 7], [4, 3, 2, 1])
    assert last.next_cursor is None


async def test_a_filter_matching_nothing_is_an_empty_page(db: AsyncEngine, logged: list[AuditEntryRead]) -> None:
    async with db.connect() as conn:
        got = await page(conn, AuditFilter(chain=chain_of(WS), action="token.revoked"), None, 10)
    assert (got.items, got.next_cursor) == ([], None)


@pytest.mark.parametrize("cursor", ["not a cursor!", "AAAA", encode_cursor(WF_A), "é"])
async def test_a_cursor_this_api_did_not_return_is_invalid_input(db: AsyncEngine, cursor: str) -> None:
    async with db.connect() as conn:
        with pytest.raises(InvalidInput, match="cursor is not one this API returned") as caught:
            await page(conn, AuditFilter(), cursor, 10)
    assert (caught.value.status, caught.value.extra["errors"][0]["path"]) == (422, "query:cursor")
