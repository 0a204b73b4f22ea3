"""The cursors of the monitor's pages: where the page before ended (the last item's key), and the window it
listed, so that the next pages keep that window when `from` and `to` are not given again (else `to`, which
defaults to now, would move between pages)."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from workflow_service.errors import InvalidInput
from workflow_service.monitor.window import EPOCH

_TIME_BYTES = 8
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Cursor:
    key: bytes
    start: datetime
    end: datetime

    @property
    def job_id(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.key)

    @property
    def call(self) -> tuple[uuid.UUID, int]:
        """A model call's key: its run's id and its step record's id."""
        return uuid.UUID(bytes=self.key[:16]), int.from_bytes(self.key[16:], "big")


def _micros(at: datetime) -> bytes:
    return ((at - EPOCH) // _MICROSECOND).to_bytes(_TIME_BYTES, "big", signed=True)


def encode(key: bytes, start: datetime, end: datetime) -> str:
    raw = key + _micros(start) + _micros(end)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def job_key(job_id: uuid.UUID) -> bytes:
    return job_id.bytes


def call_key(job_id: uuid.UUID, record_id: int) -> bytes:
    return job_id.bytes + record_id.to_bytes(8, "big")


JOB_KEY_BYTES = 16
CALL_KEY_BYTES = 24


def decode(cursor: str | None, key_bytes: int) -> Cursor | None:
    """The cursor a page answered (None: the first page); 422 naming `cursor` for anything else."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as exc:
        raise _invalid() from exc
    if len(raw) != key_bytes + 2 * _TIME_BYTES:
        raise _invalid()
    times = raw[key_bytes:]
    try:
        start, end = (EPOCH + int.from_bytes(p, "big", signed=True) * _MICROSECOND for p in (times[:8], times[8:]))
    except OverflowError as exc:  # not a time this API wrote
        raise _invalid() from exc
    return Cursor(raw[:key_bytes], start, end)


def _invalid() -> InvalidInput:
    return InvalidInput(
        "cursor is not one this API returned", errors=[{"path": "query:cursor", "message": "invalid cursor"}]
    )
