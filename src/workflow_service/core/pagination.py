"""Opaque cursors for keyset pagination over time-ordered ids."""

from __future__ import annotations

import base64
import binascii
import uuid

from workflow_service.errors import InvalidInput


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> uuid.UUID | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(
            "cursor is not one this API returned", errors=[{"path": "query:cursor", "message": "invalid cursor"}]
        ) from exc
