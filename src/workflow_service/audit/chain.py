"""The hash that chains an audit entry to the one before it.

An entry's `hash` is SHA-256 over a canonical serialization of its content and the previous entry's hash (the
chain's first entry follows `GENESIS`). Canonical means the same bytes for the same row however it was read:
from PostgreSQL or SQLite, typed by the table's columns or as raw SQL gives it, as the recorder held it or as
the database gave it back. So every value is brought to one form first: datetimes as ISO-8601 UTC with
microseconds and a `Z`, UUIDs as their lower-case hyphenated text, JSON object keys sorted, and an integral
float within 64 bits as an integer (PostgreSQL's JSONB gives `1e16` back as `10000000000000000`, SQLite as
`1e16`). Columns read as text are parsed first (SQLite's `2026-01-02 03:04:05.000006` and 32 hex digits of a
UUID, JSON text).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS = "0" * 64
"""The previous hash of a chain's first entry."""
DEPLOYMENT_CHAIN = "deployment"
"""The chain of entries of no workspace (the operator's actions on the deployment, sign-in failures)."""
CONTENT_COLUMNS = (
    "chain",
    "seq",
    "workspace_id",
    "at",
    "actor",
    "actor_name",
    "action",
    "category",
    "target_id",
    "target_name",
    "workflow_id",
    "description",
    "request_id",
    "client_address",
    "changes",
)
"""The columns an entry's hash covers: every column but its id and the two hashes."""
_FROM_TEXT: Mapping[str, Callable[[str], Any]] = {
    "at": datetime.fromisoformat,
    "workspace_id": uuid.UUID,
    "workflow_id": uuid.UUID,
    "changes": orjson.loads,
}
"""How a column that raw SQL reads as text is parsed to the value its column type reads."""

_INT64 = 2**63


def chain_of(workspace_id: uuid.UUID | None) -> str:
    """The chain an entry of this workspace (None: of no workspace) belongs to."""
    return DEPLOYMENT_CHAIN if workspace_id is None else str(workspace_id)


def entry_hash(content: Mapping[str, Any], prev_hash: str) -> str:
    """The hash of an entry with this content (a row, or a mapping with every `CONTENT_COLUMNS` key)."""
    document = {column: _canonical(_typed(column, content[column])) for column in CONTENT_COLUMNS}
    document["prev_hash"] = prev_hash
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _typed(column: str, value: Any) -> Any:
    parse = _FROM_TEXT.get(column)
    return parse(value) if parse is not None and isinstance(value, str) else value


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        # A naive datetime is UTC (what SQLite stores, when read without the column's type).
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < _INT64:
        return int(value)
    return value
