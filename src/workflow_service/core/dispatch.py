"""Waking workers. The database says what work exists; a dispatcher only says "look at job X".

- ArqDispatcher: an arq message per job attempt on the pool's queue (Redis). The arq job id is
  `{job_id}:{attempt}`, so submitting enqueues a job once however often it is asked to.
- InProcessDispatcher: the embedded mode's asyncio queues, consumed in the same process.

Losing a message loses nothing: the reconciler wakes pending jobs nobody claimed again, with
`replace=True`: whatever Redis still holds for that message (e.g. taken by a worker killed before its
claim, which arq would otherwise leave "in progress" for days) is replaced by a fresh one. The database
stays the only judge: a duplicate message is harmless, as only one guarded claim can win.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import orjson

log = logging.getLogger(__name__)

TASK_NAME = "run_job"


def queue_name(pool: str) -> str:
    return f"wfs:pool:{pool}"


class Dispatcher(Protocol):
    async def enqueue(self, job_id: uuid.UUID, pool: str, attempt: int) -> None: ...

    async def enqueue_many(self, items: Iterable[tuple[uuid.UUID, str, int]], *, replace: bool = False) -> None:
        """Wake each job. `replace`: override a message already there (the reconciler, once the database
        says nobody claimed the job), instead of leaving it as it is."""

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def json_serializer(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj)


def json_deserializer(data: bytes) -> dict[str, Any]:
    value: dict[str, Any] = orjson.loads(data)
    return value


# arq's enqueue_job costs three round trips (WATCH, EXISTS, MULTI/EXEC). This does the same in one,
# atomically: skip when the message (or a kept result) already exists, else store it and queue it.
_ENQUEUE_LUA = """
if redis.call('EXISTS', KEYS[1], KEYS[3]) > 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
"""

# The reconciler's wake-up, also one round trip: whatever is left of the message (queued, or taken by a
# worker that died before its claim, whose in-progress key would block every other worker for arq's job
# timeout) is replaced by a fresh message, due now, that any worker can take.
_REPLACE_LUA = """
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
"""


class ArqDispatcher:
    """Enqueues arq messages exactly as `ArqRedis.enqueue_job` would, in one round trip."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._enqueue = redis.register_script(_ENQUEUE_LUA)
        self._replace = redis.register_script(_REPLACE_LUA)

    @classmethod
    async def connect(cls, redis_url: str) -> ArqDispatcher:
        from arq.connections import RedisSettings, create_pool

        pool = await create_pool(
            RedisSettings.from_dsn(redis_url),
            job_serializer=json_serializer,
            job_deserializer=json_deserializer,
            retry=0,
        )
        return cls(pool)

    async def enqueue(self, job_id: uuid.UUID, pool: str, attempt: int, *, replace: bool = False) -> None:
        from arq.constants import expires_extra_ms, in_progress_key_prefix, job_key_prefix, result_key_prefix
        from arq.jobs import serialize_job

        message_id = f"{job_id}:{attempt}"
        now_ms = int(time.time() * 1000)
        payload = serialize_job(TASK_NAME, (str(job_id),), {}, None, now_ms, serializer=json_serializer)
        keys = [job_key_prefix + message_id, queue_name(pool), result_key_prefix + message_id]
        script = self._enqueue
        if replace:
            keys.append(in_progress_key_prefix + message_id)
            script = self._replace
        try:
            await script(keys=keys, args=[payload, expires_extra_ms, now_ms, message_id])
        except Exception:  # the reconciler will enqueue it again; the job is safe in the database
            log.warning("could not enqueue job %s; the reconciler will retry", job_id, exc_info=True)

    async def enqueue_many(self, items: Iterable[tuple[uuid.UUID, str, int]], *, replace: bool = False) -> None:
        for job_id, pool, attempt in items:
            await self.enqueue(job_id, pool, attempt, replace=replace)

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self.redis.aclose()


Runner = Callable[[uuid.UUID], Awaitable[Any]]


class InProcessDispatcher:
    """Queues per pool, consumed by `concurrency` tasks calling the same job runner a worker uses."""

    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[tuple[uuid.UUID, int]]] = {}
        self._queued: set[tuple[uuid.UUID, int]] = set()
        self._tasks: list[asyncio.Task[None]] = []

    def _queue(self, pool: str) -> asyncio.Queue[tuple[uuid.UUID, int]]:
        return self._queues.setdefault(pool, asyncio.Queue())

    async def enqueue(self, job_id: uuid.UUID, pool: str, attempt: int) -> None:
        key = (job_id, attempt)
        if key in self._queued:
            return
        self._queued.add(key)
        self._queue(pool).put_nowait(key)

    async def enqueue_many(self, items: Iterable[tuple[uuid.UUID, str, int]], *, replace: bool = False) -> None:
        # `replace` needs nothing here: a queued key is always consumed by a live task of this process.
        for job_id, pool, attempt in items:
            await self.enqueue(job_id, pool, attempt)

    async def ping(self) -> bool:
        return True

    def start(self, pools: Iterable[str], concurrency: int, run: Runner) -> None:
        for pool in pools:
            queue = self._queue(pool)
            for _ in range(concurrency):
                self._tasks.append(asyncio.create_task(self._consume(queue, run)))

    async def _consume(self, queue: asyncio.Queue[tuple[uuid.UUID, int]], run: Runner) -> None:
        while True:
            key = await queue.get()
            self._queued.discard(key)
            job_id = key[0]
            try:
                await run(job_id)
            except Exception:
                log.exception("job %s: runner failed; the reconciler will retry it", job_id)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
