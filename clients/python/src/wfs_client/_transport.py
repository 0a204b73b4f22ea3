"""The HTTP plumbing under Client and AsyncClient: building a request (token, user agent, parameters), sending
it with the retry policy, and turning the answer into JSON or an ApiError."""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from wfs_client._retry import REPLAYABLE_METHODS, Attempts, RetryPolicy
from wfs_client._version import __version__
from wfs_client.errors import ApiError

Params = Mapping[str, Any] | None
Headers = Mapping[str, str | None] | None


def path_segment(value: object) -> str:
    """A path parameter, escaped so that it stays one segment of the path (`a/b` -> `a%2Fb`)."""
    return quote(str(value), safe="")


def idempotency_key(given: str | None) -> str:
    """The caller's Idempotency-Key, or a fresh one: one call sends the same key on each of its attempts."""
    return given if given is not None else str(uuid.uuid4())


def decoded(response: httpx.Response) -> Any:
    """The answer's parsed JSON (its text when it is other text, its bytes when it is a file such as a zip; None
    without a body); ApiError for an error."""
    if response.status_code >= 300:
        raise ApiError(response)
    if response.status_code == 204 or not response.content:
        return None
    content_type = response.headers.get("Content-Type", "")
    if "json" in content_type:
        return response.json()
    if content_type.startswith("application/") and "xml" not in content_type:
        return response.content
    return response.text


class _Base:
    """What the sync and async transports share: settings, and how a request is built."""

    def __init__(
        self, url: str, token: str | None, timeout: float, retry: RetryPolicy | None, user_agent: str | None
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.headers = {
            "Accept": "application/json",
            "User-Agent": user_agent or f"workflow-service-client/{__version__} httpx/{httpx.__version__}",
        }
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def build(  # noqa: PLR0913 - the parts of a request
        self,
        http: httpx.Client | httpx.AsyncClient,
        method: str,
        path: str,
        params: Params,
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> httpx.Request:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return http.build_request(method, path, params=query, headers=headers, **body)

    def attempts(self, method: str, path: str, headers: Mapping[str, str], idempotent: bool | None) -> Attempts:
        if idempotent is None:
            keyed = any(name.lower() == "idempotency-key" for name in headers)
            idempotent = method.upper() in REPLAYABLE_METHODS or keyed
        return Attempts(self.retry, f"{method.upper()} {self.url}{path}", idempotent)


def body_of(json: Any, content: bytes | None, form: Mapping[str, Any] | None) -> dict[str, Any]:
    """A request's body as httpx takes it: bytes as they are, a multipart form (its bytes values as files, the
    others as text: `true`/`false` for booleans, JSON for anything but a string; None left out), or JSON."""
    if content is not None:
        return {"content": content}
    if form is not None:
        files = {name: (name, value) for name, value in form.items() if isinstance(value, bytes)}
        data = {name: _text(value) for name, value in form.items() if value is not None and name not in files}
        return {"files": files, "data": data}
    return {"json": json} if json is not None else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else jsonlib.dumps(value)


def merged(headers: Headers, content_type: str | None) -> dict[str, str]:
    """The request's own headers: those given (None values dropped) and the body's content type."""
    given = {k: v for k, v in (headers or {}).items() if v is not None}
    return given | ({"Content-Type": content_type} if content_type else {})


class SyncTransport(_Base):
    """Sends requests with httpx.Client, sleeping between attempts."""

    def __init__(  # noqa: PLR0913 - Client's signature (the interface of the package)
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        user_agent: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, token, timeout, retry, user_agent)
        self._http = httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def request(  # noqa: PLR0913 - every part of a request, for what the generated methods cannot say
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        headers: Headers = None,
        idempotent: bool | None = None,
        form: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send a request with the retry policy; its parsed JSON answer (its text if it is not JSON, None for
        no body; fetch() gives a downloaded file's bytes and name). The body is `json`, or `content` bytes, or a
        multipart `form` (its bytes values as files). `idempotent`: may it be sent again after an answer was lost?
        By default yes for GET/HEAD/PUT/DELETE and with an Idempotency-Key header. Raises ApiError for an error
        answer, ConnectionFailed when it never got one."""
        own = merged(headers, content_type)
        attempts = self.attempts(method, path, own, idempotent)
        body = body_of(json, content, form)
        response = self.send(attempts, lambda: self.build(self._http, method, path, params, body, own))
        return decoded(response)

    def fetch(self, path: str, *, params: Params = None, headers: Headers = None) -> httpx.Response:
        """GET `path` with the retry policy; the whole answer (its headers with the bytes: a file and the name
        its Content-Disposition gives it). Raises ApiError for an error answer, as request() does."""
        own = merged(headers, None)
        attempts = self.attempts("GET", path, own, None)
        response = self.send(attempts, lambda: self.build(self._http, "GET", path, params, {}, own))
        if response.status_code >= 300:
            raise ApiError(response)
        return response

    def send(self, attempts: Attempts, build: Callable[[], httpx.Request], stream: bool = False) -> httpx.Response:
        """The first answer the policy keeps (read unless `stream`), trying again as it allows."""
        while True:
            attempts.start()
            try:
                response = self._http.send(build(), stream=stream)
            except httpx.TransportError as error:
                time.sleep(attempts.wait_after_error(error))
                continue
            wait = attempts.wait_after_answer(response)
            if wait is None:
                return response
            response.close()
            time.sleep(wait)


class AsyncTransport(_Base):
    """Sends requests with httpx.AsyncClient, sleeping (asyncio) between attempts."""

    def __init__(  # noqa: PLR0913 - AsyncClient's signature (the interface of the package)
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        user_agent: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, token, timeout, retry, user_agent)
        self._http = httpx.AsyncClient(base_url=self.url, headers=self.headers, timeout=timeout, transport=transport)

    async def close(self) -> None:
        await self._http.aclose()

    async def request(  # noqa: PLR0913 - as SyncTransport.request
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        headers: Headers = None,
        idempotent: bool | None = None,
        form: Mapping[str, Any] | None = None,
    ) -> Any:
        """As Client.request, awaited."""
        own = merged(headers, content_type)
        attempts = self.attempts(method, path, own, idempotent)
        body = body_of(json, content, form)
        response = await self.send(attempts, lambda: self.build(self._http, method, path, params, body, own))
        return decoded(response)

    async def fetch(self, path: str, *, params: Params = None, headers: Headers = None) -> httpx.Response:
        """As SyncTransport.fetch, awaited."""
        own = merged(headers, None)
        attempts = self.attempts("GET", path, own, None)
        response = await self.send(attempts, lambda: self.build(self._http, "GET", path, params, {}, own))
        if response.status_code >= 300:
            raise ApiError(response)
        return response

    async def send(
        self, attempts: Attempts, build: Callable[[], httpx.Request], stream: bool = False
    ) -> httpx.Response:
        """As SyncTransport.send, awaited."""
        while True:
            attempts.start()
            try:
                response = await self._http.send(build(), stream=stream)
            except httpx.TransportError as error:
                await asyncio.sleep(attempts.wait_after_error(error))
                continue
            wait = attempts.wait_after_answer(response)
            if wait is None:
                return response
            await response.aclose()
            await asyncio.sleep(wait)
