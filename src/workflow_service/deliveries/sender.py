"""A worker's callback sender: every due delivery is sent on its own, under a limit for the worker
(WFS_DELIVERY_CONCURRENCY) and one per receiver (WFS_DELIVERY_CONCURRENCY_PER_RECEIVER).

A send never waits for another: a receiver that hangs holds only its own slots until the delivery
timeout, and every other receiver's callbacks keep going out as soon as they are due.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.config import Settings
from workflow_service.deliveries import service

log = logging.getLogger(__name__)


class DeliverySender:
    def __init__(
        self, engine: AsyncEngine, http: httpx.AsyncClient, settings: Settings, on_free: Callable[[], None]
    ) -> None:
        self.engine, self.http, self.settings = engine, http, settings
        self._on_free = on_free
        """Called whenever a send ends: a slot is free, so there may be more to claim."""
        self._sending: set[asyncio.Task[None]] = set()
        self._per_receiver: Counter[str] = Counter()

    @property
    def free(self) -> int:
        """Slots left under the worker's limit."""
        return self.settings.delivery_concurrency - len(self._sending)

    def room(self, receiver: str) -> int:
        """Slots left for one receiver."""
        return self.settings.delivery_concurrency_per_receiver - self._per_receiver[receiver]

    async def send_due(self) -> int:
        """Claim what is due and has room, and start sending each at once. Returns how many started."""
        if self.free <= 0:
            return 0
        claimed = await service.claim_due(self.engine, self.settings, self.free, self.room)
        for due in claimed:
            self._start(due)
        return len(claimed)

    def _start(self, due: service.Due) -> None:
        self._per_receiver[due.receiver] += 1
        task = asyncio.create_task(self._send(due), name=f"delivery {due.id}")
        self._sending.add(task)

        def done(_: asyncio.Task[None]) -> None:
            self._sending.discard(task)
            self._per_receiver[due.receiver] -= 1
            if self._per_receiver[due.receiver] <= 0:
                del self._per_receiver[due.receiver]
            self._on_free()

        task.add_done_callback(done)

    async def _send(self, due: service.Due) -> None:
        try:
            await service.attempt(self.engine, self.http, self.settings, due.id, "schedule")
        except Exception:
            # Not recorded (the database went away mid-attempt): the claim lapses and it is sent again.
            log.warning("sending callback %s failed; it will be retried", due.id, exc_info=True)

    async def drain(self) -> None:
        """Wait for the sends under way (each is bounded by the delivery timeout) and their records."""
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
