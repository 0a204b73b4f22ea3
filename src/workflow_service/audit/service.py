"""Reading the audit log and verifying its chains. Recording is recorder.record."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.audit import repository as repo
from workflow_service.audit.chain import GENESIS, entry_hash
from workflow_service.audit.repository import AuditFilter
from workflow_service.audit.schemas import AuditEntryRead, AuditPage, BrokenEntry, ChainReport
from workflow_service.core.db import AnyRow
from workflow_service.core.pagination import decode_int_cursor, encode_int_cursor

__all__ = ["AuditFilter", "page", "verify"]

VERIFY_BATCH = 1000
"""How many entries verify() reads at a time."""


async def page(conn: AsyncConnection, f: AuditFilter, cursor: str | None, limit: int) -> AuditPage:
    """Entries matching `f`, newest first, `limit` at most, after `cursor` (a page's `next_cursor`)."""
    rows = await repo.list_entries(conn, f, before_id=decode_int_cursor(cursor), limit=limit + 1)
    items = [AuditEntryRead.model_validate(r) for r in rows[:limit]]
    return AuditPage(items=items, next_cursor=encode_int_cursor(rows[limit - 1].id) if len(rows) > limit else None)


async def verify(conn: AsyncConnection, chain: str, *, batch: int = VERIFY_BATCH) -> ChainReport:
    """Walk the chain in seq order, recomputing each entry's hash, and compare its end with the chain's head.

    Run it on a snapshot (core.db.snapshot), so that entries appended meanwhile do not look like a head
    that moved past the last entry read."""
    head = await repo.get_head(conn, chain)
    walk = _Walk(head_seq=0 if head is None else int(head.seq))
    rows: Sequence[AnyRow] = await repo.chain_rows(conn, chain, 0, batch)
    while rows and walk.broken is None:
        walk.check(rows)
        rows = [] if len(rows) < batch else await repo.chain_rows(conn, chain, walk.seq, batch)
    if walk.broken is None:
        walk.check_head(GENESIS if head is None else str(head.hash))
    return ChainReport(ok=walk.broken is None, entries=walk.entries, broken=walk.broken)


class _Walk:
    """Where a verification has got to: the last entry checked, and the first bad one, once found."""

    def __init__(self, head_seq: int) -> None:
        self.head_seq = head_seq
        self.seq = 0
        self.id: int | None = None
        self.hash = GENESIS
        self.entries = 0
        self.past_head: int | None = None
        """The id of the entry after the one the head says is the last, if there is one."""
        self.broken: BrokenEntry | None = None

    def check(self, rows: Sequence[AnyRow]) -> None:
        for row in rows:
            if row.seq != self.seq + 1:
                self.broken = BrokenEntry(id=None, seq=self.seq + 1, reason=f"entry seq {self.seq + 1} is missing")
                return
            self.entries += 1
            reason = self._fault(row)
            if reason is not None:
                self.broken = BrokenEntry(id=row.id, seq=row.seq, reason=reason)
                return
            if row.seq == self.head_seq + 1:
                self.past_head = row.id
            self.seq, self.id, self.hash = row.seq, row.id, row.hash

    def _fault(self, row: AnyRow) -> str | None:
        if entry_hash(dict(row._mapping), row.prev_hash) != row.hash:
            return "its content does not match its hash"
        if row.prev_hash != self.hash:
            previous = f"entry {self.seq}" if self.seq else "the chain's start"
            return f"its previous hash does not match {previous}"
        return None

    def check_head(self, head_hash: str) -> None:
        """The head must end where the entries do: at the last one's seq, with its hash."""
        if self.seq != self.head_seq:
            reason = f"the chain head says seq {self.head_seq} but the last entry is {self.seq}"
            # Entries past the head (the head was moved back), or the entries up to it missing (deleted).
            at = self.past_head if self.seq > self.head_seq else None
            self.broken = BrokenEntry(id=at, seq=min(self.seq, self.head_seq) + 1, reason=reason)
        elif head_hash != self.hash:
            reason = f"the chain head's hash does not match entry {self.seq}"
            self.broken = BrokenEntry(id=self.id, seq=self.seq, reason=reason)
