"""Telling other processes that a job ended (sync waiters), changed (its followers), or must stop (cancel).

Redis pub/sub when distributed, in-process when embedded. A notification is only a hint to look at
the database now: a lost one costs latency, never correctness (waiters and followers also poll slowly,
and workers re-check cancellations on every heartbeat).

A change short of a job's end (claimed, a step started or ended, back to pending) is published only
for jobs someone follows (an event stream, a long poll): the follower's process announces the job on
WATCHING, every process remembers it for a while, and the one that changes the job publishes CHANGED
only if it is remembered there. Deciding that costs a dictionary lookup, no round trip, so the
worker's hot path stays as it is for the jobs no one follows.

Redis delivers a message to every subscriber of its channel on the server, whatever database each selected,
so the channels carry the database's number (`scoped`): services that share a server on different databases
do not hear each other's notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any

from workflow_service.core.batch import Batcher

log = logging.getLogger(__name__)

ENDED = "wfs:jobs:ended"
CANCEL = "wfs:jobs:cancel"
CHANGED = "wfs:jobs:changed"
"""A followed job changed short of its end; sent in batches, like ENDED."""
WATCHING = "wfs:jobs:watching"
"""Jobs some process follows: announced when following starts, and again every WATCH_REFRESH_S."""
WATCH_REFRESH_S = 10.0
WATCH_TTL_S = 3 * WATCH_REFRESH_S
"""How long a process remembers a job announced on WATCHING (a few refreshes may be lost)."""
_PER_MESSAGE = 500
"""Job ids in one WATCHING message at most."""


def scoped(channel: str, database: int) -> str:
    """The name of `channel` for the service whose Redis database is `database`."""
    return f"{channel}@db{database}"


CancelHandler = Callable[[uuid.UUID], Awaitable[None]]
Events = defaultdict[uuid.UUID, set[asyncio.Event]]


@contextlib.contextmanager
def _registered(events: Events, job_id: uuid.UUID) -> Iterator[asyncio.Event]:
    """A new event in `events[job_id]` while the block runs."""
    event = asyncio.Event()
    events[job_id].add(event)
    try:
        yield event
    finally:
        registered = events.get(job_id)
        if registered is not None:
            registered.discard(event)
            if not registered:
                del events[job_id]


def _set(events: Events, job_id: uuid.UUID) -> None:
    for event in events.get(job_id, ()):
        event.set()


class Notifier:
    """In-process notifications; the base of the Redis one."""

    def __init__(self) -> None:
        self._waiters: Events = defaultdict(set)
        self._followers: Events = defaultdict(set)
        self._cancel_handlers: list[CancelHandler] = []

    @contextlib.asynccontextmanager
    async def watch(self, job_id: uuid.UUID) -> AsyncIterator[asyncio.Event]:
        """An event set when `job_id` is announced as ended; register before reading the job's status."""
        with _registered(self._waiters, job_id) as event:
            yield event

    @contextlib.asynccontextmanager
    async def follow(self, job_id: uuid.UUID) -> AsyncIterator[asyncio.Event]:
        """An event set whenever `job_id` is announced as changed or ended. Enter before reading the job, and
        clear the event before each read: what changes after a read sets it again."""
        with _registered(self._followers, job_id) as event:
            await self._following(job_id)
            yield event

    async def _following(self, job_id: uuid.UUID) -> None:
        return None

    def on_cancel(self, handler: CancelHandler) -> None:
        self._cancel_handlers.append(handler)

    def _ended(self, job_id: uuid.UUID) -> None:
        _set(self._waiters, job_id)
        _set(self._followers, job_id)

    async def _canceled(self, job_id: uuid.UUID) -> None:
        for handler in self._cancel_handlers:
            try:
                await handler(job_id)
            except Exception:
                log.exception("cancel handler failed for job %s", job_id)

    async def job_ended(self, job_id: uuid.UUID) -> None:
        self._ended(job_id)

    def job_changed(self, job_id: uuid.UUID) -> None:
        """Tell the job's followers it changed (claimed, a step started or ended, back to pending), once the
        change is committed. A dictionary lookup when no one follows it: the worker calls it for every job."""
        _set(self._followers, job_id)

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
        database = int(self._redis.connection_pool.connection_kwargs.get("db") or 0)
        self._channels = {channel: scoped(channel, database) for channel in (ENDED, CANCEL, CHANGED, WATCHING)}
        """Each channel's name on this service's database; messages on others' are not ours."""
        self._unscoped = {name: channel for channel, name in self._channels.items()}
        self._task: asyncio.Task[None] | None = None
        self._announcements: dict[str, Batcher[uuid.UUID, None]] = {
            channel: Batcher(self._announcer(channel)) for channel in (ENDED, CHANGED)
        }
        self._watched: dict[uuid.UUID, float] = {}
        """Jobs followed somewhere (this process included), until when (time.monotonic)."""
        self._sweep_at = 0.0
        self._refreshing: asyncio.Task[None] | None = None

    async def job_ended(self, job_id: uuid.UUID) -> None:
        """Announce without waiting for Redis: the ends of jobs that finish while one message is on its way
        go out together in the next (a worker ending many jobs at once sends a few messages, not one each)."""
        self._ended(job_id)  # waiters in this process need no round trip
        self._announcements[ENDED].submit(job_id)

    def job_changed(self, job_id: uuid.UUID) -> None:
        super().job_changed(job_id)
        until = self._watched.get(job_id)
        if until is None:
            return
        if until > time.monotonic():
            self._announcements[CHANGED].submit(job_id)
        else:
            del self._watched[job_id]

    def _announcer(self, channel: str) -> Callable[[Sequence[uuid.UUID]], Awaitable[dict[uuid.UUID, None]]]:
        async def announce(job_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, None]:
            await self._publish(channel, job_ids)
            return {}

        return announce

    async def _following(self, job_id: uuid.UUID) -> None:
        """Announce the job before its follower first reads it, so that a change committed after that read
        is published; then again while anyone here follows it."""
        await self._publish(WATCHING, [job_id])
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh_watching(), name="notify-watching")

    async def _refresh_watching(self) -> None:
        while self._followers:
            await asyncio.sleep(WATCH_REFRESH_S)
            followed = list(self._followers)
            for start in range(0, len(followed), _PER_MESSAGE):
                await self._publish(WATCHING, followed[start : start + _PER_MESSAGE])

    async def cancel_job(self, job_id: uuid.UUID) -> None:
        await self._canceled(job_id)
        await self._publish(CANCEL, [job_id])

    async def _publish(self, channel: str, job_ids: Sequence[uuid.UUID]) -> None:
        """One message naming the jobs, comma-separated."""
        try:
            await self._redis.publish(self._channels[channel], ",".join(map(str, job_ids)))
        except Exception:
            log.warning("could not publish %s for %d job(s)", channel, len(job_ids), exc_info=True)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="notify-listener")

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*self._channels.values())
                delay = 0.5
                async for message in pubsub.listen():
                    await self._received(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notification listener lost Redis (%s); reconnecting in %.1f s", exc, delay)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _received(self, message: dict[str, Any]) -> None:
        try:
            channel = self._unscoped[message["channel"].decode()]
            job_ids = [uuid.UUID(part) for part in message["data"].decode().split(",")]
        except (AttributeError, KeyError, ValueError):  # not ours (anyone with Redis access can publish)
            log.warning("ignoring a malformed notification on %r", message.get("channel"))
            return
        if channel == WATCHING:
            self._watching(job_ids)
        for job_id in job_ids:
            if channel == ENDED:
                self._ended(job_id)
            elif channel == CHANGED:
                _set(self._followers, job_id)
            elif channel == CANCEL:
                await self._canceled(job_id)

    def _watching(self, job_ids: Iterable[uuid.UUID]) -> None:
        now = time.monotonic()
        if now >= self._sweep_at:  # forget the jobs no one announced lately
            self._watched = {job_id: until for job_id, until in self._watched.items() if until > now}
            self._sweep_at = now + WATCH_TTL_S
        for job_id in job_ids:
            self._watched[job_id] = now + WATCH_TTL_S

    async def close(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refreshing
        for announcements in self._announcements.values():  # what is still to be announced goes out first
            await announcements.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()
