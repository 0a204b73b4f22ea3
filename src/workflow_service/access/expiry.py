"""Credentials expiring: API keys and personal tokens past their `expires_at` are marked revoked as of that
time, each recorded in the audit log as the service's own change (`apikey.expired`, `token.expired`).

An expired credential is refused from the moment it expires (access/credentials.py checks `expires_at` on
every use); the sweep makes it show as revoked, and records it once. It runs where the reconciler runs, in
every worker (worker/runtime.py): concurrent sweeps never mark, nor record, one credential twice.
"""

from __future__ import annotations

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
            await Author(key.workspace_id, SYSTEM).record(conn, _key_entry(key))
        tokens = await repo.revoke_expired_tokens(conn, at, batch)
        for token in tokens:
            await Author(token.workspace_id, SYSTEM).record(conn, _token_entry(token))
    return Expired(len(keys), len(tokens))


def _revoked(row: AnyRow) -> dict[str, dict[str, object]]:
    return {"revoked_at": {"before": None, "after": row.expires_at}}


def _key_entry(key: AnyRow) -> Entry:
    return Entry(
        action="apikey.expired",
        description=f"API key {key.name!r} ({key.prefix}) of workflow {key.slug!r} expired at "
        f"{key.expires_at.isoformat()}",
        target_id=str(key.id),
        target_name=key.name,
        workflow_id=key.workflow_id,
        changes=_revoked(key),
    )


def _token_entry(token: AnyRow) -> Entry:
    return Entry(
        action="token.expired",
        description=f"personal access token {token.name!r} ({token.prefix}) of {token.email} expired at "
        f"{token.expires_at.isoformat()}",
        target_id=str(token.id),
        target_name=token.name,
        changes=_revoked(token),
    )
