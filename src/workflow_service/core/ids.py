"""Time-ordered UUIDs (version 7, RFC 9562), so ids sort by creation and make good cursors.

Ids made in the same millisecond by one process stay in order: the 12-bit `rand_a` field is a
counter seeded randomly each millisecond (RFC 9562 §6.2, method 1); when it runs out, the
timestamp is advanced by one millisecond.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import datetime

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _counter = ms, int.from_bytes(os.urandom(2), "big") & 0x7FF  # leave room to count
        else:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms, _counter = _last_ms + 1, 0
        ms, counter = _last_ms, _counter
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def uuid7_floor(at: datetime) -> uuid.UUID:
    """The smallest UUIDv7 of the millisecond `at`: every id made before `at` sorts below it."""
    return uuid.UUID(int=(int(at.timestamp() * 1000) & ((1 << 48) - 1)) << 80)


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
