"""A local HTTP proxy in front of a real server that misbehaves on purpose, for the client's retry tests.

    from tests.client.proxy import DROP_ANSWER, Answer, Proxy

    with Proxy(service.url, [DROP_ANSWER], matching="POST /v1/workflows/") as proxy:
        Client(proxy.url, token).submit_async(...)  # the first submit's answer is lost, the retry goes through
    assert [seen.behaviour for seen in proxy.seen] == ["drop-answer", "forward"]

Each request whose `METHOD /path?query` contains `matching` (every request by default) takes the next behaviour
of the list; once the list is used up, and for requests that do not match, the proxy forwards. Behaviours:

- FORWARD: send the request to the target and relay its answer (streamed: an event stream flows through);
- DROP_ANSWER: send the request to the target, read its whole answer, then close the client's connection
  without a byte of it (the service acted, the client never learns how);
- DROP_REQUEST: close the client's connection without sending the request anywhere;
- Answer(status, headers, body): answer this without asking the target (a 503 with Retry-After, a 429);
- Cut(after_bytes): relay the answer's head and its first `after_bytes` bytes of body, then close the
  connection mid-body (a broken event stream).

`seen` lists every request with its arrival time (time.monotonic()), headers, body and the behaviour it got.
Answers are relayed with `Connection: close` (one request per connection) and chunked when the target streams.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import httpx

from tests.servers import LocalHTTPServer, QuietHandler

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade", "te"}


@dataclass(frozen=True)
class Answer:
    """Answer with this instead of forwarding."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def name(self) -> str:
        return f"answer-{self.status}"


@dataclass(frozen=True)
class Cut:
    """Forward, relay the head of the answer and `after_bytes` of its body, then close the connection."""

    after_bytes: int

    @property
    def name(self) -> str:
        return f"cut-{self.after_bytes}"


@dataclass(frozen=True)
class Named:
    name: str


FORWARD, DROP_ANSWER, DROP_REQUEST = Named("forward"), Named("drop-answer"), Named("drop-request")
Behaviour = Named | Answer | Cut


@dataclass(frozen=True)
class Seen:
    """A request the proxy received, and what it did with it."""

    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    behaviour: str


class Proxy:
    """Started on a free port of 127.0.0.1 when made (or entered), in front of `target` (a base URL)."""

    def __init__(self, target: str, behaviours: list[Behaviour] | None = None, matching: str = "") -> None:
        self.target = target.rstrip("/")
        self.behaviours = list(behaviours or [])
        self.matching = matching
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self.upstream = httpx.Client(base_url=self.target, timeout=60)
        handler = type("Handler", (ProxyHandler,), {"proxy": self})
        self._server = LocalHTTPServer(handler, quiet=(ConnectionError,))

    @property
    def url(self) -> str:
        return self._server.url

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        self._server.stop()
        self.upstream.close()

    def next_behaviour(self, method: str, path: str) -> Behaviour:
        with self._lock:
            if self.behaviours and self.matching in f"{method} {path}":
                return self.behaviours.pop(0)
            return FORWARD


class ProxyHandler(QuietHandler):
    """One request through a Proxy: what the proxy's next behaviour says to do with it."""

    proxy: Proxy
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        self.close_connection = True
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        behaviour = self.proxy.next_behaviour(self.command, self.path)
        headers = dict(self.headers.items())
        self.proxy.seen.append(Seen(time.monotonic(), self.command, self.path, headers, body, behaviour.name))
        if behaviour == DROP_REQUEST:
            return
        if isinstance(behaviour, Answer):
            self._answer(behaviour)
            return
        self._forward(headers, body, behaviour)

    def _answer(self, answer: Answer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer.body)

    def _forward(self, headers: dict[str, str], body: bytes, behaviour: Behaviour) -> None:
        sent = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        request = self.proxy.upstream.build_request(self.command, self.path, headers=sent, content=body)
        answer = self.proxy.upstream.send(request, stream=True)
        try:
            if behaviour == DROP_ANSWER:
                answer.read()
                return
            self._relay(answer, behaviour.after_bytes if isinstance(behaviour, Cut) else None)
        finally:
            answer.close()

    def _relay(self, answer: httpx.Response, cut_after: int | None) -> None:
        self.send_response(answer.status_code)
        for name, value in answer.headers.multi_items():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Connection", "close")
        if answer.status_code == 204 or self.command == "HEAD":
            self.end_headers()
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        relayed = 0
        for chunk in answer.iter_raw():
            if cut_after is not None and relayed + len(chunk) >= cut_after:
                self._chunk(chunk[: cut_after - relayed])
                return  # the connection closes with the body unfinished
            relayed += len(chunk)
            self._chunk(chunk)
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle
