"""When a request is tried again, and after how long: the policy, and the state of one call's attempts
(shared by the sync and the async transport, which only sleep differently)."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field

import httpx

from wfs_client.errors import ConnectionFailed

REPLAYABLE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
"""Methods whose repetition does what one request does (RFC 9110 idempotent methods)."""
NOTHING_DONE_STATUSES = frozenset({429, 503})
"""Statuses that say the request was not acted on, so that even a POST without a key may be sent again."""
NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors raised before any byte of the request left: safe to retry for every method."""
BROKEN = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
"""Transport errors after which the request may have been acted on (the answer was lost)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is tried. `attempts` counts the first one. The wait before
    retry n is `backoff_s * 2**(n-1)`, at most `max_backoff_s`, with jitter (a random 50-100 % of it); a
    `Retry-After` answer (seconds or an HTTP date) is waited instead, capped at `max_backoff_s` too, so a
    call never sleeps longer than that between two attempts. `statuses` are the answers tried again."""

    attempts: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 20.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})

    def backoff(self, retry: int) -> float:
        """The wait before retry number `retry` (1 for the second attempt)."""
        return min(self.max_backoff_s, self.backoff_s * 2.0 ** (retry - 1)) * random.uniform(0.5, 1.0)


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a `Retry-After` header asks to wait (0 for a date in the past), None without a valid one."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class Attempts:
    """One call's attempts. After each failure `wait_after_*` says how long to sleep before the next one, or
    raises (ConnectionFailed) / returns None (keep the answer) when there is to be no next one. `replayable`:
    the request may be sent again even if the service may have acted on it (an idempotent method, or an
    Idempotency-Key)."""

    policy: RetryPolicy
    url: str
    replayable: bool
    made: int = field(default=0)

    def start(self) -> None:
        self.made += 1

    def wait_after_error(self, error: httpx.TransportError) -> float:
        cause = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if not isinstance(error, NOTHING_SENT + BROKEN):
            raise ConnectionFailed(self.url, cause, self.made) from error
        if not self.replayable and not isinstance(error, NOTHING_SENT):
            why = "; not retried: a request without an Idempotency-Key may have been acted on"
            raise ConnectionFailed(self.url, cause, self.made, why) from error
        if self.made >= self.policy.attempts:
            raise ConnectionFailed(self.url, cause, self.made) from error
        return self.policy.backoff(self.made)

    def wait_after_answer(self, response: httpx.Response) -> float | None:
        status = response.status_code
        if status not in self.policy.statuses or self.made >= self.policy.attempts:
            return None
        if not self.replayable and status not in NOTHING_DONE_STATUSES:
            return None
        asked = retry_after(response)
        return self.policy.backoff(self.made) if asked is None else min(asked, self.policy.max_backoff_s)
