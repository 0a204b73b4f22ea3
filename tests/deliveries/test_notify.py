"""A job's own completion notice (`notify_url`) end to end: submitted through the API, run by a real worker,
received by a real webhook receiver that verifies every request with the `standardwebhooks` library."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import wait_for_job
from tests.deliveries.conftest import (
    ACCESS_TOKEN,
    Reply,
    WebhookReceiver,
    Workers,
    deliveries,
    deploy,
    push_workflow,
)
from tests.deliveries.test_push import assert_no_more
from tests.jobs.test_submit import problem_paths
from workflow_service.jobs.schemas import JobCreate
from workflow_service.jobs.service import request_hash


@pytest.fixture
def other() -> Iterator[WebhookReceiver]:
    """A second receiver: where a job's own notices go when the workflow's callbacks go to `receiver`."""
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()


async def signing_workflow(client: httpx.AsyncClient, *receivers: WebhookReceiver, slug: str = "greeter") -> str:
    """A workflow without push that has a signing secret (made by a rotation); the receivers verify with it."""
    await deploy(client, slug)
    response = await client.post(f"/v1/workflows/{slug}/settings/rotate-signing-secret")
    assert response.status_code == 200, response.text
    secret: str = response.json()["signing_secret"]
    for receiver in receivers:
        receiver.secrets = [secret]
    return secret


async def submit(client: httpx.AsyncClient, mode: str = "async", slug: str = "greeter", **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"/v1/workflows/{slug}/versions/current/{mode}", json={"inputs": {"name": "Ada"}, **body}
    )
    assert response.status_code in (200, 202), response.text
    job: dict[str, Any] = response.json()
    return job


async def settled(client: httpx.AsyncClient, job_id: str, count: int, wait_s: float = 10.0) -> list[dict[str, Any]]:
    """The job's deliveries once there are `count` and none is pending any more."""
    deadline = time.monotonic() + wait_s
    while True:
        items = await deliveries(client, job_id)
        if len(items) == count and all(d["status"] != "pending" for d in items):
            return items
        assert time.monotonic() < deadline, items
        await asyncio.sleep(0.03)


