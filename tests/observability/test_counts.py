"""What /metrics counts matches what happened, exactly: jobs in (at intake) and out (through the lifecycle),
their durations and queue waits, steps, model tokens and cost, push attempts, requests by route template,
and the database's figures. On PostgreSQL + Redis with a worker; workflows get names of their own, so
that the counts of other tests never mix in."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import WorkerFactory, eventually, wait_for_job
from tests.deliveries.conftest import enable_push
from tests.invocation.conftest import GREETER, http_step, http_workflow
from tests.jobs.conftest import deploy_workflow, submit
from tests.llm.conftest import ModelServer
from tests.llm.test_llm_step import KEY, llm_workflow
from tests.observability.conftest import Samples, scrape, total, value
from tests.servers import EchoServer
from workflow_service.config import Price


def _seconds(job: dict[str, Any], start: str, end: str) -> float:
    return (datetime.fromisoformat(job[end]) - datetime.fromisoformat(job[start])).total_seconds()


async def test_jobs_in_and_out_durations_and_queue_waits(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    ok, bad = f"ok-{tag}", f"bad-{tag}"
    await deploy_workflow(client, ok, GREETER)
    await deploy_workflow(client, bad, http_workflow(http_step("call", f"{echo_server.url}/status/500")))
    await start_worker()
    completed = [(await submit(client, ok, {"name": "Ada"}))["id"] for _ in range(5)]
    failed = [(await submit(client, bad))["id"] for _ in range(3)]
    # Never started: one canceled while pending, one left pending in a pool no worker serves.
    waiting = [(await submit(client, ok, {"name": "Bo"}, pool="nobody"))["id"] for _ in range(2)]
    assert (await client.post(f"/v1/jobs/{waiting[0]}/cancel")).status_code == 200
    jobs = {job_id: await wait_for_job(client, job_id) for job_id in [*completed, *failed, waiting[0]]}
    assert [jobs[j]["status"] for j in completed] == ["completed"] * 5
    assert [jobs[j]["status"] for j in failed] == ["failed"] * 3

    async def counted() -> Samples | None:  # ends are counted after their commit: a moment after they show
        samples = await scrape(client)
        return samples if total(samples, "wfs_jobs_ended_total", workflow=ok) == 6 else None

    m = await eventually(counted, "the ends counted")
    assert value(m, "wfs_jobs_submitted_total", workflow=ok, origin="api") == 7
    assert value(m, "wfs_jobs_submitted_total", workflow=bad, origin="api") == 3
    assert value(m, "wfs_jobs_ended_total", workflow=ok, status="completed", origin="api") == 5
    assert value(m, "wfs_jobs_ended_total", workflow=ok, status="canceled", origin="api") == 1
    assert value(m, "wfs_jobs_ended_total", workflow=bad, status="failed", origin="api") == 3
    assert total(m, "wfs_jobs_ended_total", workflow=bad) == 3
    # The histograms: one observation per end, of exactly the times the jobs show.
    duration = "wfs_job_duration_seconds"
    assert value(m, f"{duration}_count", workflow=ok, status="completed") == 5
    assert value(m, f"{duration}_count", workflow=ok, status="canceled") == 1
    assert value(m, f"{duration}_count", workflow=bad, status="failed") == 3
    expected = sum(_seconds(jobs[j], "created_at", "finished_at") for j in completed)
    assert value(m, f"{duration}_sum", workflow=ok, status="completed") == pytest.approx(expected, abs=1e-4)
    assert value(m, f"{duration}_bucket", workflow=ok, status="completed", le="+Inf") == 5
    # A queue wait for each job that started: the canceled one never did.
    assert value(m, "wfs_job_queue_wait_seconds_count", workflow=ok) == 5
    assert value(m, "wfs_job_queue_wait_seconds_count", workflow=bad) == 3
    waited = sum(_seconds(jobs[j], "created_at", "started_at") for j in failed)
    assert value(m, "wfs_job_queue_wait_seconds_sum", workflow=bad) == pytest.approx(waited, abs=1e-4)
    # The database's figure: the one still pending, in its pool.
    assert value(m, "wfs_jobs", status="pending", pool="nobody") == 1
    assert value(m, "wfs_agents", status="online") >= 1
    assert total(m, "wfs_agent_last_heartbeat_timestamp_seconds") > 0


async def test_a_rerun_is_counted_by_its_origin(client: httpx.AsyncClient, start_worker: WorkerFactory) -> None:
    slug = f"again-{uuid.uuid4().hex[:8]}"
    await deploy_workflow(client, slug, GREETER)
    await start_worker()
    first = await wait_for_job(client, (await submit(client, slug, {"name": "Ada"}))["id"])
    rerun = await client.post(f"/v1/jobs/{first['id']}/rerun", json={})
    assert rerun.status_code == 201, rerun.text
    await wait_for_job(client, rerun.json()["id"])

    async def counted() -> Samples | None:
        samples = await scrape(client)
        return samples if total(samples, "wfs_jobs_ended_total", workflow=slug) == 2 else None

    m = await eventually(counted, "both ends counted")
    for origin in ("api", "rerun"):
        assert value(m, "wfs_jobs_submitted_total", workflow=slug, origin=origin) == 1
        assert value(m, "wfs_jobs_ended_total", workflow=slug, status="completed", origin=origin) == 1


async def test_steps_model_tokens_and_cost(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    name = f"gpt-{uuid.uuid4().hex[:8]}"
    slug = f"ask-{name}"
    await deploy_workflow(client, slug, llm_workflow(model={"provider": "openai", "name": name}))
    await start_worker(
        openai_base_url=f"{model_server.url}/v1",
        openai_api_key=SecretStr(KEY),
        pricing={"*": Price(input_per_1k=2.0, output_per_1k=10.0)},
    )
    before = await scrape(client)
    jobs = []
    for topic in ("otters", "sea otters"):
        submitted = await submit(client, slug, {"topic": topic}, cache="never")
        jobs.append(await wait_for_job(client, submitted["id"], wait_s=20))
    steps = [job["steps"][0] for job in jobs]
    model = steps[0]["model"]
    assert model == f"openai/{name}-0613"

    async def counted() -> Samples | None:
        samples = await scrape(client)
        done = value(samples, "wfs_jobs_ended_total", workflow=slug, status="completed", origin="api") == 2
        return samples if done else None

    m = await eventually(counted, "the ends counted")
    tokens_in = sum(s["input_tokens"] for s in steps)
    tokens_out = sum(s["output_tokens"] for s in steps)
    assert tokens_in > 0
    assert tokens_out > 0
    assert value(m, "wfs_llm_tokens_total", model=model, direction="input") == tokens_in
    assert value(m, "wfs_llm_tokens_total", model=model, direction="output") == tokens_out
    cost = sum(s["cost"] for s in steps)
    assert cost == pytest.approx(tokens_in / 1000 * 2.0 + tokens_out / 1000 * 10.0)
    assert value(m, "wfs_llm_cost_credits_total", model=model) == pytest.approx(cost)
    ran = "wfs_step_duration_seconds_count"
    assert value(m, ran, type="llm", status="completed") - value(before, ran, type="llm", status="completed") == 2


async def test_push_attempts_by_outcome(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    tag = uuid.uuid4().hex[:8]
    accepted, refused = f"hooked-{tag}", f"refused-{tag}"
    for slug, path in ((accepted, "/hook"), (refused, "/status/500")):
        await deploy_workflow(client, slug, GREETER)
        await enable_push(client, slug, f"{echo_server.url}{path}")
    before = await scrape(client)
    # The retry of the refused callback is far off: one attempt each.
    await start_worker(delivery_schedule_scale=1000.0)
    for slug in (accepted, refused):
        response = await client.post(f"/v1/workflows/{slug}/versions/current/push", json={"inputs": {"name": "Ada"}})
        assert response.status_code == 202, response.text
        await wait_for_job(client, response.json()["id"])

    def delta(samples: Samples, outcome: str) -> float:
        name = "wfs_delivery_attempts_total"
        return value(samples, name, outcome=outcome, trigger="schedule") - value(
            before, name, outcome=outcome, trigger="schedule"
        )

    async def attempted() -> Samples | None:
        samples = await scrape(client)
        return samples if delta(samples, "succeeded") >= 1 and delta(samples, "rejected") >= 1 else None

    m = await eventually(attempted, "both callbacks attempted", wait_s=10)
    await asyncio.sleep(0.5)  # nothing more comes
    m = await scrape(client)
    assert (delta(m, "succeeded"), delta(m, "rejected")) == (1, 1)


async def test_requests_by_route_template_never_by_path(client: httpx.AsyncClient) -> None:
    slug = f"routes-{uuid.uuid4().hex[:8]}"
    await deploy_workflow(client, slug, GREETER)
    job = await submit(client, slug, {"name": "Ada"})
    before = await scrape(client)
    for _ in range(3):
        assert (await client.get(f"/v1/jobs/{job['id']}")).status_code == 200
    missing = uuid.uuid4()
    assert (await client.get(f"/v1/jobs/{missing}")).status_code == 404
    assert (await client.get(f"/no/such/{missing}")).status_code == 404
    assert (await client.delete("/healthz")).status_code == 405
    response = await client.get("/metrics")
    text = response.text
    m = await scrape(client)

    def delta(**labels: str) -> float:
        name = "wfs_http_request_duration_seconds_count"
        return value(m, name, **labels) - value(before, name, **labels)

    assert delta(method="GET", route="/v1/jobs/{job_id}", status_class="2xx") == 3
    assert delta(method="GET", route="/v1/jobs/{job_id}", status_class="4xx") == 1
    assert delta(method="GET", route="unmatched", status_class="4xx") == 1
    assert delta(method="DELETE", route="/healthz", status_class="4xx") == 1
    # a 401 (answered by the authentication, before any route runs) is counted under its route all the same
    anonymous = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with anonymous:
        assert (await anonymous.get(f"/v1/jobs/{job['id']}")).status_code == 401
    after = await scrape(client)
    name = "wfs_http_request_duration_seconds_count"
    labels = {"method": "GET", "route": "/v1/jobs/{job_id}", "status_class": "4xx"}
    assert value(after, name, **labels) - value(m, name, **labels) == 1
    # No label ever holds a path as sent.
    routes = {dict(labels)["route"] for (n, labels) in after if n.startswith("wfs_http_request_duration_seconds")}
    assert not any(job["id"] in r or str(missing) in r for r in routes), routes
    assert job["id"] not in text
