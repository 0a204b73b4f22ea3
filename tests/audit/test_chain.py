"""chain.entry_hash: one hash for one content, however it was read (PostgreSQL, SQLite, or as recorded), and a
different one when any column or the previous hash differs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.audit.conftest import ALICE
from workflow_service.audit import recorder
from workflow_service.audit.chain import CONTENT_COLUMNS, GENESIS, chain_of, entry_hash
from workflow_service.audit.recorder import Entry, Origin, record
from workflow_service.models import AuditEntry

WS = uuid.UUID("018f0000-0000-7000-8000-000000000001")
WORKFLOW = uuid.UUID("018f0000-0000-7000-8000-0000000000aa")
AT = datetime(2026, 2, 28, 23, 59, 59, 5, tzinfo=UTC)
CONTENT: dict[str, Any] = {
    "chain": str(WS),
    "seq": 3,
    "workspace_id": WS,
    "at": AT,
    "actor": ALICE.id,
    "actor_name": ALICE.name,
    "action": "env.updated",
    "category": "env",
    "target_id": "API_URL",
    "target_name": None,
    "workflow_id": WORKFLOW,
    "description": "Updated API_URL",
    "request_id": "req-9",
    "client_address": "::1",
    "changes": {"b": {"before": 1, "after": 2}, "a": {"before": None, "after": [1.5, "x"]}},
}
PREV = "ab" * 32
entry_t: sa.Table = AuditEntry.__table__  # type: ignore[assignment]


def test_the_hash_is_sha256_hex() -> None:
    digest = entry_hash(CONTENT, PREV)
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert digest == entry_hash(dict(CONTENT), PREV)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        pytest.param("at", AT.astimezone(timezone(timedelta(hours=-5))), id="other-zone"),
        pytest.param("at", AT.replace(tzinfo=None), id="naive-utc"),
        pytest.param("at", "2026-02-28 23:59:59.000005", id="sqlite-text"),
        pytest.param("at", "2026-03-01T00:59:59.000005+01:00", id="iso-text"),
        pytest.param("workspace_id", str(WS), id="uuid-text"),
        pytest.param("workflow_id", str(WORKFLOW).upper(), id="uuid-upper"),
        pytest.param("workflow_id", WORKFLOW.hex, id="uuid-hex"),
        pytest.param(
            "changes",
            {"a": {"after": [1.5, "x"], "before": None}, "b": {"after": 2.0, "before": 1}},
            id="key-order-and-int-float",
        ),
        pytest.param(
            "changes", {"a": {"before": None, "after": (1.5, "x")}, "b": {"before": 1.0, "after": 2}}, id="tuple"
        ),
        pytest.param(
            "changes", '{"b": {"after": 2, "before": 1}, "a": {"before": null, "after": [1.5, "x"]}}', id="json-text"
        ),
    ],
)
def test_the_same_content_in_another_form_has_the_same_hash(column: str, value: Any) -> None:
    assert entry_hash({**CONTENT, column: value}, PREV) == entry_hash(CONTENT, PREV)


def _other(column: str) -> Any:
    value = CONTENT[column]
    if isinstance(value, datetime):
        return value + timedelta(microseconds=1)
    if isinstance(value, uuid.UUID):
        return uuid.UUID(int=value.int + 1)
    if isinstance(value, int):
        return value + 1
    if isinstance(value, dict):
        return {**value, "a": {"before": None, "after": [1.5, "y"]}}
    return None if value is not None else ""


@pytest.mark.parametrize("column", CONTENT_COLUMNS)
def test_any_column_changed_changes_the_hash(column: str) -> None:
    assert entry_hash({**CONTENT, column: _other(column)}, PREV) != entry_hash(CONTENT, PREV)


def test_none_and_empty_text_differ() -> None:
    assert entry_hash({**CONTENT, "target_name": ""}, PREV) != entry_hash(CONTENT, PREV)


def test_the_previous_hash_changes_the_hash() -> None:
    assert entry_hash(CONTENT, GENESIS) != entry_hash(CONTENT, PREV)


def test_a_content_missing_a_column_is_refused() -> None:
    with pytest.raises(KeyError, match="client_address"):
        entry_hash({k: v for k, v in CONTENT.items() if k != "client_address"}, PREV)


def test_a_uuid_of_a_workspace_names_its_chain() -> None:
    assert (chain_of(WS), chain_of(None)) == (str(WS), "deployment")


async def _record_and_read(eng: AsyncEngine) -> sa.Row[tuple[Any, ...]]:
    entry = Entry(
        action="settings.updated",
        category="settings",
        description="Changed the retry policy",
        target_id=str(WORKFLOW),
        target_name="Summaries ✓",
        workflow_id=WORKFLOW,
        changes={
            "retry": {"before": {"max": 1, "backoff_s": 0.5}, "after": {"max": 3, "backoff_s": 1e16}},
            "tags": {"before": ["b", "a"], "after": None},
            "since": {"before": None, "after": AT},
        },
    )
    async with eng.begin() as conn:
        await record(conn, WS, ALICE, entry, Origin(request_id="req-1", client_address="192.0.2.1"))
    async with eng.connect() as conn:
        return (await conn.execute(sa.select(entry_t))).one()


async def test_the_same_entry_has_the_same_hash_on_postgresql_and_sqlite(
    pg: AsyncEngine, sqlite: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded at the same time on both databases, read back as each gives it: the same content, the same hash,
    and that hash is what the content hashes to."""
    monkeypatch.setattr(recorder, "utcnow", lambda: AT)
    on_pg, on_sqlite = await _record_and_read(pg), await _record_and_read(sqlite)
    assert on_pg.hash == on_sqlite.hash
    assert entry_hash(dict(on_pg._mapping), GENESIS) == on_pg.hash
    assert entry_hash(dict(on_sqlite._mapping), GENESIS) == on_sqlite.hash
    # The databases did give it back differently: JSONB a float as an integer, SQLite as a float.
    backoff = (on_pg.changes["retry"]["after"]["backoff_s"], on_sqlite.changes["retry"]["after"]["backoff_s"])
    assert backoff == (10**16, 1e16)
    assert (type(backoff[0]), type(backoff[1])) == (int, float)


async def test_raw_sql_reads_hash_alike_on_postgresql_and_sqlite(
    pg: AsyncEngine, sqlite: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read without the columns' types (SELECT * as text), each database gives its own forms: times as text on
    SQLite, UUIDs as 32 hex digits, JSON as text on both. The hash is still the one recorded."""
    monkeypatch.setattr(recorder, "utcnow", lambda: AT)
    recorded = (await _record_and_read(pg)).hash
    assert (await _record_and_read(sqlite)).hash == recorded
    for eng in (pg, sqlite):
        async with eng.connect() as conn:
            raw = (await conn.execute(sa.text("SELECT * FROM audit_entry"))).one()
        assert entry_hash(dict(raw._mapping), raw.prev_hash) == recorded
    assert isinstance(raw.at, str)
    assert raw.workflow_id == WORKFLOW.hex
