"""Opaque cursors for keyset pagination: over time-ordered ids (UUIDs), ascending integer ids, or any
sort key with an id to break its ties (a small JSON object)."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

import orjson

from workflow_service.errors import InvalidInput


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _invalid() from exc


def _invalid() -> InvalidInput:
    return InvalidInput(
        "cursor is not one this API returned", errors=[{"path": "query:cursor", "message": "invalid cursor"}]
    )


def encode_cursor(last_id: uuid.UUID) -> str:
    return _encode(last_id.bytes)


def decode_cursor(cursor: str | None) -> uuid.UUID | None:
    if not cursor:
        return None
    try:
        return uuid.UUID(bytes=_decode(cursor))
    except ValueError as exc:
        raise _invalid() from exc


_INT_BYTES = 8


def encode_int_cursor(last_id: int) -> str:
    """A cursor over a table with an integer key (a BIGINT: 8 bytes)."""
    return _encode(last_id.to_bytes(_INT_BYTES, "big"))


def decode_int_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    raw = _decode(cursor)
    if len(raw) != _INT_BYTES:
        raise _invalid()
    return int.from_bytes(raw, "big")


def encode_json_cursor(position: dict[str, Any]) -> str:
    """A cursor holding `position` (JSON: the sort it belongs to, the last row's key and id)."""
    return _encode(orjson.dumps(position))


def decode_json_cursor(cursor: str) -> dict[str, Any]:
    """The position `encode_json_cursor` wrote; 422 for anything else."""
    try:
        position = orjson.loads(_decode(cursor))
    except orjson.JSONDecodeError as exc:
        raise _invalid() from exc
    if not isinstance(position, dict):
        raise _invalid()
    return position


def invalid_cursor(why: str = "invalid cursor") -> InvalidInput:
    """The 422 of a cursor that is not one this API returned (for this listing)."""
    return InvalidInput(
        f"cursor is not one this API returned: {why}", errors=[{"path": "query:cursor", "message": why}]
    )
