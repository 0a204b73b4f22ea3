"""Telling other processes that a job ended (sync waiters) or must stop (cancel).

Redis pub/sub when distributed, in-process when embedded. A notification is only a hint to look at
the database now: a lost one costs latency, never correctness (waiters also poll slowly, and
workers re-check cancellations on every heartbeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from workflow_service.core.batch import Batcher

log = logging.getLogger(__name__)

ENDED = "wfs:jobs:ended"
CANCEL = "wfs:jobs:cancel"

CancelHandler = Callable[[uuid.UUID], Awaitable[None]]


class Notifier:
    """In-process notifications; the base of the Redis one."""

    def __init__(self) -> None:
        self._waiters: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)
        self._cancel_handlers: list[CancelHandler] = []

    @contextlib.asynccontextmanager
    async def watch(self, job_id: uuid.UUID) -> AsyncIterator[asyncio.Event]:
        """An event set when `job_id` is announced as ended; register before reading the job's status."""
        event = asyncio.Event()
        self._waiters[job_id].add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[job_id]

    def on_cancel(self, handler: CancelHandler) -> None:
        self._cancel_handlers.append(handler)

    def _ended(self, job_id: uuid.UUID) -> None:
        for event in self._waiters.get(job_id, ()):
            event.set()

    async def _canceled(self, job_id: uuid.UUID) -> None:
        for handler in self._cancel_handlers:
            try:
                await handler(job_id)
            except Exception:
                log.exception("cancel handler failed for job %s", job_id)

    async def job_ended(self, job_id: uuid.UUID) -> None:
        self._ended(job_id)

    async def cancel_job(self, job_id: uuid.UUID) -> None:
        await self._canceled(job_id)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisNotifier(Notifier):
    """Publishes on Redis channels; one subscriber connection per process feeds the local waiters."""

    def __init__(self, redis_url: str) -> None:
        super().__init__()
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.Redis.from_url(redis_url)
        self._task: asyncio.Task[None] | None = None
        self._announcements: Batcher[uuid.UUID, None] = Batcher(self._announce_ended)

    async def job_ended(self, job_id: uuid.UUID) -> None:
        """Announce without waiting for Redis: the ends of jobs that finish while one message is on its way
        go out together in the next (a worker ending many jobs at once sends a few messages, not one each)."""
        self._ended(job_id)  # waiters in this process need no round trip
        self._announcements.submit(job_id)

    async def _announce_ended(self, job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, None]:
        await self._publish(ENDED, job_ids)
        return {}

    async def cancel_job(self, job_id: uuid.UUID) -> None:
        await self._canceled(job_id)
        await self._publish(CANCEL, [job_id])

    async def _publish(self, channel: str, job_ids: Sequence[uuid.UUID]) -> None:
        """One message naming the jobs, comma-separated."""
        try:
            await self._redis.publish(channel, ",".join(map(str, job_ids)))
        except Exception:
            log.warning("could not publish %s for %d job(s)", channel, len(job_ids), exc_info=True)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="notify-listener")

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(ENDED, CANCEL)
                delay = 0.5
                async for message in pubsub.listen():
                    try:
                        job_ids = [uuid.UUID(part) for part in message["data"].decode().split(",")]
                    except (AttributeError, ValueError):  # not ours (anyone with Redis access can publish)
                        log.warning("ignoring a malformed notification on %r", message.get("channel"))
                        continue
                    for job_id in job_ids:
                        if message["channel"] == ENDED.encode():
                            self._ended(job_id)
                        else:
                            await self._canceled(job_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notification listener lost Redis (%s); reconnecting in %.1f s", exc, delay)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def close(self) -> None:
        await self._announcements.flush()  # what is still to be announced goes out first
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()
