from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEntryRead(BaseModel):
    """One action on something: who did what, when, to what, and from where."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="The entry's id; entries are listed newest (highest id) first.")
    seq: int = Field(description="Its place in its workspace's chain: 1, 2, …, with no gaps.")
    workspace_id: uuid.UUID | None = Field(description="The workspace acted in; null for the deployment's entries.")
    at: datetime = Field(description="When the action was done (UTC).")
    actor: str = Field(description="Who did it: `admin` (the operator), `user:<id>`, `key:<id>` or `system`.")
    actor_name: str = Field(description="The actor's name (a user's email, a key's name) as it was then.")
    action: str = Field(description="What was done, a stable name such as `workflow.deployed` or `job.deleted`.")
    category: str = Field(description="The kind of object acted on: `workflow`, `env`, `member`, `job`, `apikey`, …")
    target_id: str | None = Field(description="The id of the object acted on, if any.")
    target_name: str | None = Field(description="Its name as it was then, if it has one.")
    workflow_id: uuid.UUID | None = Field(description="The workflow the action concerns, if any.")
    description: str = Field(description="What happened, in a sentence.")
    request_id: str | None = Field(description="The id of the request that did it; null for the service's own.")
    client_address: str | None = Field(description="The address the request came from.")
    changes: dict[str, Any] | None = Field(
        description='For configuration changes: `{field: {"before": …, "after": …}}` of each changed field, '
        'secret values shown as `"[redacted]"`.'
    )
    prev_hash: str = Field(description="The hash of the chain's previous entry (64 zeros for the first).")
    hash: str = Field(description="SHA-256 over this entry's content and `prev_hash` (see docs/audit.md).")


class AuditPage(BaseModel):
    items: list[AuditEntryRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class BrokenEntry(BaseModel):
    """The first entry of a chain that fails verification."""

    id: int | None = Field(description="The entry's id; null when the entry is missing.")
    seq: int = Field(description="Its seq in the chain (of the missing entry, when one is missing).")
    reason: str = Field(description="What is wrong, e.g. `its content does not match its hash`.")


class ChainReport(BaseModel):
    """Whether a chain is intact: each entry's hash matches its content and the previous entry's hash."""

    ok: bool = Field(description="True when every entry checked out and the chain's head matches its last one.")
    entries: int = Field(description="How many entries were checked (up to and including the first bad one).")
    broken: BrokenEntry | None = Field(description="The first bad entry; null when `ok`.")
