"""The Redis notifier on its own: one process's announcement reaches another's waiters and cancel
handlers, and a malformed message on a channel does not deafen the listener."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from tests.conftest import REDIS_URL, eventually
from workflow_service.core.notify import CANCEL, ENDED, RedisNotifier


async def subscribed(redis_client: aioredis.Redis, listeners: int) -> bool:
    counts = dict(await redis_client.pubsub_numsub(ENDED, CANCEL))
    return all(counts.get(channel.encode(), 0) >= listeners for channel in (ENDED, CANCEL))


async def test_an_announcement_reaches_the_other_process_and_garbage_is_ignored(
    redis_client: aioredis.Redis,
) -> None:
    api, worker = RedisNotifier(REDIS_URL), RedisNotifier(REDIS_URL)
    canceled: list[uuid.UUID] = []

    async def record(job_id: uuid.UUID) -> None:
        canceled.append(job_id)

    worker.on_cancel(record)
    await api.start()
    await worker.start()
    try:
        await eventually(lambda: subscribed(redis_client, 2), what="both listeners subscribed")
        first, second = uuid.uuid4(), uuid.uuid4()
        async with api.watch(first) as first_ended, api.watch(second) as second_ended:
            await worker.job_ended(first)
            await asyncio.wait_for(first_ended.wait(), 1.0)

            # Anyone who can write to Redis can publish junk; the next real message must still arrive.
            await redis_client.publish(ENDED, b"not-a-uuid")
            await redis_client.publish(CANCEL, b"\xff\xfe")
            await worker.job_ended(second)
            await asyncio.wait_for(second_ended.wait(), 0.4)
        await api.cancel_job(first)
        await eventually(lambda: canceled == [first], wait_s=0.4, what="the cancel handler to run")
    finally:
        await api.close()
        await worker.close()