async def test_a_job_with_a_notify_url_gets_a_signed_notice_without_the_access_token(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await signing_workflow(client, receiver)
    await workers.start()
    job = await submit(client, notify_url=receiver.url)
    assert (await wait_for_job(client, job["id"]))["status"] == "completed"
    [request] = await receiver.wait_for(1)
    assert request.verified_by == receiver.secrets  # signed with the workflow's secret
    assert "authorization" not in request.headers  # the push access token is for the workflow's own URL only
    body = request.json()
    assert body["type"] == "job.completed"
    assert body["data"] == (await client.get(f"/v1/jobs/{job['id']}")).json()
    [notice] = await settled(client, job["id"], 1)
    assert (notice["kind"], notice["status"], notice["webhook_id"]) == ("notify", "succeeded", request.webhook_id)
    assert [(a["url"], a["status_code"]) for a in notice["attempts"]] == [(receiver.url, 204)]
    await assert_no_more(receiver, 1, 0.2)


async def test_a_notice_is_retried_until_the_receiver_takes_it(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await signing_workflow(client, receiver)
    receiver.reply(Reply(status=500), Reply(status=503))
    await workers.start()
    job = await submit(client, notify_url=receiver.url)
    requests = await receiver.wait_for(3)
    assert len({r.webhook_id for r in requests}) == 1  # one message, sent again
    assert all(r.verified_by == receiver.secrets for r in requests)
    [notice] = await settled(client, job["id"], 1)
    assert notice["status"] == "succeeded"
    assert [(a["number"], a["status_code"], a["trigger"]) for a in notice["attempts"]] == [
        (1, 500, "schedule"),
        (2, 503, "schedule"),
        (3, 204, "schedule"),
    ]


async def test_a_job_without_a_notify_url_sends_nothing(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await signing_workflow(client, receiver)
    await workers.start()
    job = await submit(client)
    assert (await wait_for_job(client, job["id"]))["status"] == "completed"
    await assert_no_more(receiver, 0, 0.5)
    assert await deliveries(client, job["id"]) == []


async def test_a_push_job_with_a_notify_url_gets_both_each_to_its_url(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver, other: WebhookReceiver
) -> None:
    secret = await push_workflow(client, receiver)
    other.secrets = [secret]
    await workers.start()
    job = await submit(client, "push", notify_url=other.url)
    [pushed] = await receiver.wait_for(1)
    [noticed] = await other.wait_for(1)
    assert pushed.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert "authorization" not in noticed.headers
    assert pushed.verified_by == noticed.verified_by == [secret]
    assert pushed.webhook_id != noticed.webhook_id
    assert pushed.json()["data"] == noticed.json()["data"]
    kinds = {d["kind"]: d for d in await settled(client, job["id"], 2)}
    assert kinds["push"]["attempts"][0]["url"] == receiver.url
    assert kinds["notify"]["attempts"][0]["url"] == other.url


async def test_a_canceled_job_notifies_and_a_gone_url_ends_only_its_notice(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver, other: WebhookReceiver
) -> None:
    secret = await push_workflow(client, receiver)
    other.secrets = [secret]
    other.default = Reply(status=410)
    job = await submit(client, "push", notify_url=other.url, pool="nobody")  # no agent: it stays pending
    assert (await client.post(f"/v1/jobs/{job['id']}/cancel")).status_code == 200
    # Both deliveries were made with the cancel, before any worker exists.
    assert sorted((d["kind"], d["event_type"]) for d in await deliveries(client, job["id"])) == [
        ("notify", "job.canceled"),
        ("push", "job.canceled"),
    ]
    await workers.start()
    kinds = {d["kind"]: d for d in await settled(client, job["id"], 2)}
    assert (kinds["notify"]["status"], [a["status_code"] for a in kinds["notify"]["attempts"]]) == ("failed", [410])
    assert kinds["push"]["status"] == "succeeded"
    assert (await client.get("/v1/workflows/greeter/settings")).json()["push"]["enabled"] is True  # push stays on
    assert other.requests[0].json()["type"] == "job.canceled"


async def test_a_notice_can_be_sent_again(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await signing_workflow(client, receiver)
    await workers.start()
    job = await submit(client, notify_url=receiver.url)
    await settled(client, job["id"], 1)
    again = await client.post(f"/v1/jobs/{job['id']}/deliveries/redeliver")
    assert again.status_code == 201, again.text
    assert (again.json()["number"], again.json()["trigger"], again.json()["url"]) == (2, "redeliver", receiver.url)
    first, second = await receiver.wait_for(2)
    assert first.webhook_id == second.webhook_id
    assert second.verified_by == receiver.secrets


async def test_a_rerun_does_not_inherit_the_notify_url(
    client: httpx.AsyncClient, workers: Workers, receiver: WebhookReceiver
) -> None:
    await signing_workflow(client, receiver)
    await workers.start()
    job = await submit(client, notify_url=receiver.url)
    await settled(client, job["id"], 1)
    rerun = await client.post(f"/v1/jobs/{job['id']}/rerun")
    assert rerun.status_code == 201, rerun.text
    assert (await wait_for_job(client, rerun.json()["id"]))["status"] == "completed"
    assert await deliveries(client, rerun.json()["id"]) == []
    await assert_no_more(receiver, 1, 0.3)


@pytest.mark.parametrize("mode", ["async", "sync", "push"])
@pytest.mark.parametrize(
    ("notify_url", "why"),
    [
        ("ftp://127.0.0.1/done", "http or https"),
        ("/relative/done", "http or https"),
        ("http://10.1.2.3/done", "non-public address"),  # a private address the outbound policy refuses
        ("http://[::1", "invalid URL"),
        ("https://example.com/" + "x" * 2048, "at most 2048"),
    ],
)
async def test_a_bad_notify_url_is_a_422_and_makes_no_job(
    client: httpx.AsyncClient, receiver: WebhookReceiver, mode: str, notify_url: str, why: str
) -> None:
    await push_workflow(client, receiver)
    response = await client.post(
        f"/v1/workflows/greeter/versions/current/{mode}", json={"inputs": {"name": "Ada"}, "notify_url": notify_url}
    )
    assert response.status_code == 422, response.text
    assert problem_paths(response) == ["$.notify_url"]
    assert why in response.text
    assert (await client.get("/v1/jobs")).json()["items"] == []


async def test_a_notify_url_needs_a_signing_secret(client: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
    await deploy(client, "greeter")  # no push, no rotation: nothing to sign with
    response = await client.post(
        "/v1/workflows/greeter/versions/current/async", json={"inputs": {"name": "Ada"}, "notify_url": receiver.url}
    )
    assert response.status_code == 422, response.text
    assert problem_paths(response) == ["$.notify_url"]
    assert "rotate-signing-secret" in response.json()["detail"]
    assert (await client.get("/v1/jobs")).json()["items"] == []


async def test_the_notify_url_is_part_of_an_idempotent_request(
    client: httpx.AsyncClient, receiver: WebhookReceiver, other: WebhookReceiver
) -> None:
    await signing_workflow(client)
    headers = {"Idempotency-Key": "order-7"}
    url = "/v1/workflows/greeter/versions/current/async"
    body = {"inputs": {"name": "Ada"}, "notify_url": receiver.url}
    first = await client.post(url, json=body, headers=headers)
    again = await client.post(url, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    elsewhere = await client.post(url, json={**body, "notify_url": other.url}, headers=headers)
    assert elsewhere.status_code == 422
    assert problem_paths(elsewhere) == ["header:Idempotency-Key"]


def test_a_key_first_used_before_notify_urls_still_matches() -> None:
    """A body without `notify_url` hashes as bodies did before the field existed (stored keys keep matching)."""
    data = JobCreate(inputs={"name": "Ada"})
    before = data.model_dump(mode="json", exclude={"cache", "notify_url"})  # the fields a body had then
    canonical = orjson.dumps({"version": "current", "mode": "async", "body": before}, option=orjson.OPT_SORT_KEYS)
    assert request_hash("current", "async", data) == hashlib.sha256(canonical).hexdigest()
    with_url = JobCreate(inputs={"name": "Ada"}, notify_url="https://example.com/done")
    assert request_hash("current", "async", with_url) != request_hash("current", "async", data)
