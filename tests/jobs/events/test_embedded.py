"""Following a job in the embedded mode (`workflow-service dev`, SQLite, the in-process worker): absolute
URLs, the long poll and the event stream, woken by in-process notices (the slow timer is a minute here)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import eventually
from tests.invocation.conftest import http_step, http_workflow
from tests.jobs.conftest import deploy_workflow, submit
from tests.jobs.events.conftest import (
    TWO_SLOW_STEPS_EVENTS,
    Received,
    assert_resumes,
    events_of,
    long_poll_a_start,
    new_job,
    places,
    receive,
    summary,
    two_slow_steps,
)
from tests.servers import EchoServer
from tests.test_embedded import Service, admin_client, embedded


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with embedded(tmp_path_factory.mktemp("embedded"), WFS_FOLLOW_POLL_S="60", WFS_EVENTS_KEEPALIVE_S="60") as svc:
        yield svc


@pytest.fixture
async def api(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(service, request_timeout_s=45) as client:
        yield client


async def test_endpoints_locations_and_retry_after_are_absolute(api: httpx.AsyncClient, service: Service) -> None:
    hello = (await api.get("/v1/workflows/hello")).json()
    base = f"{service.url}/v1/workflows/hello/versions/1"
    assert hello["endpoints"] == {mode: f"{base}/{mode}" for mode in ("sync", "async", "push", "estimate")}
    submitted = await api.post(hello["endpoints"]["async"], json={"inputs": {"name": "Ada"}})
    assert submitted.status_code == 202, submitted.text
    assert submitted.headers["Location"] == f"{service.url}/v1/jobs/{submitted.json()['id']}"
    assert submitted.headers["Retry-After"] == "1"
    done = await api.get(submitted.headers["Location"], headers={"Prefer": "wait=20"})
    assert done.headers["Preference-Applied"] == "wait=20"
    assert done.json()["status"] in ("running", "completed")


async def test_a_stream_shows_the_steps_as_they_run_and_ends_with_the_job(
    api: httpx.AsyncClient, echo_server: EchoServer
) -> None:
    await deploy_workflow(api, "fetcher", two_slow_steps(echo_server))
    job_id = (await submit(api, "fetcher"))["id"]
    received: list[Received] = []
    assert (await receive(api, job_id, received)).status_code == 200
    assert summary(received) == TWO_SLOW_STEPS_EVENTS
    events = events_of(received)
    first_ended, second_ended = events[4], events[6]
    assert second_ended.at - first_ended.at >= 0.8  # as it happened, woken by the in-process notices
    assert places(received) == sorted(set(places(received)))  # in order, each once
    await assert_resumes(api, job_id, events, after=first_ended)


async def test_a_job_canceled_mid_step_ends_its_stream_with_the_step_failed_then_the_job_canceled(
    api: httpx.AsyncClient, echo_server: EchoServer
) -> None:
    await deploy_workflow(api, "sleeper", http_workflow(http_step("nap", f"{echo_server.url}/slow/5")))
    job_id = (await submit(api, "sleeper"))["id"]
    received: list[Received] = []
    reading = asyncio.create_task(receive(api, job_id, received))
    await eventually(lambda: ("step.started", "nap") in summary(received), "the step's start")
    assert (await api.post(f"/v1/jobs/{job_id}/cancel")).status_code == 200
    await asyncio.wait_for(reading, 5)
    assert summary(received)[-2:] == [("step.ended", "nap"), ("status", "canceled")]
    nap_ended: dict[str, Any] = events_of(received)[-2].data
    assert (nap_ended["status"], nap_ended["error"]["code"]) == ("failed", "canceled")


async def test_a_long_poll_answers_when_the_job_is_started(api: httpx.AsyncClient) -> None:
    job_id = await new_job(api, "hello", inputs={"name": "Ada"})
    job, took = await long_poll_a_start(api, api, job_id)
    assert job["status"] != "new"  # pending, or already further: the in-process worker is quick
    assert took < 3
