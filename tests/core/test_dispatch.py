"""The Redis dispatcher writes arq messages in one round trip; arq must read them as its own."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import redis.asyncio as aioredis
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import REDIS_URL
from workflow_service.core.dispatch import TASK_NAME, ArqDispatcher, queue_name


async def test_enqueue_writes_one_arq_message_per_job_and_is_idempotent(
    engine: AsyncEngine, redis_client: aioredis.Redis
) -> None:
    dispatcher = await ArqDispatcher.connect(REDIS_URL)
    try:
        job_id = uuid.uuid4()
        await dispatcher.enqueue(job_id, "gpu", 0)
        await dispatcher.enqueue(job_id, "gpu", 0)  # still queued: no second message
        await dispatcher.enqueue(job_id, "gpu", 1)  # still queued: a retry replaces it only when asked to
        queued = await redis_client.zrange(queue_name("gpu"), 0, -1)
        assert queued == [str(job_id).encode()]
        message = orjson.loads(await redis_client.get(job_key_prefix + str(job_id)))
        assert message["f"] == TASK_NAME
        assert message["a"] == [str(job_id)]
        assert 0 < await redis_client.pttl(job_key_prefix + str(job_id)) <= 86_400_000
        assert await redis_client.zcard(queue_name("default")) == 0
    finally:
        await dispatcher.close()


async def test_enqueue_survives_redis_being_unreachable(engine: AsyncEngine) -> None:
    dispatcher = ArqDispatcher(ArqRedis(host="127.0.0.1", port=1, socket_connect_timeout=1))  # nothing there
    try:
        await dispatcher.enqueue(uuid.uuid4(), "default", 0)  # logged, not raised: the reconciler re-enqueues
        assert await dispatcher.ping() is False
    finally:
        await dispatcher.close()


async def test_enqueues_asked_for_together_go_in_one_round_trip(
    engine: AsyncEngine, redis_client: aioredis.Redis
) -> None:
    dispatcher = await ArqDispatcher.connect(REDIS_URL)
    pipelines = 0
    real_pipeline = dispatcher.redis.pipeline

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal pipelines
        pipelines += 1
        return real_pipeline(*args, **kwargs)

    dispatcher.redis.pipeline = counted
    try:
        job_ids = [uuid.uuid4() for _ in range(30)]
        await asyncio.gather(*(dispatcher.enqueue(job_id, "default", 0) for job_id in job_ids))
        queued = await redis_client.zrange(queue_name("default"), 0, -1)
        assert sorted(queued) == sorted(str(j).encode() for j in job_ids)
        for job_id in job_ids:
            message = orjson.loads(await redis_client.get(job_key_prefix + str(job_id)))
            assert message["a"] == [str(job_id)]
        assert 1 <= pipelines <= 2  # the first alone, the rest together
    finally:
        await dispatcher.close()
