"""Waking workers. The database says what work exists; a dispatcher only says "look at job X".

- ArqDispatcher: one arq message per job on the pool's queue (Redis). The arq message id is the job
  id, so submitting enqueues a job once however often it is asked to, and a retry replaces the message
  of the attempt before it (taken by a worker that died, it would otherwise stay "in progress").
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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any, Protocol

import orjson
from arq.constants import (
    expires_extra_ms,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.jobs import serialize_job

from workflow_service.core.batch import Batcher

log = logging.getLogger(__name__)

TASK_NAME = "run_job"


def queue_name(pool: str) -> str:
    return f"wfs:pool:{pool}"


class Dispatcher(Protocol):
    async def enqueue(self, job_id: uuid.UUID, pool: str, attempt: int) -> None: ...

    async def enqueue_many(self, items: Iterable[tuple[uuid.UUID, str, int]], *, replace: bool = False) -> None:
        """Wake each job. `replace`: override a message already there (the reconciler, once the database
        says nobody claimed the job), instead of leaving it as it is."""

    async def stranded(self, pool: str, limit: int) -> list[str]:
        """Message ids at the head of `pool`'s queue that are due but marked taken (in progress)."""

    async def discard(self, pool: str, message_ids: list[str]) -> None:
        """Remove these messages for good (their jobs have ended)."""

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def job_of(message_id: str) -> uuid.UUID | None:
    """The job a message wakes (message ids written before they were plain job ids were `{job_id}:{attempt}`)."""
    try:
        return uuid.UUID(message_id.split(":", 1)[0])
    except ValueError:
        return None


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
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
"""

# arq reads only the first `queue_read_limit` due messages of a queue on each poll and skips those in
# progress, so messages left "in progress" by workers that died would, once there are that many, stop
# every worker from reaching the messages behind them. The reconciler asks for them by this script and
# discards those whose jobs have ended (the others are woken again, replacing their message).
_STRANDED_LUA = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ARGV[3] .. id) == 1 then out[#out + 1] = id end
end
return out
"""


class ArqDispatcher:
    """Enqueues arq messages exactly as `ArqRedis.enqueue_job` would, in one round trip."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis
        self._enqueue = redis.register_script(_ENQUEUE_LUA)
        self._replace = redis.register_script(_REPLACE_LUA)
        self._stranded = redis.register_script(_STRANDED_LUA)
        self._enqueueing: Batcher[tuple[uuid.UUID, str], None] = Batcher(partial(self._send, replace=False))
        self._replacing: Batcher[tuple[uuid.UUID, str], None] = Batcher(partial(self._send, replace=True))

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
        """One job's message, sent with the others asked for meanwhile (core/batch.py): the submissions
        an api process answers at once cost one Redis round trip."""
        await (self._replacing if replace else self._enqueueing).get((job_id, pool))

    async def enqueue_many(self, items: Iterable[tuple[uuid.UUID, str, int]], *, replace: bool = False) -> None:
        await self._send([(job_id, pool) for job_id, pool, _ in items], replace=replace)

    async def _send(self, messages: Sequence[tuple[uuid.UUID, str]], *, replace: bool) -> dict[Any, None]:
        """Every message in one pipelined round trip, each written by the script (atomic on its own)."""
        now_ms = int(time.time() * 1000)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for job_id, pool in messages:
                    message_id = str(job_id)
                    payload = serialize_job(TASK_NAME, (message_id,), {}, None, now_ms, serializer=json_serializer)
                    keys = [job_key_prefix + message_id, queue_name(pool), result_key_prefix + message_id]
                    script = self._enqueue
                    if replace:
                        keys += [in_progress_key_prefix + message_id, retry_key_prefix + message_id]
                        script = self._replace
                    await script(keys=keys, args=[payload, expires_extra_ms, now_ms, message_id], client=pipe)
                await pipe.execute()
        except Exception:  # the reconciler will enqueue them again; the jobs are safe in the database
            log.warning("could not enqueue %d job(s); the reconciler will retry", len(messages), exc_info=True)
        return {}

    async def stranded(self, pool: str, limit: int) -> list[str]:
        now_ms = int(time.time() * 1000)
        found = await self._stranded(keys=[queue_name(pool)], args=[now_ms, limit, in_progress_key_prefix])
        return [m.decode() if isinstance(m, bytes) else str(m) for m in found]

    async def discard(self, pool: str, message_ids: list[str]) -> None:
        if not message_ids:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(queue_name(pool), *message_ids)
            for prefix in (job_key_prefix, in_progress_key_prefix, retry_key_prefix, result_key_prefix):
                pipe.delete(*(prefix + m for m in message_ids))
            await pipe.execute()

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self._enqueueing.flush()
        await self._replacing.flush()
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

    async def stranded(self, pool: str, limit: int) -> list[str]:
        return []  # nothing is ever taken by a task that is gone: they live and die with this process

    async def discard(self, pool: str, message_ids: list[str]) -> None:
        pass

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

    async def stop(self) -> None:
        """Stop consuming: the jobs running now are cancelled (their leases bring them back)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def close(self) -> None:
        await self.stop()
