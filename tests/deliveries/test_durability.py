"""Deliveries are database rows: they survive worker and api restarts and the loss of Redis."""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis

from tests.conftest import serving, wait_for_job
from tests.deliveries.conftest import (
    Reply,
    WebhookReceiver,
    Workers,
    deliveries,
    push_workflow,
    submit_push,
    wait_for_delivery,
)
from workflow_service.config import Settings


async def test_delivery_survives_a_worker_restart(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    receiver.default = Reply(503, headers={"Retry-After": "1"})
    first = await workers.start()
    job = await submit_push(client)
    assert (await wait_for_job(client, job["id"]))["status"] == "completed"
    await receiver.wait_for(1)
    await first.stop()  # the job has ended; the receiver has not accepted its callback
    count = len(receiver.requests)
    # Even an attempt under way when the worker was told to stop was finished and recorded.
    [stopped] = await deliveries(client, job["id"])
    assert stopped["status"] == "pending"
    assert stopped["next_attempt_at"] is not None
    assert [a["status_code"] for a in stopped["attempts"]] == [503] * count

    receiver.default = Reply(204)
    await workers.start()  # a new worker (a new agent) picks the delivery up from the database
    delivery = await wait_for_delivery(client, job["id"], "succeeded", attempts=count + 1)
    assert delivery["attempts"][-1]["status_code"] == 204
    assert len({r.webhook_id for r in receiver.requests}) == 1
    assert receiver.requests[-1].verified_by == receiver.secrets


async def test_delivery_survives_an_api_restart(
    client: httpx.AsyncClient, settings: Settings, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    async with serving(settings) as first_api:  # an api process that submits, then goes away
        job = await submit_push(first_api)
    await workers.start()
    [request] = await receiver.wait_for(1)
    assert request.json()["data"]["id"] == job["id"]
    assert request.verified_by == receiver.secrets
    await wait_for_delivery(client, job["id"], "succeeded")


async def test_delivery_survives_redis_flushdb(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver, redis_client: aioredis.Redis
) -> None:
    await push_workflow(client, receiver)
    receiver.default = Reply(500)
    await workers.start()
    job = await submit_push(client)
    await receiver.wait_for(2)
    await redis_client.flushdb()
    receiver.default = Reply(204)
    delivery = await wait_for_delivery(client, job["id"], "succeeded")
    assert delivery["attempts"][-1]["status_code"] == 204


async def test_push_job_queued_before_redis_flushdb_still_runs_and_is_delivered(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver, redis_client: aioredis.Redis
) -> None:
    await push_workflow(client, receiver)
    job = await submit_push(client)  # enqueued in Redis, no worker yet
    await redis_client.flushdb()  # the queue entry is gone; the job row is not
    await workers.start(requeue_after_s=0.5)
    assert (await wait_for_job(client, job["id"], wait_s=15))["status"] == "completed"
    [request] = await receiver.wait_for(1)
    assert request.json()["type"] == "job.completed"
    assert request.verified_by == receiver.secrets
    await wait_for_delivery(client, job["id"], "succeeded")
