"""Callbacks are sent independently, under a limit per worker and per receiver: a receiver that hangs
holds only its own slots, and every other receiver's callback still goes out at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from tests.conftest import wait_for_job
from tests.deliveries.conftest import (
    Gauge,
    Reply,
    WebhookReceiver,
    Workers,
    push_workflow,
    submit_push,
    wait_for_delivery,
)
from workflow_service.config import Settings


@pytest.fixture
def hanging() -> Iterator[WebhookReceiver]:
    """A receiver that takes every callback and never answers (until the test ends)."""
    server = WebhookReceiver()
    server.default = Reply(hang=True)
    server.start()
    yield server
    server.stop()


async def submit_many(client: httpx.AsyncClient, slug: str, count: int) -> list[str]:
    jobs = await asyncio.gather(*(submit_push(client, slug) for _ in range(count)))
    return [job["id"] for job in jobs]


async def test_a_hanging_receiver_does_not_delay_another_receivers_callback(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver, hanging: WebhookReceiver
) -> None:
    defaults = Settings()
    per_receiver = defaults.delivery_concurrency_per_receiver
    await push_workflow(client, hanging, "stuck")
    await push_workflow(client, receiver, "greeter")
    # The production timeout: a hung callback holds its slot for 15 s.
    await workers.start(delivery_timeout_s=defaults.delivery_timeout_s)
    # More pending callbacks for the hanging receiver than a worker may send at once.
    stuck = await submit_many(client, "stuck", defaults.delivery_concurrency + 10)
    await hanging.wait_for(per_receiver, wait_s=20)
    for job_id in stuck[:3]:
        assert (await wait_for_job(client, job_id))["status"] == "completed"

    job = await submit_push(client, "greeter")
    ended = await wait_for_job(client, job["id"])
    assert ended["status"] == "completed"
    [request] = await receiver.wait_for(1, wait_s=20)
    assert request.json()["data"]["id"] == job["id"]
    assert request.verified_by == receiver.secrets
    late_s = request.at - datetime.fromisoformat(ended["finished_at"]).timestamp()
    assert late_s < 1.0, f"the healthy receiver's callback went out {late_s:.2f} s after its job ended"

    # The hanging receiver holds only its own slots: no more of its callbacks were sent meanwhile.
    assert hanging.in_flight.most == per_receiver
    assert len(hanging.requests) == per_receiver
    await wait_for_delivery(client, job["id"], "succeeded")


async def test_sends_stay_within_the_worker_and_receiver_limits(
    client: httpx.AsyncClient, workers: Workers, hanging: WebhookReceiver
) -> None:
    # Both receivers hold every request well past the test's watch window, so no slot frees meanwhile and
    # what arrives is exactly what the limits let out (a receiver's own count of a request that the
    # client abandoned would lag behind the client).
    other = WebhookReceiver()
    other.default = Reply(hang=True)
    other.start()
    try:
        together = Gauge()
        hanging.gauges.append(together)
        other.gauges.append(together)
        await push_workflow(client, hanging, "one")
        await push_workflow(client, other, "two")
        await workers.start(delivery_concurrency=4, delivery_concurrency_per_receiver=3, delivery_timeout_s=20)
        ids = await submit_many(client, "one", 6) + await submit_many(client, "two", 6)
        deadline = asyncio.get_running_loop().time() + 15
        while together.now < 4:
            assert asyncio.get_running_loop().time() < deadline, f"only {together.now} sends under way"
            await asyncio.sleep(0.05)
        watch_until = asyncio.get_running_loop().time() + 1.0
        while asyncio.get_running_loop().time() < watch_until:  # absence cannot be polled: watch a window
            assert together.now == 4
            assert hanging.in_flight.now <= 3
            assert other.in_flight.now <= 3
            await asyncio.sleep(0.05)
        assert len(hanging.requests) + len(other.requests) == 4
        hanging.release()  # both answer now; every callback then goes out and succeeds
        other.release()
        for job_id in ids:
            await wait_for_delivery(client, job_id, "succeeded", wait_s=30)
        assert together.most == 4
        assert hanging.in_flight.most <= 3
        assert other.in_flight.most <= 3
    finally:
        other.stop()


async def test_two_workers_never_send_the_same_callback(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    receiver.default = Reply(204)
    await workers.start(delivery_concurrency=3, delivery_concurrency_per_receiver=2)
    await workers.start(delivery_concurrency=3, delivery_concurrency_per_receiver=2)
    ids = await submit_many(client, "greeter", 40)
    for job_id in ids:
        await wait_for_delivery(client, job_id, "succeeded", wait_s=30)
    sent = [r.json()["data"]["id"] for r in receiver.requests]
    assert sorted(sent) == sorted(ids)  # each exactly once
