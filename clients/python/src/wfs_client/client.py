"""Client and AsyncClient: every operation of the contract (generated, in _operations.py), the low-level
request() for what those cannot say, and a job's event stream as an iterator of JobEvents.

    with Client("http://127.0.0.1:8000", token) as wfs:
        job = wfs.submit_async("hello", "current", {"inputs": {"name": "Ada"}})
        for event in wfs.iter_events(job["id"]):
            print(event.event, event.data)
        print(wfs.get_job(job["id"])["output"])
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Self

import httpx

from wfs_client._operations import AsyncOperations, SyncOperations
from wfs_client._sse import DEFAULT_READ_TIMEOUT_S, EVENT_STREAM, EventParser, JobEvent
from wfs_client._transport import path_segment
from wfs_client.errors import ApiError, ConnectionFailed

__all__ = ["AsyncClient", "Client", "JobEvent"]


def _stream_request(job_id: str, last_event_id: str | None) -> tuple[str, dict[str, str]]:
    headers = {"Accept": EVENT_STREAM} | ({"Last-Event-ID": last_event_id} if last_event_id else {})
    return f"/v1/jobs/{path_segment(job_id)}/events", headers


def _broken(url: str, error: httpx.TransportError, parser: EventParser) -> ConnectionFailed:
    resume = f"; the stream broke, resume with last_event_id={parser.last_id!r}" if parser.last_id else ""
    return ConnectionFailed(url, f"{type(error).__name__}: {error}", 1, resume)


class Client(SyncOperations):
    """The service's API over HTTP (sync). `url` is the service's base URL, `token` an API key, a personal
    token or the admin token; requests are retried as `retry` says (RetryPolicy() by default)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def iter_events(
        self, job_id: str, last_event_id: str | None = None, read_timeout: float = DEFAULT_READ_TIMEOUT_S
    ) -> Iterator[JobEvent]:
        """The job's events as they happen, after `last_event_id` if given; it ends when the stream does (the
        job ended), at once for a job already over. Opening the stream is retried like any GET; a stream that
        breaks raises ConnectionFailed (resume with the last event's id). `read_timeout`: the longest silence
        tolerated (the service sends a keep-alive every 15 s)."""
        path, headers = _stream_request(job_id, last_event_id)
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        attempts = self.attempts("GET", path, headers, idempotent=True)

        def build() -> httpx.Request:
            return self._http.build_request("GET", path, headers=headers, timeout=timeout)

        response = self.send(attempts, build, stream=True)
        try:
            if response.status_code >= 300:
                response.read()
                raise ApiError(response)
            parser = EventParser(last_event_id or "")
            try:
                for line in response.iter_lines():
                    event = parser.feed(line)
                    if event is not None:
                        yield event
            except httpx.TransportError as error:
                raise _broken(attempts.url, error, parser) from error
        finally:
            response.close()


class AsyncClient(AsyncOperations):
    """As Client, with coroutines: `async with AsyncClient(url, token) as wfs: await wfs.get_job(job_id)`."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def iter_events(
        self, job_id: str, last_event_id: str | None = None, read_timeout: float = DEFAULT_READ_TIMEOUT_S
    ) -> AsyncIterator[JobEvent]:
        """As Client.iter_events: `async for event in wfs.iter_events(job_id): ...`."""
        path, headers = _stream_request(job_id, last_event_id)
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        attempts = self.attempts("GET", path, headers, idempotent=True)

        def build() -> httpx.Request:
            return self._http.build_request("GET", path, headers=headers, timeout=timeout)

        response = await self.send(attempts, build, stream=True)
        try:
            if response.status_code >= 300:
                await response.aread()
                raise ApiError(response)
            parser = EventParser(last_event_id or "")
            try:
                async for line in response.aiter_lines():
                    event = parser.feed(line)
                    if event is not None:
                        yield event
            except httpx.TransportError as error:
                raise _broken(attempts.url, error, parser) from error
        finally:
            await response.aclose()
