"""Credentials expiring: API keys and personal tokens past their `expires_at` are marked revoked as of that
time, each recorded in the audit log as the service's own change (`apikey.expired`, `token.expired`).

An expired credential is refused from the moment it expires (access/credentials.py checks `expires_at` on
every use); the sweep makes it show as revoked, and records it once. It runs where the reconciler runs, in
every worker (worker/runtime.py): concurrent sweeps never mark, nor record, one credential twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.access import repository as repo
from workflow_service.audit.recorder import SYSTEM, Author, Entry
from workflow_service.core.clock import utcnow
from workflow_service.core.db import AnyRow

BATCH = 100
"""How many keys, and how many tokens, one sweep marks at most."""


@dataclass(frozen=True, slots=True)
class Expired:
    """What a sweep marked revoked."""

    keys: int
    tokens: int


async def expire_credentials(engine: AsyncEngine, now: datetime | None = None, batch: int = BATCH) -> Expired:
    """Mark the API keys and personal tokens past their expiry at `now` revoked, recording each, in one
    transaction."""
    at = now or utcnow()
    async with engine.begin() as conn:
        keys = await repo.revoke_expired_keys(conn, at, batch)
        for key in keys:
            label = f"API key {key.name!r} ({key.prefix}) of workflow {key.slug!r}"
            entry = _entry("apikey.expired", key, label, key.workflow_id)
            await Author(key.workspace_id, SYSTEM).record(conn, entry)
        tokens = await repo.revoke_expired_tokens(conn, at, batch)
        for token in tokens:
            label = f"personal access token {token.name!r} ({token.prefix}) of {token.email}"
            await Author(token.workspace_id, SYSTEM).record(conn, _entry("token.expired", token, label))
    return Expired(len(keys), len(tokens))


def _entry(action: str, row: AnyRow, label: str, workflow_id: uuid.UUID | None = None) -> Entry:
    """The entry of a key or token (`row`, named `label`) marked revoked as of its expiry."""
    return Entry(
        action=action,
        description=f"{label} expired at {row.expires_at.isoformat()}",
        target_id=str(row.id),
        target_name=row.name,
        workflow_id=workflow_id,
        changes={"revoked_at": {"before": None, "after": row.expires_at}},
    )
