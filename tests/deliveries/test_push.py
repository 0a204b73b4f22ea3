"""Push callbacks end to end: the push endpoint, a real worker, and a real webhook receiver that
verifies every request with the `standardwebhooks` library."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import wait_for_job
from tests.deliveries.conftest import (
    ACCESS_TOKEN,
    FAILING,
    SLOW,
    Reply,
    WebhookReceiver,
    Workers,
    deliveries,
    deploy,
    push_workflow,
    submit_push,
    wait_for_delivery,
)
from tests.workflows.conftest import set_push_timeout, workflow_t


async def assert_no_more(receiver: WebhookReceiver, count: int, window_s: float = 0.5) -> None:
    """Absence cannot be polled for: watch a short window and check nothing else arrived."""
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        assert len(receiver.requests) == count, receiver.requests
        await asyncio.sleep(0.05)


async def test_push_endpoint_is_409_until_push_is_configured(client: httpx.AsyncClient) -> None:
    await deploy(client, "greeter")
    response = await client.post("/v1/workflows/greeter/versions/current/push", json={"inputs": {"name": "Ada"}})
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("push_not_configured")
    listed = await client.get("/v1/jobs")
    assert listed.json()["items"] == []  # nothing was submitted


async def test_completed_job_is_pushed_signed_and_verifiable(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    await workers.start()
    job = await submit_push(client)
    assert job["status"] == "pending"
    ended = await wait_for_job(client, job["id"])
    assert ended["status"] == "completed"
    [request] = await receiver.wait_for(1)

    assert request.verified_by == receiver.secrets  # the standardwebhooks library accepts it
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert abs(request.timestamp - request.at) < 5
    body = request.json()
    assert body["type"] == "job.completed"
    datetime.fromisoformat(body["timestamp"])
    fresh = (await client.get(f"/v1/jobs/{job['id']}")).json()
    assert body["data"] == fresh  # the job resource, as the API shows it
    assert body["data"]["output"] == {"greeting": "Hello, Ada!"}

    delivery = await wait_for_delivery(client, job["id"], "succeeded")
    assert delivery["webhook_id"] == request.webhook_id
    assert delivery["event_type"] == "job.completed"
    assert delivery["next_attempt_at"] is None
    assert delivery["finished_at"] is not None
    [attempt] = delivery["attempts"]
    assert attempt["number"] == 1
    assert attempt["trigger"] == "schedule"
    assert attempt["status_code"] == 204
    assert attempt["error"] is None
    assert attempt["url"] == receiver.url
    assert attempt["duration_ms"] >= 0
    await assert_no_more(receiver, 1, 0.2)


async def test_failed_job_is_pushed_as_job_failed(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver, "failing", FAILING)
    await workers.start()
    job = await submit_push(client, "failing")
    ended = await wait_for_job(client, job["id"])
    assert ended["status"] == "failed"
    [request] = await receiver.wait_for(1)
    assert request.verified_by == receiver.secrets
    body = request.json()
    assert body["type"] == "job.failed"
    assert body["data"]["status"] == "failed"
    assert body["data"]["error"]["code"] == "output_invalid"
    delivery = await wait_for_delivery(client, job["id"], "succeeded")
    assert delivery["event_type"] == "job.failed"


async def test_canceled_job_is_pushed_as_job_canceled(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    job = await submit_push(client, pool="nobody")  # no agent serves this pool: it stays pending
    canceled = await client.post(f"/v1/jobs/{job['id']}/cancel")
    assert canceled.status_code == 200, canceled.text
    # The delivery was created with the cancel, before any worker exists.
    [pending] = await deliveries(client, job["id"])
    assert pending["status"] == "pending"
    assert pending["event_type"] == "job.canceled"
    await workers.start()
    [request] = await receiver.wait_for(1)
    assert request.verified_by == receiver.secrets
    body = request.json()
    assert body["type"] == "job.canceled"
    assert body["data"]["status"] == "canceled"
    assert body["data"]["error"]["code"] == "canceled"
    assert (await wait_for_delivery(client, job["id"], "succeeded"))["webhook_id"] == request.webhook_id


async def test_async_jobs_get_no_delivery(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    await workers.start()
    response = await client.post("/v1/workflows/greeter/versions/current/async", json={"inputs": {"name": "Ada"}})
    assert response.status_code == 202
    await wait_for_job(client, response.json()["id"])
    assert await deliveries(client, response.json()["id"]) == []
    redeliver = await client.post(f"/v1/jobs/{response.json()['id']}/deliveries/redeliver")
    assert redeliver.status_code == 404
    assert receiver.requests == []


async def test_500_is_retried_with_the_same_id_and_a_fresh_signature(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    receiver.reply(Reply(500, body=b"boom " * 1000), Reply(500))
    await workers.start()
    job = await submit_push(client)
    requests = await receiver.wait_for(3)
    assert len({r.webhook_id for r in requests}) == 1
    assert all(r.verified_by == receiver.secrets for r in requests)
    assert len({r.body for r in requests}) == 1  # the same message, re-signed
    delivery = await wait_for_delivery(client, job["id"], "succeeded", attempts=3)
    first, second, third = delivery["attempts"]
    assert [a["number"] for a in delivery["attempts"]] == [1, 2, 3]
    assert first["status_code"] == 500
    assert first["error"] == "HTTP 500"
    assert first["response_snippet"].startswith("boom ")
    assert len(first["response_snippet"]) <= 1024
    assert second["status_code"] == 500
    assert third["status_code"] == 204
    assert third["error"] is None
    assert first["at"] <= second["at"] <= third["at"]
    await assert_no_more(receiver, 3, 0.2)


async def test_a_nul_in_the_receivers_answer_is_stored_replaced(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    receiver.reply(Reply(500, body=b"bad\x00answer"), Reply(204))
    await workers.start()
    job = await submit_push(client)
    delivery = await wait_for_delivery(client, job["id"], "succeeded", attempts=2)
    first = delivery["attempts"][0]
    assert first["status_code"] == 500
    assert first["response_snippet"] == "bad\ufffdanswer"


async def test_retry_after_is_honoured_and_timestamps_are_fresh(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    receiver.reply(Reply(503, headers={"Retry-After": "1"}))
    await workers.start()
    job = await submit_push(client)
    first, second = await receiver.wait_for(2)
    # The scaled schedule would retry after ~5 ms; the receiver asked for 1 s.
    assert second.at - first.at >= 1.0
    assert second.webhook_id == first.webhook_id
    assert second.timestamp > first.timestamp  # a new webhook-timestamp per attempt
    assert second.headers["webhook-signature"] != first.headers["webhook-signature"]
    assert second.verified_by == first.verified_by == receiver.secrets
    delivery = await wait_for_delivery(client, job["id"], "succeeded", attempts=2)
    assert delivery["attempts"][0]["status_code"] == 503


async def test_redirect_is_a_failure_and_is_not_followed(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    receiver.reply(
        Reply(301, headers={"Location": receiver.base + "/elsewhere"}), Reply(302, headers={"Location": "/x"})
    )
    await workers.start()
    job = await submit_push(client)
    delivery = await wait_for_delivery(client, job["id"], "succeeded", attempts=3)
    first, second, third = delivery["attempts"]
    assert first["status_code"] == 301
    assert "redirect" in first["error"]
    assert second["status_code"] == 302
    assert "redirect" in second["error"]
    assert third["status_code"] == 204
    assert [r.path for r in receiver.requests] == ["/hook"] * 3  # the Location was never fetched


async def test_no_answer_within_the_timeout_is_a_recorded_failure(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    receiver.reply(Reply(hang=True))
    await workers.start(delivery_timeout_s=0.3)
    job = await submit_push(client)
    delivery = await wait_for_delivery(client, job["id"], "succeeded", attempts=2)
    first, second = delivery["attempts"]
    assert first["status_code"] is None
    assert "0.3" in first["error"]
    assert "no answer" in first["error"]
    assert 300 <= first["duration_ms"] < 2000
    assert second["status_code"] == 204


async def test_a_slow_trickle_is_cut_off_at_the_timeout(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    # Each byte comes well within the read timeout, but the answer as a whole does not.
    await push_workflow(client, receiver)
    receiver.reply(Reply(200, trickle_s=0.1))
    await workers.start(delivery_timeout_s=0.5)
    job = await submit_push(client)
    delivery = await wait_for_delivery(client, job["id"], "succeeded", attempts=2)
    first, second = delivery["attempts"]
    assert first["status_code"] is None
    assert "no answer" in first["error"]
    assert first["duration_ms"] < 1500
    assert second["status_code"] == 204


async def test_connection_closed_without_an_answer_is_a_recorded_failure(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    receiver.reply(Reply(close=True))
    await workers.start()
    job = await submit_push(client)
    delivery = await wait_for_delivery(client, job["id"], "succeeded", attempts=2)
    first, second = delivery["attempts"]
    assert first["status_code"] is None
    assert first["response_snippet"] is None
    assert "disconnected" in first["error"].lower() or "closed" in first["error"].lower(), first["error"]
    assert second["status_code"] == 204


async def test_schedule_runs_out_after_eight_attempts(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    receiver.default = Reply(500)
    await workers.start(delivery_schedule_scale=0.00001)  # the whole schedule in about a second
    job = await submit_push(client)
    delivery = await wait_for_delivery(client, job["id"], "failed", attempts=8)
    assert [a["number"] for a in delivery["attempts"]] == list(range(1, 9))
    assert all(a["status_code"] == 500 and a["trigger"] == "schedule" for a in delivery["attempts"])
    assert delivery["next_attempt_at"] is None
    assert delivery["finished_at"] is not None
    assert len({r.webhook_id for r in receiver.requests}) == 1
    await assert_no_more(receiver, 8)
    # Running out does not turn push off (only a 410 does).
    assert (await client.get("/v1/workflows/greeter/settings")).json()["push"]["enabled"] is True


async def test_redeliveries_do_not_use_up_the_schedule(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    receiver.default = Reply(500)
    first = await workers.start(delivery_schedule_scale=0.002)  # retries after about 0.01 s, 0.6 s, 3.6 s, ...
    job = await submit_push(client)
    await wait_for_delivery(client, job["id"], "pending", attempts=1)
    redeliveries = await asyncio.gather(*(client.post(f"/v1/jobs/{job['id']}/deliveries/redeliver") for _ in range(3)))
    assert [r.status_code for r in redeliveries] == [201, 201, 201]
    await first.stop()
    await workers.start(delivery_schedule_scale=0.00001)  # the rest of the schedule at once
    delivery = await wait_for_delivery(client, job["id"], "failed", attempts=11, wait_s=20)
    triggers = [a["trigger"] for a in delivery["attempts"]]
    assert triggers.count("schedule") == 8
    assert triggers.count("redeliver") == 3
    assert sorted(a["number"] for a in delivery["attempts"]) == list(range(1, 12))  # racing attempts never share


async def test_410_stops_retrying_and_disables_push_until_re_enabled(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    receiver.reply(Reply(410, body=b"gone"))
    await workers.start()
    job = await submit_push(client)
    delivery = await wait_for_delivery(client, job["id"], "failed")
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] == 410
    assert attempt["response_snippet"] == "gone"
    assert delivery["next_attempt_at"] is None
    await assert_no_more(receiver, 1)

    settings = (await client.get("/v1/workflows/greeter/settings")).json()
    assert settings["push"]["enabled"] is False
    assert "410" in settings["push"]["disabled_reason"]
    refused = await client.post("/v1/workflows/greeter/versions/current/push", json={"inputs": {"name": "Ada"}})
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await client.post(f"/v1/jobs/{job['id']}/deliveries/redeliver")).status_code == 409

    enabled = await client.patch("/v1/workflows/greeter/settings", json={"push": {"enabled": True}})
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["push"]["enabled"] is True
    assert enabled.json()["push"]["disabled_reason"] is None
    assert enabled.json()["signing_secret"] is None  # the secret did not change
    again = await submit_push(client)
    [request] = [r for r in await receiver.wait_for(2) if r.json()["data"]["id"] == again["id"]]
    assert request.verified_by == receiver.secrets
    await wait_for_delivery(client, again["id"], "succeeded")


async def test_redeliver_sends_again_with_the_same_webhook_id(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    await workers.start()
    job = await submit_push(client)
    await wait_for_delivery(client, job["id"], "succeeded")
    receiver.reply(Reply(200, body=b"thanks again"))
    response = await client.post(f"/v1/jobs/{job['id']}/deliveries/redeliver")
    assert response.status_code == 201, response.text
    attempt = response.json()
    assert attempt["number"] == 2
    assert attempt["trigger"] == "redeliver"
    assert attempt["status_code"] == 200
    assert attempt["response_snippet"] == "thanks again"
    first, second = await receiver.wait_for(2)
    assert second.webhook_id == first.webhook_id
    assert second.body == first.body
    assert second.verified_by == receiver.secrets
    delivery = await wait_for_delivery(client, job["id"], "succeeded", attempts=2)
    assert [a["trigger"] for a in delivery["attempts"]] == ["schedule", "redeliver"]
    assert delivery["attempts"][1] == attempt


async def test_redeliver_of_a_given_up_delivery_records_a_new_attempt(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await push_workflow(client, receiver)
    receiver.default = Reply(500)
    await workers.start(delivery_schedule_scale=0.00001)
    job = await submit_push(client)
    await wait_for_delivery(client, job["id"], "failed", attempts=8)
    receiver.default = Reply(204)
    response = await client.post(f"/v1/jobs/{job['id']}/deliveries/redeliver")
    assert response.status_code == 201
    assert response.json()["number"] == 9
    assert response.json()["status_code"] == 204
    delivery = await wait_for_delivery(client, job["id"], "succeeded", attempts=9)
    assert delivery["attempts"][-1]["trigger"] == "redeliver"
    assert len({r.webhook_id for r in receiver.requests}) == 1


async def test_redeliver_unknown_job_is_404(client: httpx.AsyncClient) -> None:
    for job_id in ("0190d6a4-0000-7000-8000-000000000000", "not-an-id"):
        assert (await client.post(f"/v1/jobs/{job_id}/deliveries/redeliver")).status_code == 404
        assert (await client.get(f"/v1/jobs/{job_id}/deliveries")).status_code == 404


async def test_callback_url_is_checked_again_at_send_time(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    # The API allowed 127.0.0.1 when the URL was saved; the worker's operator does not.
    await push_workflow(client, receiver)
    await workers.start(outbound_allowlist=[])
    job = await submit_push(client)
    delivery = await wait_for_delivery(client, job["id"], attempts=1)
    attempt = delivery["attempts"][0]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("outbound_refused")
    assert receiver.requests == []


async def test_signatures_verify_across_a_rotation(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver, engine: AsyncEngine
) -> None:
    old = await push_workflow(client, receiver)
    rotated = await client.post("/v1/workflows/greeter/settings/rotate-signing-secret")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["signing_secret"]
    assert new.startswith("whsec_")
    assert new != old
    assert rotated.json()["push"]["signing_secrets"] == 2
    receiver.secrets = [old, new]
    await workers.start()
    job = await submit_push(client)
    [during] = await receiver.wait_for(1)
    assert during.verified_by == [old, new]  # both secrets verify a message signed during the overlap
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    await wait_for_delivery(client, job["id"], "succeeded")

    # End the overlap (24 h later): only the new secret signs.
    async with engine.begin() as conn:
        stored: dict[str, Any] = (
            await conn.execute(sa.select(workflow_t.c.settings).where(workflow_t.c.slug == "greeter"))
        ).scalar_one()
        for entry in stored["push"]["secrets"]:
            if entry["expires_at"] is not None:
                entry["expires_at"] = datetime(2000, 1, 1, tzinfo=UTC).isoformat()
        await conn.execute(workflow_t.update().where(workflow_t.c.slug == "greeter").values(settings=stored))
    assert (await client.get("/v1/workflows/greeter/settings")).json()["push"]["signing_secrets"] == 1
    assert (await client.post(f"/v1/jobs/{job['id']}/deliveries/redeliver")).status_code == 201
    _, after = await receiver.wait_for(2)
    assert after.verified_by == [new]
    assert len(after.headers["webhook-signature"].split(" ")) == 1


async def test_running_job_past_push_timeout_fails_and_its_callback_says_so(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver, engine: AsyncEngine
) -> None:
    await push_workflow(client, receiver, "slow", SLOW)
    await set_push_timeout(engine, "slow", 1)
    await workers.start()
    job = await submit_push(client, "slow", inputs={"base": receiver.base})
    ended = await wait_for_job(client, job["id"])
    assert ended["status"] == "failed"
    assert ended["error"]["code"] == "push_timeout"
    [request] = await receiver.wait_for(1)
    assert request.verified_by == receiver.secrets
    body = request.json()
    assert body["type"] == "job.failed"
    assert body["data"]["error"]["code"] == "push_timeout"
    assert (await wait_for_delivery(client, job["id"], "succeeded"))["event_type"] == "job.failed"


async def test_pending_job_past_push_timeout_fails_and_its_callback_says_so(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver, engine: AsyncEngine
) -> None:
    await push_workflow(client, receiver)
    await set_push_timeout(engine, "greeter", 1)
    await workers.start()
    job = await submit_push(client, pool="nobody")  # never claimed: the reconciler ends it
    ended = await wait_for_job(client, job["id"])
    assert ended["status"] == "failed"
    assert ended["error"]["code"] == "push_timeout"
    [request] = await receiver.wait_for(1)
    assert request.json()["type"] == "job.failed"
    assert request.json()["data"]["error"]["code"] == "push_timeout"
    assert request.verified_by == receiver.secrets
