"""Fixtures for the push-callback tests: a real webhook receiver on 127.0.0.1 that verifies every
request with the `standardwebhooks` library, workers that can be stopped mid-test, and helpers to
deploy a workflow with push enabled."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.conftest import BASE_URL
from tests.jobs.conftest import deploy_workflow
from tests.servers import LocalHTTPServer, QuietHandler
from workflow_service.config import Settings
from workflow_service.worker.arq_worker import WorkerOptions, serve_worker

ACCESS_TOKEN = "callback-access-token-7f3c9a"

GREETER: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "steps": [{"id": "compose", "type": "transform", "output": {"text": "Hello, {{ inputs.name }}!"}}],
    "output": {"greeting": "{{ steps.compose.output.text }}"},
}
# Same steps, but the output cannot match the schema: every job fails with `output_invalid`.
FAILING: dict[str, Any] = {
    **GREETER,
    "output_schema": {"type": "object", "properties": {"greeting": {"type": "integer"}}},
}
# One http step to the receiver's /slow path, which answers only when the receiver is stopped.
SLOW: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"base": {"type": "string"}}, "required": ["base"]},
    "steps": [{"id": "wait", "type": "http", "url": "{{ inputs.base }}/slow"}],
}

# Defaults for workers in these tests: the retry schedule runs in milliseconds.
FAST = {"delivery_schedule_scale": 0.001, "delivery_poll_s": 0.05, "delivery_timeout_s": 2.0}


@dataclass
class Reply:
    """How the receiver answers one webhook request."""

    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hang: bool = False
    """Do not answer until the receiver stops (past any delivery timeout)."""
    close: bool = False
    """Close the connection without answering."""
    trickle_s: float = 0.0
    """Send the status line one byte at a time, this long apart (each read is quick, the whole is slow)."""


class Gauge:
    """Requests being answered at once: now and the most ever (shared by receivers to count across them)."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    verified_by: list[str]
    """The signing secrets (of `WebhookReceiver.secrets`) whose `Webhook.verify` accepted the request."""
    reply: Reply

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def timestamp(self) -> int:
        return int(self.headers["webhook-timestamp"])

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """A webhook consumer on 127.0.0.1. POSTs to /hook are recorded and checked with
    `standardwebhooks.webhooks.Webhook(secret).verify` for every secret in `secrets`; each is answered
    with the next queued `Reply` (then `default`). GET/POST /slow hangs until the receiver stops (a slow
    workflow step)."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.secrets: list[str] = []
        self.default = Reply()
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: LocalHTTPServer | None = None
        self.in_flight = Gauge()
        """Webhook requests this receiver is answering at once (and the most ever)."""
        self.gauges: list[Gauge] = [self.in_flight]
        """Every gauge a webhook request is counted in (add a shared one to count across receivers)."""

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"{self._server.url}/hook"

    @property
    def base(self) -> str:
        return self.url.removesuffix("/hook")

    def reply(self, *replies: Reply) -> None:
        """Answer the next requests with these, in order."""
        with self._lock:
            self._replies.extend(replies)

    def _next(self) -> Reply:
        with self._lock:
            return self._replies.popleft() if self._replies else self.default

    def verify(self, body: bytes, headers: dict[str, str], secret: str) -> bool:
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    async def wait_for(self, count: int, wait_s: float = 10.0) -> list[Received]:
        """Poll until at least `count` webhook requests arrived."""
        deadline = time.monotonic() + wait_s
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver got {len(self.requests)} request(s), expected {count}")
            await asyncio.sleep(0.02)
        return list(self.requests)

    def start(self) -> None:
        outer = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                outer._serve(self)

            do_GET = do_POST

        self._server = LocalHTTPServer(Handler, quiet=(OSError,))

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        if handler.path.startswith("/slow"):
            self._release.wait(30)
            self._answer(handler, Reply(status=200, body=b"{}"))
            return
        headers = {k.lower(): v for k, v in handler.headers.items()}
        reply = self._next()
        verified = [s for s in list(self.secrets) if self.verify(body, headers, s)]
        gauges = list(self.gauges)
        for gauge in gauges:
            gauge.enter()
        try:
            self.requests.append(Received(time.time(), handler.path, headers, body, verified, reply))
            if reply.close:
                handler.close_connection = True
                return
            if reply.hang:
                self._hold(handler)
            self._answer(handler, reply)
        finally:
            for gauge in gauges:
                gauge.leave()

    def _hold(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer nothing until the receiver stops or the client goes away (its timeout)."""
        deadline = time.monotonic() + 30
        while not self._release.wait(0.02) and time.monotonic() < deadline:
            readable, _, _ = select.select([handler.connection], [], [], 0)
            if readable:
                try:
                    if handler.connection.recv(1, socket.MSG_PEEK) == b"":
                        return
                except OSError:
                    return

    def _answer(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        try:
            if reply.trickle_s:
                self._trickle(handler, reply)
                return
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            handler.wfile.write(reply.body)
        except OSError:
            pass  # the client gave up (a timeout test)

    def _trickle(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        for byte in f"HTTP/1.1 {reply.status} OK\r\n".encode():
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            if self._release.wait(reply.trickle_s):
                return
        handler.wfile.write(b"Content-Length: 0\r\n\r\n")

    def release(self) -> None:
        """Answer the held requests now, and hold no later one (the receiver keeps serving)."""
        self._release.set()

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()


@dataclass
class Worker:
    stop_event: asyncio.Event
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.stop_event.set()
        await self.task


class Workers:
    """In-process arq workers (real Redis and database) with FAST delivery settings; each can be stopped
    and awaited mid-test, and all are stopped after it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: list[Worker] = []

    async def start(self, **overrides: Any) -> Worker:
        worker_settings = self.settings.model_copy(update={**FAST, **overrides})
        stop = asyncio.Event()
        task = asyncio.create_task(
            serve_worker(
                worker_settings,
                WorkerOptions(pools=("default",), concurrency=8, grace_s=2.0, handle_signals=False),
                stop,
            )
        )
        worker = Worker(stop, task)
        self.running.append(worker)
        await asyncio.sleep(0)
        return worker


@pytest.fixture
async def workers(settings: Settings) -> AsyncIterator[Workers]:
    pool = Workers(settings)
    yield pool
    for worker in pool.running:
        worker.stop_event.set()
    await asyncio.gather(*(w.task for w in pool.running), return_exceptions=True)


async def deploy(client: httpx.AsyncClient, slug: str, definition: dict[str, Any] | None = None) -> None:
    await deploy_workflow(client, slug, definition or GREETER)


async def enable_push(client: httpx.AsyncClient, slug: str, url: str, **push: Any) -> str:
    """Turn push on for `slug`; returns the signing secret the response shows (once)."""
    response = await client.patch(
        f"/v1/workflows/{slug}/settings",
        json={"push": {"enabled": True, "callback_url": url, "access_token": ACCESS_TOKEN, **push}},
    )
    assert response.status_code == 200, response.text
    secret: str = response.json()["signing_secret"]
    assert secret.startswith("whsec_")
    return secret


async def push_workflow(
    client: httpx.AsyncClient,
    receiver: WebhookReceiver,
    slug: str = "greeter",
    definition: dict[str, Any] | None = None,
) -> str:
    """Deploy a workflow with push to the receiver; the receiver verifies with its secret."""
    await deploy(client, slug, definition)
    secret = await enable_push(client, slug, receiver.url)
    receiver.secrets = [secret]
    return secret


async def submit_push(client: httpx.AsyncClient, slug: str = "greeter", **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"/v1/workflows/{slug}/versions/current/push", json={"inputs": {"name": "Ada"}, **body}
    )
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"{BASE_URL}/v1/jobs/{response.json()['id']}"
    job: dict[str, Any] = response.json()
    return job


async def deliveries(client: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/jobs/{job_id}/deliveries")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def wait_for_delivery(
    client: httpx.AsyncClient, job_id: str, status: str | None = None, attempts: int = 1, wait_s: float = 10.0
) -> dict[str, Any]:
    """Poll the job's delivery until it has `attempts` attempts (and is `status`, when given)."""
    deadline = time.monotonic() + wait_s
    while True:
        items = await deliveries(client, job_id)
        if items:
            assert len(items) == 1, items
            delivery = items[0]
            if len(delivery["attempts"]) >= attempts and (status is None or delivery["status"] == status):
                return delivery
        if time.monotonic() > deadline:
            raise AssertionError(f"delivery of job {job_id} not {status} with {attempts} attempt(s): {items}")
        await asyncio.sleep(0.03)
