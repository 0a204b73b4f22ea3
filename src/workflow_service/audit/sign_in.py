"""Sign-in failures in the audit log: a request whose credential is invalid, expired or revoked.

The authentication middleware records each one (`auth.sign_in_failed`) in a short transaction of its own, in the
credential's workspace chain as its holder when the credential is known (an expired or revoked key or token),
else in the deployment's chain as `system` ("unknown credential"). The description says why, never the token.
A flood of bad tokens must not fill the log: `FailureLimiter` lets through at most one entry per client address
and reason per window (10 s), and tracks a bounded number of them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.audit.recorder import Actor, Entry, Origin, record

log = logging.getLogger(__name__)

UNKNOWN = Actor("system", "unknown credential")
"""Who failed to sign in when the credential names nobody (an unknown or malformed token)."""
WINDOW_S = 10.0
MAX_TRACKED = 1000
"""How many (address, reason) pairs one window tracks: past it, further failures are not recorded until
some leave the window (a flood from many addresses costs at most this many entries per window)."""


@dataclass(slots=True)
class FailureLimiter:
    """At most one recorded failure per client address and reason per `window_s`, in this process."""

    window_s: float = WINDOW_S
    max_tracked: int = MAX_TRACKED
    clock: Callable[[], float] = time.monotonic
    _last: dict[tuple[str | None, str], float] = field(default_factory=dict)

    def allow(self, address: str | None, reason: str) -> bool:
        """Whether a failure from `address` for `reason` is recorded now (and, if so, the window starts)."""
        now = self.clock()
        key = (address, reason)
        last = self._last.get(key)
        if last is not None and now - last < self.window_s:
            return False
        if last is None and len(self._last) >= self.max_tracked:
            self._last = {k: at for k, at in self._last.items() if now - at < self.window_s}
            if len(self._last) >= self.max_tracked:
                return False
        self._last[key] = now
        return True


@dataclass(frozen=True, slots=True)
class SignInFailure:
    """A credential refused: why, and whose it was when known (its workspace and holder)."""

    reason: str
    workspace_id: uuid.UUID | None = None
    actor: Actor = UNKNOWN


@dataclass(slots=True)
class SignInFailures:
    """Records sign-in failures, as the limiter allows."""

    limiter: FailureLimiter = field(default_factory=FailureLimiter)

    async def record(self, engine: AsyncEngine, failure: SignInFailure, origin: Origin) -> bool:
        """Record the failure in a transaction of its own, unless the limiter holds it back; whether it was
        recorded. A failure to record (the database unavailable) is logged, never raised: the caller still
        answers 401."""
        if not self.limiter.allow(origin.client_address, failure.reason):
            return False
        entry = Entry(
            action="auth.sign_in_failed",
            description=f"sign-in failed: {failure.reason}",
            target_id=None if failure.actor is UNKNOWN else failure.actor.id,
            target_name=None if failure.actor is UNKNOWN else failure.actor.name,
        )
        try:
            async with engine.begin() as conn:
                await record(conn, failure.workspace_id, failure.actor, entry, origin)
        except Exception:
            log.warning("could not record a sign-in failure in the audit log", exc_info=True)
            return False
        return True
