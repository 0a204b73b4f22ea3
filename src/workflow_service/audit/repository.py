"""The audit log's queries: the chain head, appending an entry, listing and walking entries.

Entries are only ever inserted: there is no statement here that updates or deletes one."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.audit.chain import GENESIS
from workflow_service.core.db import AnyRow
from workflow_service.models import AuditEntry, AuditHead

entry_t: sa.Table = AuditEntry.__table__  # type: ignore[assignment]
head_t: sa.Table = AuditHead.__table__  # type: ignore[assignment]

TEXT_LIMITS: Mapping[str, int] = {
    c.name: c.type.length for c in entry_t.columns if isinstance(c.type, sa.String) and c.type.length is not None
}
"""The longest value each bounded text column holds (PostgreSQL refuses a longer one; SQLite would keep it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditFilter:
    """Which entries a listing shows: those matching every field set (None: any)."""

    chain: str | None = None
    """A workspace's chain (chain.chain_of), or None for every chain."""
    workflow_id: uuid.UUID | None = None
    actor: str | None = None
    action: str | None = None
    category: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    """Entries at or after this time."""
    until: datetime | None = None
    """Entries before this time."""


async def advance_head(conn: AsyncConnection, chain: str) -> tuple[int, str]:
    """Take the chain's next seq and the hash of its last entry (GENESIS and seq 1 for a new chain).

    One upsert, on both databases: it creates the head row for the chain's first entry, else adds one to its
    seq. Either way the row stays locked until the transaction ends, so the writers of one chain append in turn;
    a concurrent first entry waits for the other's insert and then updates the row it made."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(head_t)
        .values(chain=chain, seq=1, hash=GENESIS)
        .on_conflict_do_update(index_elements=[head_t.c.chain], set_={"seq": head_t.c.seq + 1})
        .returning(head_t.c.seq, head_t.c.hash)
    )
    row = (await conn.execute(stmt)).one()
    return int(row.seq), str(row.hash)


async def insert_entry(conn: AsyncConnection, values: Mapping[str, Any]) -> int:
    """Append an entry; its id."""
    stmt = entry_t.insert().values(dict(values)).returning(entry_t.c.id)
    return int((await conn.execute(stmt)).scalar_one())


async def set_head_hash(conn: AsyncConnection, chain: str, entry_hash: str) -> None:
    """The chain's head now ends at the entry of this hash (the caller holds the row: advance_head)."""
    await conn.execute(head_t.update().where(head_t.c.chain == chain).values(hash=entry_hash))


async def get_head(conn: AsyncConnection, chain: str) -> AnyRow | None:
    return (await conn.execute(sa.select(head_t.c.seq, head_t.c.hash).where(head_t.c.chain == chain))).first()


def _where(f: AuditFilter) -> list[sa.ColumnElement[bool]]:
    equal = (
        (entry_t.c.chain, f.chain),
        (entry_t.c.workflow_id, f.workflow_id),
        (entry_t.c.actor, f.actor),
        (entry_t.c.action, f.action),
        (entry_t.c.category, f.category),
        (entry_t.c.target_id, f.target_id),
    )
    clauses = [column == value for column, value in equal if value is not None]
    if f.since is not None:
        clauses.append(entry_t.c.at >= f.since)
    if f.until is not None:
        clauses.append(entry_t.c.at < f.until)
    return clauses


async def list_entries(conn: AsyncConnection, f: AuditFilter, before_id: int | None, limit: int) -> Sequence[AnyRow]:
    """Entries matching `f`, newest (highest id) first, those with an id below `before_id` when it is set."""
    stmt = sa.select(entry_t).where(*_where(f))
    if before_id is not None:
        stmt = stmt.where(entry_t.c.id < before_id)
    return (await conn.execute(stmt.order_by(entry_t.c.id.desc()).limit(limit))).all()


async def chain_rows(conn: AsyncConnection, chain: str, after_seq: int, limit: int) -> Sequence[AnyRow]:
    """The chain's entries past `after_seq`, in seq order (for verifying it)."""
    stmt = (
        sa.select(entry_t)
        .where(entry_t.c.chain == chain, entry_t.c.seq > after_seq)
        .order_by(entry_t.c.seq)
        .limit(limit)
    )
    return (await conn.execute(stmt)).all()
