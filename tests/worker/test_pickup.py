"""BatchWorker starts a poll's messages in one round trip, with arq's rules: only messages still queued,
due and not in progress; never more than its slots; never one message twice across workers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.utils import timestamp_ms
from arq.worker import func
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import REDIS_URL
from workflow_service.core.dispatch import TASK_NAME, ArqDispatcher, json_deserializer, json_serializer, queue_name
from workflow_service.worker.pickup import BatchWorker

POOL = "pickup"


class Recorder:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def task(self, ctx: dict[Any, Any], *args: Any, **kwargs: Any) -> None:
        self.started.append(args[0])
        await self.gate.wait()


@pytest.fixture
async def arq_pool(engine: AsyncEngine) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(
        RedisSettings.from_dsn(REDIS_URL), job_serializer=json_serializer, job_deserializer=json_deserializer
    )
    yield pool
    await pool.aclose(close_connection_pool=True)


def worker(pool: ArqRedis, recorder: Recorder, max_jobs: int = 10) -> BatchWorker:
    return BatchWorker(
        functions=[func(recorder.task, name=TASK_NAME)],
        queue_name=queue_name(POOL),
        redis_pool=pool,
        max_jobs=max_jobs,
        keep_result=0,
        handle_signals=False,
        job_serializer=json_serializer,
        job_deserializer=json_deserializer,
        log_results=False,
    )


async def enqueue(pool: ArqRedis, count: int) -> list[str]:
    dispatcher = ArqDispatcher(pool)
    ids = [uuid.uuid4() for _ in range(count)]
    await dispatcher.enqueue_many((job_id, POOL, 0) for job_id in ids)
    return [str(job_id) for job_id in ids]


async def drain(w: BatchWorker) -> None:
    await asyncio.gather(*w.tasks.values())


async def test_starts_only_due_messages_not_in_progress(arq_pool: ArqRedis, redis_client: aioredis.Redis) -> None:
    ready, taken, later = await enqueue(arq_pool, 3)
    gone = str(uuid.uuid4())  # read by a poll, then finished by another worker before the start
    await redis_client.set(in_progress_key_prefix + taken, b"1", px=60_000)
    await redis_client.zadd(queue_name(POOL), {later: timestamp_ms() + 60_000})
    recorder = Recorder()
    w = worker(arq_pool, recorder)

    await w.start_jobs([m.encode() for m in (ready, taken, later, gone)])
    await drain(w)

    assert recorder.started == [ready]
    assert w.job_counter == 0  # every slot taken for a skipped message was given back
    # The started message ran to its end as arq runs it: message, marker and queue entry removed.
    assert await redis_client.exists(job_key_prefix + ready, in_progress_key_prefix + ready) == 0
    assert await redis_client.zscore(queue_name(POOL), ready) is None
    # The others are left exactly as they were.
    assert await redis_client.exists(in_progress_key_prefix + taken) == 1
    assert await redis_client.exists(in_progress_key_prefix + later) == 0
    assert await redis_client.zscore(queue_name(POOL), later) is not None


async def test_marks_started_messages_in_progress_for_arq_timeout(
    arq_pool: ArqRedis, redis_client: aioredis.Redis
) -> None:
    ids = await enqueue(arq_pool, 2)
    recorder = Recorder()
    recorder.gate.clear()
    w = worker(arq_pool, recorder)

    await w.start_jobs([m.encode() for m in ids])
    await asyncio.sleep(0.05)

    for message_id in ids:
        ttl = await redis_client.pttl(in_progress_key_prefix + message_id)
        assert 0 < ttl <= int(w.in_progress_timeout_s * 1000)
    recorder.gate.set()
    await drain(w)
    assert sorted(recorder.started) == sorted(ids)


async def test_never_more_than_its_slots(arq_pool: ArqRedis, redis_client: aioredis.Redis) -> None:
    ids = await enqueue(arq_pool, 5)
    recorder = Recorder()
    recorder.gate.clear()
    w = worker(arq_pool, recorder, max_jobs=2)

    await w.start_jobs([m.encode() for m in ids])
    await asyncio.sleep(0.05)
    assert sorted(recorder.started) == sorted(ids[:2])  # in the order given, two slots
    marked = [m for m in ids if await redis_client.exists(in_progress_key_prefix + m)]
    assert marked == ids[:2]  # the rest stay queued for the next poll, as arq leaves them
    assert all([await redis_client.zscore(queue_name(POOL), m) is not None for m in ids])

    recorder.gate.set()
    await drain(w)
    await w.start_jobs([m.encode() for m in ids])  # the next poll: the first two have left the queue
    await asyncio.sleep(0.05)
    await drain(w)
    assert sorted(recorder.started) == sorted(ids[:4])
    assert w.job_counter == 0


async def test_two_workers_start_each_message_once(arq_pool: ArqRedis) -> None:
    ids = await enqueue(arq_pool, 40)
    recorder = Recorder()
    recorder.gate.clear()
    first, second = worker(arq_pool, recorder, max_jobs=64), worker(arq_pool, recorder, max_jobs=64)

    await asyncio.gather(
        first.start_jobs([m.encode() for m in ids]), second.start_jobs([m.encode() for m in reversed(ids)])
    )
    recorder.gate.set()
    await asyncio.gather(drain(first), drain(second))

    assert sorted(recorder.started) == sorted(ids)
    assert len(first.tasks) + len(second.tasks) == len(ids)


async def test_gives_back_its_slots_when_redis_fails(arq_pool: ArqRedis) -> None:
    ids = await enqueue(arq_pool, 3)
    recorder = Recorder()
    w = worker(arq_pool, recorder, max_jobs=4)
    dead = ArqRedis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    w._pool = dead
    try:
        with pytest.raises(Exception, match=r"[Cc]onnect"):
            await w.start_jobs([m.encode() for m in ids])
    finally:
        await dead.aclose()
    assert w.job_counter == 0
    assert recorder.started == []
