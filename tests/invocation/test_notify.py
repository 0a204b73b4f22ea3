"""The notifiers on their own: one process's announcement reaches another's waiters, followers and cancel
handlers, a change is published only for a followed job, a malformed message on a channel does not
deafen the listener, and services on different Redis databases of one server do not hear each other."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import redis.asyncio as aioredis

from tests.conftest import REDIS_URL, eventually
from tests.isolation import on_redis_database, redis_database
from workflow_service.core.notify import CANCEL, CHANGED, ENDED, Notifier, RedisNotifier, scoped


def ours(channel: str) -> str:
    """The channel's name on the test's Redis database."""
    return scoped(channel, redis_database(REDIS_URL))


async def subscribed(redis_client: aioredis.Redis, listeners: int) -> bool:
    names = [ours(channel) for channel in (ENDED, CANCEL)]
    counts = dict(await redis_client.pubsub_numsub(*names))
    return all(counts.get(name.encode(), 0) >= listeners for name in names)


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
            await redis_client.publish(ours(ENDED), b"not-a-uuid")
            await redis_client.publish(ours(CANCEL), b"\xff\xfe")
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
        assert published == [(ours(CHANGED), str(followed)), (ours(ENDED), str(followed))]
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


async def test_a_service_on_another_redis_database_is_not_heard(redis_client: aioredis.Redis) -> None:
    """Redis delivers a channel's messages to its subscribers on every database: the channels carry the
    database's number, so another service sharing the server does not wake this one's waiters or cancel its
    jobs."""
    elsewhere = on_redis_database(REDIS_URL, 1 if redis_database(REDIS_URL) == 0 else 0)
    api, neighbour, worker = RedisNotifier(REDIS_URL), RedisNotifier(elsewhere), RedisNotifier(REDIS_URL)
    canceled: list[uuid.UUID] = []

    async def record(job_id: uuid.UUID) -> None:
        canceled.append(job_id)

    api.on_cancel(record)
    await api.start()
    try:
        await eventually(lambda: subscribed(redis_client, 1), what="the listener subscribed")
        job, mark = uuid.uuid4(), uuid.uuid4()
        async with api.watch(job) as ended, api.watch(mark) as mark_ended:
            await neighbour.job_ended(job)
            await neighbour.cancel_job(job)
            await neighbour.close()  # both published: Redis has handled them before the mark below
            await worker.job_ended(mark)
            await asyncio.wait_for(mark_ended.wait(), 1.0)
            assert not ended.is_set()
        assert canceled == []
    finally:
        await worker.close()
        await api.close()
