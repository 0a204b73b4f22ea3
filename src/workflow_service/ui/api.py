"""The dashboard calls the API in-process: every read and every action of a page is the public API's own
operation (its validation, its access rule, its audit entry), as the signed-in person.

A call runs the app's whole middleware stack on a request built here, with the session's principal already
resolved in its scope (deps.PRINCIPAL_SCOPE_KEY): AuthenticationMiddleware leaves such a request's caller as it
is. A browser cannot set a scope key; only this module does."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlencode

from starlette.requests import Request
from starlette.types import Message

from workflow_service.access.principal import Principal
from workflow_service.deps import IN_PROCESS_SCOPE_KEY, PRINCIPAL_SCOPE_KEY, REQUEST_ID_SCOPE_KEY

Params = Mapping[str, Any] | Sequence[tuple[str, Any]]


@dataclass
class Answer:
    """What the API answered."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def ok(self) -> bool:
        return self.status < 400


@dataclass
class ApiProblem(Exception):
    """An API answer of 400 or more, with its problem+json."""

    status: int
    problem: dict[str, Any] = field(default_factory=dict)

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or f"HTTP {self.status}")

    @property
    def errors(self) -> list[dict[str, Any]]:
        errors = self.problem.get("errors")
        return errors if isinstance(errors, list) else []

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


@dataclass(frozen=True)
class Outgoing:
    """One request to the API: JSON `body`, or raw `content` of `content_type`."""

    method: str
    path: str
    params: Params | None = None
    body: Any = None
    content: bytes | None = None
    content_type: str | None = None
    headers: Mapping[str, str] | None = None


def segment(value: str) -> str:
    """`value` as one segment of a path (an id, a slug, an email, a variable's name): anything that would end or
    change the segment percent-encoded. The in-process call decodes the path as a server does."""
    return quote(value, safe="")


def _query(params: Params | None) -> str:
    if not params:
        return ""
    items = params.items() if isinstance(params, Mapping) else params
    pairs = [(k, _text(v)) for k, v in items if v is not None and v != ""]
    return urlencode(pairs)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Api:
    """The API as `principal`, from inside the request `outer` (its id and client address go along)."""

    def __init__(self, outer: Request, principal: Principal) -> None:
        self.outer = outer
        self.principal = principal

    def _scope(self, method: str, path: str, query: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        outer = self.outer.scope
        base = [(k, v) for k, v in outer["headers"] if k in (b"host", b"user-agent", b"x-forwarded-proto")]
        request_id = outer.get(REQUEST_ID_SCOPE_KEY)
        if request_id:
            base.append((b"x-request-id", request_id.encode()))
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": outer.get("scheme", "http"),
            "server": outer.get("server"),
            "client": outer.get("client"),
            "root_path": outer.get("root_path", ""),
            # `path` as a server gives it: percent-decoded (a quoted email in a path is an email again).
            "path": outer.get("root_path", "") + unquote(path),
            "raw_path": (outer.get("root_path", "") + path).encode(),
            "query_string": query.encode(),
            "headers": base + headers,
            PRINCIPAL_SCOPE_KEY: self.principal,
            IN_PROCESS_SCOPE_KEY: True,
        }

    def _request(self, out: Outgoing) -> tuple[dict[str, Any], bytes]:
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (out.headers or {}).items()]
        data = b""
        if out.body is not None:
            data = json.dumps(out.body).encode()
            headers.append((b"content-type", b"application/json"))
        elif out.content is not None:
            data = out.content
            headers.append((b"content-type", (out.content_type or "application/octet-stream").encode()))
        if out.method not in ("GET", "HEAD") or data:
            headers.append((b"content-length", str(len(data)).encode()))
        return self._scope(out.method, out.path, _query(out.params), headers), data

    async def call(self, method: str, path: str, **options: Any) -> Answer:
        """The API's answer to one request (any status); `options` are Outgoing's."""
        scope, data = self._request(Outgoing(method, path, **options))
        sent = False
        status, headers, chunks = 500, {}, []

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": data, "more_body": False}
            await asyncio.Event().wait()  # a disconnect never comes: the response ends the call
            raise AssertionError  # pragma: no cover

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for k, v in message.get("headers", []):
                    headers[k.decode("latin-1").lower()] = v.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.outer.app(scope, receive, send)
        return Answer(status, headers, b"".join(chunks))

    async def _ok(self, method: str, path: str, **options: Any) -> Any:
        answer = await self.call(method, path, **options)
        if not answer.ok:
            problem = answer.json() if answer.body.startswith(b"{") else {}
            raise ApiProblem(answer.status, problem if isinstance(problem, dict) else {})
        return answer.json() if answer.headers.get("content-type", "").endswith("json") else answer.body

    async def get(self, path: str, params: Params | None = None) -> Any:
        """GET `path`: its JSON, or ApiProblem."""
        return await self._ok("GET", path, params=params)

    async def post(self, path: str, body: Any = None, params: Params | None = None) -> Any:
        return await self._ok("POST", path, body=body, params=params)

    async def put(self, path: str, body: Any = None, params: Params | None = None) -> Any:
        return await self._ok("PUT", path, body=body, params=params)

    async def patch(self, path: str, body: Any = None, params: Params | None = None) -> Any:
        return await self._ok("PATCH", path, body=body, params=params)

    async def delete(self, path: str, params: Params | None = None) -> Any:
        return await self._ok("DELETE", path, params=params)

    async def stream(
        self, path: str, params: Params | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, str], AsyncIterator[bytes]]:
        """A streamed GET (the job event stream): its status, headers and body chunks as they come. The chunks'
        iterator ends when the API's response does, or the caller stops reading (the API's call is canceled)."""
        scope, _ = self._request(Outgoing("GET", path, params=params, headers=headers))
        queue: asyncio.Queue[Message | None] = asyncio.Queue()
        gone = asyncio.Event()

        async def receive() -> Message:
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            await queue.put(message)

        async def run() -> None:
            try:
                await self.outer.app(scope, receive, send)
            finally:
                await queue.put(None)

        task = asyncio.create_task(run())
        start = await queue.get()
        if start is None or start["type"] != "http.response.start":
            await task
            return 500, {}, _nothing()
        answered = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers", [])}

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while (message := await queue.get()) is not None:
                    body = message.get("body", b"")
                    if body:
                        yield body
                    if not message.get("more_body"):
                        break
            finally:
                gone.set()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

        return int(start["status"]), answered, chunks()


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover
