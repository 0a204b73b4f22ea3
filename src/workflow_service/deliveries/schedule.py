"""When to try a failed delivery again: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
(Svix's schedule), each with ±20 % jitter, scaled by WFS_DELIVERY_SCHEDULE_SCALE, never sooner than
the receiver's Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

DELAYS_S = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_ATTEMPTS = len(DELAYS_S) + 1
MAX_RETRY_AFTER_S = 86400


def next_delay(failed_attempts: int, scale: float, retry_after: float | None = None) -> float | None:
    """Seconds until the next attempt after `failed_attempts` failures, or None when there is none left."""
    if failed_attempts >= MAX_ATTEMPTS:
        return None
    delay = DELAYS_S[failed_attempts - 1] * scale * random.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds (RFC 9110: delay-seconds or an HTTP-date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
