"""The notifiers on their own: one process's announcement reaches another's waiters, followers and cancel
handlers, a change is published only for a followed job, and a malformed message on a channel does not
deafen the listener."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import redis.asyncio as aioredis

from tests.conftest import REDIS_URL, eventually
from workflow_service.core.notify import CANCEL, CHANGED, ENDED, Notifier, RedisNotifier


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


async def test_ends_announced_together_reach_every_waiter_in_fewer_messages(redis_client: aioredis.Redis) -> None:
    api, worker = RedisNotifier(REDIS_URL), RedisNotifier(REDIS_URL)
    published: list[str] = []
    real_publish = worker._redis.publish

    async def spy(channel: str, message: str) -> int:
        published.append(message)
        result: int = await real_publish(channel, message)
        return result

    worker._redis.publish = spy
    await api.start()
    try:
        await eventually(lambda: subscribed(redis_client, 1), what="the listener subscribed")
        jobs = [uuid.uuid4() for _ in range(50)]
        async with contextlib.AsyncExitStack() as stack:
            ended = [await stack.enter_async_context(api.watch(job)) for job in jobs]
            await asyncio.gather(*(worker.job_ended(job) for job in jobs))  # fifty jobs ending at once
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in ended)), 2.0)
        assert 1 <= len(published) < len(jobs)
        assert sorted(part for message in published for part in message.split(",")) == sorted(map(str, jobs))
    finally:
        await worker.close()  # sends what is still queued before it closes
        await api.close()


async def test_close_sends_what_is_still_to_be_announced(redis_client: aioredis.Redis) -> None:
    api, worker = RedisNotifier(REDIS_URL), RedisNotifier(REDIS_URL)
    await api.start()
    try:
        await eventually(lambda: subscribed(redis_client, 1), what="the listener subscribed")
        job = uuid.uuid4()
        async with api.watch(job) as ended:
            await worker.job_ended(job)
            await worker.close()  # at once: the announcement must not be dropped
            await asyncio.wait_for(ended.wait(), 1.0)
    finally:
        await api.close()


async def test_a_followed_jobs_changes_reach_its_follower_and_no_one_elses_are_published(
    redis_client: aioredis.Redis,
) -> None:
    """A change is published only for a job some process follows (the worker learns that from WATCHING,
    without a round trip of its own); a job no one follows costs the worker no message."""
    api, worker = RedisNotifier(REDIS_URL), RedisNotifier(REDIS_URL)
    published: list[tuple[str, str]] = []
    real_publish = worker._redis.publish

    async def spy(channel: str, message: str) -> int:
        published.append((channel, message))
        result: int = await real_publish(channel, message)
        return result

    worker._redis.publish = spy
    await api.start()
    await worker.start()
    try:
        await eventually(lambda: subscribed(redis_client, 2), what="both listeners subscribed")
        followed, unfollowed = uuid.uuid4(), uuid.uuid4()
        async with api.follow(followed) as changed:
            await eventually(lambda: followed in worker._watched, what="the worker to learn of the follower")
            worker.job_changed(unfollowed)
            worker.job_changed(followed)
            await asyncio.wait_for(changed.wait(), 1.0)
            changed.clear()
            await worker.job_ended(followed)  # an end wakes followers too
            await asyncio.wait_for(changed.wait(), 1.0)
        assert published == [(CHANGED, str(followed)), (ENDED, str(followed))]
    finally:
        await worker.close()
        await api.close()


async def test_in_process_followers_are_told_of_changes_and_ends() -> None:
    notifier = Notifier()
    job, other = uuid.uuid4(), uuid.uuid4()
    async with notifier.follow(job) as changed, notifier.watch(job) as ended:
        notifier.job_changed(other)
        notifier.job_changed(job)
        assert changed.is_set()
        assert not ended.is_set()  # a change is not an end
        changed.clear()
        await notifier.job_ended(job)
        assert changed.is_set()
        assert ended.is_set()
    assert not notifier._followers  # followers are removed when they stop following
