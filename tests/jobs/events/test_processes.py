"""Following a job through real processes on PostgreSQL and Redis: an event stream or a long poll held
by one api process learns of what a worker process (or another api process) does to the job from the
notices, not from its slow timer (set to a minute here), and a stream resumes on any api process."""

from __future__ import annotations

import asyncio
import signal

from tests.conftest import wait_for_job
from tests.invocation.conftest import http_step, http_workflow
from tests.jobs.conftest import deploy_workflow, submit
from tests.jobs.events.conftest import (
    TWO_SLOW_STEPS_EVENTS,
    Processes,
    Received,
    admin_of,
    agent_online,
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

SLOW_TIMER = {"WFS_FOLLOW_POLL_S": "60", "WFS_EVENTS_KEEPALIVE_S": "60"}
"""An api process that reads a followed job again only when a notice says so (or after a minute)."""


async def test_a_stream_on_one_api_process_shows_a_worker_process_running_the_job_as_it_happens(
    processes: Processes, echo_server: EchoServer
) -> None:
    submitting, streaming = processes.api("api-a"), processes.api("api-b", **SLOW_TIMER)
    processes.worker("w1")
    async with admin_of(submitting) as a, admin_of(streaming) as b:
        await deploy_workflow(a, "fetcher", two_slow_steps(echo_server))
        await agent_online(a, "w1")
        job_id = (await submit(a, "fetcher"))["id"]
        received: list[Received] = []
        opened = asyncio.get_running_loop().time()
        assert (await receive(b, job_id, received)).status_code == 200
        events = events_of(received)
        assert summary(received) == TWO_SLOW_STEPS_EVENTS
        by_name = {(r.event, r.data.get("step")): r for r in events}
        first_ended, second_ended = by_name[("step.ended", "first")], by_name[("step.ended", "second")]
        assert first_ended.data["status"] == "completed"
        assert first_ended.data["attempt"] == 1
        # Each step's end came as it happened, about a second apart, and the stream ended at the job's end,
        # all within far less than the streaming process's minute-long timer: the worker's notices woke it.
        assert second_ended.at - first_ended.at >= 0.8
        assert events[-1].at - opened < 15
        assert places(received) == sorted(set(places(received)))  # in order, each once

        await assert_resumes(a, job_id, events, after=first_ended)  # on the other process


async def test_a_long_poll_answers_when_a_worker_process_claims_the_job(
    processes: Processes, echo_server: EchoServer
) -> None:
    api = processes.api("api", **SLOW_TIMER)
    processes.worker("w1", "--concurrency", "1")
    async with admin_of(api) as client:
        await deploy_workflow(client, "slow", http_workflow(http_step("wait", f"{echo_server.url}/slow/2")))
        await agent_online(client, "w1")
        first = await client.post("/v1/workflows/slow/versions/current/async", json={})
        assert first.status_code == 202, first.text
        assert first.headers["Location"] == f"{api.url}/v1/jobs/{first.json()['id']}"
        assert first.headers["Retry-After"] == "1"
        await wait_for_job(client, first.json()["id"], ("running",))
        second = await client.post("/v1/workflows/slow/versions/current/async", json={})  # waits for the slot
        location = second.headers["Location"]

        loop = asyncio.get_running_loop()
        asked = loop.time()
        claimed = await client.get(location, headers={"Prefer": "wait=30"})
        took = loop.time() - asked
        assert claimed.status_code == 200, claimed.text
        assert claimed.headers["Preference-Applied"] == "wait=30"
        assert claimed.json()["status"] == "running", claimed.json()
        assert took < 5, took  # when the first job ended and the worker took this one, not at the 60 s timer

        asked = loop.time()
        ended = await client.get(location, headers={"Prefer": "wait=30"})
        assert ended.json()["status"] == "completed"
        assert 1 < loop.time() - asked < 5
        at_once = await client.get(location)
        assert at_once.json() == ended.json()
        assert "Preference-Applied" not in at_once.headers


async def test_a_quiet_stream_keeps_alive_and_ends_when_its_process_shuts_down(processes: Processes) -> None:
    api = processes.api("api", WFS_FOLLOW_POLL_S="60", WFS_EVENTS_KEEPALIVE_S="0.3")
    async with admin_of(api) as client:
        greeter = {"steps": [{"id": "compose", "type": "transform", "output": {"text": "hi"}}]}
        await deploy_workflow(client, "greeter", greeter)
        job_id = (await submit(client, "greeter", pool="nobody"))["id"]  # no worker serves it: it stays pending
        received: list[Received] = []
        reading = asyncio.create_task(receive(client, job_id, received))
        await asyncio.sleep(1.5)
        assert summary(received) == [("status", "pending")]
        assert [r.comment for r in received if r.comment is not None].count("keep-alive") >= 3

        # SIGTERM: the server waits for its open connections to close before it stops; the stream's does.
        loop = asyncio.get_running_loop()
        asked = loop.time()
        await asyncio.to_thread(api.stop)
        assert loop.time() - asked < 5
        assert api.popen.returncode == -signal.SIGTERM, api.output()  # not killed after the grace period
        assert "Finished server process" in api.output()
        assert (await asyncio.wait_for(reading, 1)).status_code == 200


async def test_a_long_poll_on_one_api_process_answers_when_another_starts_the_job(processes: Processes) -> None:
    polled, starting = processes.api("api-a", **SLOW_TIMER), processes.api("api-b")
    async with admin_of(polled) as a, admin_of(starting) as b:
        greeter = {"steps": [{"id": "compose", "type": "transform", "output": {"text": "hi"}}]}
        await deploy_workflow(a, "greeter", greeter)
        job_id = await new_job(a, "greeter", pool="nobody")  # no worker: once started, it stays pending
        job, took = await long_poll_a_start(a, b, job_id, query="?steps=false")
        assert (job["status"], job["steps"]) == ("pending", None)
        assert took < 3
