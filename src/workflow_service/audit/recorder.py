"""Recording an action: the one call every route (and every system event) that changes something makes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.audit import repository as repo
from workflow_service.audit.chain import chain_of, entry_hash
from workflow_service.core.clock import utcnow
from workflow_service.core.db import json_text


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted."""

    id: str
    """`admin` (the operator), `user:<uuid>`, `key:<uuid>` or `system`."""
    name: str
    """For people reading the log: the user's email or name, the key's name."""


SYSTEM = Actor("system", "system")
"""The service itself (a push disabled after a 410, a key expiring)."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the request came from (nothing, for the service's own actions)."""

    request_id: str | None = None
    client_address: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """What was done."""

    action: str
    """A stable name, `<category>.<verb in the past tense>`: `workflow.deployed`, `env.updated`, `job.deleted`."""
    description: str
    """For humans: what happened, in a sentence."""
    category: str = ""
    """The kind of object: `workflow`, `env`, `member`, `job`, `apikey`, `token`, `workspace`, `settings`, `auth`;
    by default the action's prefix (`env` for `env.updated`)."""
    target_id: str | None = None
    target_name: str | None = None
    workflow_id: uuid.UUID | None = None
    """The workflow the action concerns, if any: the entry shows in that workflow's audit log."""
    changes: Mapping[str, Any] | None = None
    """For configuration changes: redact.changes(before, after)."""

    def __post_init__(self) -> None:
        if not self.category:
            object.__setattr__(self, "category", self.action.partition(".")[0])


async def record(
    conn: AsyncConnection, workspace_id: uuid.UUID | None, actor: Actor, entry: Entry, origin: Origin = Origin()
) -> int:
    """Append an entry to the workspace's chain (None: the deployment's) in the caller's transaction; its id.

    The chain's head stays locked until that transaction ends (repository.advance_head): entries of one chain
    are appended one at a time, each hashed over the previous one's hash. If the transaction rolls back, the
    entry and the head's move go with it."""
    chain = chain_of(workspace_id)
    seq, prev_hash = await repo.advance_head(conn, chain)
    content: dict[str, Any] = {
        "chain": chain,
        "seq": seq,
        "workspace_id": workspace_id,
        # Taken under the head's lock, so that times follow seqs within a chain.
        "at": utcnow(),
        "actor": actor.id,
        "actor_name": actor.name,
        "action": entry.action,
        "category": entry.category,
        "target_id": entry.target_id,
        "target_name": entry.target_name,
        "workflow_id": entry.workflow_id,
        "description": entry.description,
        "request_id": origin.request_id,
        "client_address": origin.client_address,
        # Hashed as the database will give it back: JSON values only (datetimes as text, tuples as lists).
        "changes": None if entry.changes is None else orjson.loads(json_text(entry.changes)),
    }
    content.update({k: _clipped(v, repo.TEXT_LIMITS[k]) for k, v in content.items() if k in repo.TEXT_LIMITS})
    digest = entry_hash(content, prev_hash)
    entry_id = await repo.insert_entry(conn, {**content, "prev_hash": prev_hash, "hash": digest})
    await repo.set_head_hash(conn, chain, digest)
    return entry_id


@dataclass(frozen=True, slots=True)
class Author:
    """Who records entries, and where: an actor acting in a workspace (None: the deployment), from an origin.
    Records on whichever connection the change is made with, for a change made outside a request's unit of
    work (a redelivery) or by the service itself (`Author(workspace_id, SYSTEM)`)."""

    workspace_id: uuid.UUID | None
    actor: Actor
    origin: Origin = Origin()

    async def record(self, conn: AsyncConnection, entry: Entry) -> int:
        """Append `entry` in `conn`'s transaction (see `record`); its id."""
        return await record(conn, self.workspace_id, self.actor, entry, self.origin)


def _clipped(value: Any, limit: int) -> Any:
    """A text cut to fit its column, ending in `…` when cut: a long name or a client's long request id is
    recorded shortened rather than failing the action it records."""
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    return value
