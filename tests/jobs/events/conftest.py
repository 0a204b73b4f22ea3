"""Helpers for following jobs: reading a job's event stream as a client does, and the service as real
processes (api and worker processes on PostgreSQL and Redis)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import admin, connect
from tests.conftest import DATABASE_URL, REDIS_URL, TOKEN
from tests.invocation.conftest import http_step, http_workflow
from tests.jobs.conftest import submit
from tests.servers import CLI, EchoServer, Process, clean_env, free_port, start_process
from workflow_service.jobs.events import positions

__all__ = ["admin", "connect"]  # the app with one client per bearer token (tests/apikeys/conftest.py)


@dataclass(frozen=True)
class Received:
    """An event or a comment of a stream, and when the client read it (the event loop's clock)."""

    at: float
    id: str | None = None
    event: str | None = None
    data: Any = None
    comment: str | None = None


async def receive(
    client: httpx.AsyncClient, job_id: str, into: list[Received], last_event_id: str | None = None
) -> httpx.Response:
    """Read the job's event stream to its end, adding each event and comment to `into` as it comes."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    loop = asyncio.get_running_loop()
    async with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as response:
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(":"):
                into.append(Received(loop.time(), comment=line[1:].strip()))
            elif line:
                name, _, value = line.partition(": ")
                fields[name] = value
            elif fields:
                into.append(Received(loop.time(), fields.get("id"), fields.get("event"), json.loads(fields["data"])))
                fields = {}
    return response


def events_of(received: list[Received]) -> list[Received]:
    return [r for r in received if r.event is not None]


def summary(received: list[Received]) -> list[tuple[str, str]]:
    """(event name, the status reached or the step) of each event."""
    events = events_of(received)
    return [(e.event or "", e.data["to_status"] if e.event == "status" else e.data["step"]) for e in events]


def places(received: list[Received]) -> list[int]:
    """The places the events' ids name, in the order they came."""
    found = [positions.parse(e.id) for e in events_of(received)]
    assert None not in found, found
    return [place for place in found if place is not None]


def two_slow_steps(echo: EchoServer) -> dict[str, Any]:
    """Two http steps of a second each, then a transform: a job whose steps' ends come a second apart."""
    shout = {"id": "shout", "type": "transform", "output": {"code": "{{ steps.second.output.status_code }}"}}
    return http_workflow(http_step("first", f"{echo.url}/slow/1"), http_step("second", f"{echo.url}/slow/1"), shout)


TWO_SLOW_STEPS_EVENTS = [
    ("status", "pending"),
    ("status", "claimed"),
    ("status", "running"),
    ("step.started", "first"),
    ("step.ended", "first"),
    ("step.started", "second"),
    ("step.ended", "second"),
    ("step.started", "shout"),
    ("step.ended", "shout"),
    ("status", "validating"),
    ("status", "uploading"),
    ("status", "completed"),
]
"""The stream of a `two_slow_steps` job that completes (`summary`)."""


async def assert_resumes(client: httpx.AsyncClient, job_id: str, events: list[Received], after: Received) -> None:
    """Resumed with Last-Event-ID `after`, the stream has exactly the events that came after it; resumed
    after the last of the ended job's events, it is over (204)."""
    rest: list[Received] = []
    assert (await receive(client, job_id, rest, last_event_id=after.id)).status_code == 200
    later = events[events.index(after) + 1 :]
    assert [(r.id, r.event, r.data) for r in rest] == [(r.id, r.event, r.data) for r in later]
    assert (await receive(client, job_id, [], last_event_id=events[-1].id)).status_code == 204


async def new_job(client: httpx.AsyncClient, slug: str, **body: Any) -> str:
    """A job of `slug` left `new` (a duplicate not started), which only `POST .../start` moves."""
    source = await submit(client, slug, **body)
    new = (await client.post(f"/v1/jobs/{source['id']}/duplicate", json={"start": False})).json()
    assert new["status"] == "new", new
    job_id: str = new["id"]
    return job_id


async def long_poll_a_start(
    poller: httpx.AsyncClient, starter: httpx.AsyncClient, job_id: str, query: str = ""
) -> tuple[dict[str, Any], float]:
    """Long-poll the `new` job with `poller` (`Prefer: wait=40`), start it with `starter` half a second
    later; the job the long poll answered, and how long after it asked."""
    loop = asyncio.get_running_loop()
    asked = loop.time()
    polling = asyncio.create_task(poller.get(f"/v1/jobs/{job_id}{query}", headers={"Prefer": "wait=40"}))
    await asyncio.sleep(0.5)
    assert not polling.done()
    assert (await starter.post(f"/v1/jobs/{job_id}/start")).status_code == 200
    answer = await asyncio.wait_for(polling, 5)
    assert answer.headers["Preference-Applied"] == "wait=40"
    job: dict[str, Any] = answer.json()
    return job, loop.time() - asked


def service_env(**values: str) -> dict[str, str]:
    """The settings of the test's processes: its database and Redis, callbacks to 127.0.0.1 allowed."""
    defaults = {
        "WFS_DATABASE_URL": DATABASE_URL,
        "WFS_REDIS_URL": REDIS_URL,
        "WFS_ADMIN_TOKEN": TOKEN,
        "WFS_OUTBOUND_ALLOWLIST": "127.0.0.1",
        "WFS_LOG_LEVEL": "WARNING",
    }
    return clean_env(**(defaults | values))


class Processes:
    """`workflow-service serve` and `worker` processes of one test, stopped after it."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Process] = []

    def api(self, name: str, **settings: str) -> Process:
        port = free_port()
        args: list[str | Path] = [CLI, "serve", "--port", str(port)]
        self.started.append(start_process(args, service_env(**settings), self.logs / name, port=port))
        return self.started[-1]

    def worker(self, name: str, *args: str, **settings: str) -> Process:
        command: list[str | Path] = [CLI, "worker", "--name", name, *args]
        self.started.append(start_process(command, service_env(**settings), self.logs / name))
        return self.started[-1]

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()
            print(f"{process.stdout.parent.name}:\n{process.output()}")  # shown when the test fails


@pytest.fixture
def processes(engine: AsyncEngine, tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    yield started
    started.stop_all()


@asynccontextmanager
async def admin_of(api: Process) -> AsyncIterator[httpx.AsyncClient]:
    """The admin's client of a real api process, once it is ready."""
    await asyncio.to_thread(api.wait_until_ready)
    async with httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
        yield c


async def agent_online(client: httpx.AsyncClient, name: str, wait_s: float = 60.0) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if any(a["name"] == name for a in (await client.get("/v1/agents")).json()["items"]):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"agent {name} never registered")
