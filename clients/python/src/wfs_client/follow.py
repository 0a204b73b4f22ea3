"""Follow a job to its end: its event stream (resumed after the last event seen when the connection drops),
or the server's long poll when no stream can be had; never a tight polling loop."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from wfs_client.client import Client, JobEvent
from wfs_client.errors import ApiError, ConnectionFailed, WfsError

ENDED = frozenset({"completed", "failed", "canceled"})
"""The statuses a job does not leave."""
STREAM_READ_S = 20.0
"""How long a stream may stay silent before it counts as dropped: longer than the server's keep-alive
comments (15 s by default), so a quiet job's stream is kept."""
MIN_READ_S = 1.0
"""The shortest silence a stream is given near the deadline: opening one takes a moment, and a read timeout
while opening would be retried (with backoff) like any GET."""
LONG_POLL_S = 20
"""The longest one long poll waits: under the client's 30 s request timeout."""
REFUSALS = frozenset({401, 403, 404})
"""Answers to a stream that a long poll would get too: they end the following, not the stream."""


class FollowTimeout(WfsError):
    """The time to follow ran out before the job ended; `job` is the job as it was then."""

    def __init__(self, job: dict[str, Any]) -> None:
        super().__init__(f"job {job.get('id')} is still {job.get('status')}")
        self.job = job


class _Deadline:
    def __init__(self, timeout_s: float | None) -> None:
        self.at = None if timeout_s is None else time.monotonic() + timeout_s

    def left(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()

    def passed(self) -> bool:
        left = self.left()
        return left is not None and left <= 0

    def read_s(self) -> float:
        """The read timeout of a stream opened now: the time left, within MIN_READ_S and STREAM_READ_S."""
        left = self.left()
        return STREAM_READ_S if left is None else max(MIN_READ_S, min(left, STREAM_READ_S))


def follow(
    client: Client,
    job_id: str,
    *,
    timeout_s: float | None,
    on_event: Callable[[JobEvent], None] | None = None,
) -> dict[str, Any]:
    """Wait for the job to end and return it as `get_job` gives it (without its step records), calling
    `on_event` with each event of its stream as it comes. Raises FollowTimeout when `timeout_s` runs out first
    (None: wait as long as it takes); ApiError when the job cannot be read; ConnectionFailed when the server
    cannot be reached."""
    deadline = _Deadline(timeout_s)
    job = _stream(client, job_id, deadline, on_event or _ignore)
    if job is None:
        job = _long_poll(client, job_id, deadline, on_event or _ignore)
    return job


def _ignore(event: JobEvent) -> None:
    """No-op event handler."""


def _final(client: Client, job_id: str, deadline: _Deadline) -> dict[str, Any] | None:
    """The job if it has ended; FollowTimeout if the deadline passed; None to keep following."""
    job: dict[str, Any] = dict(client.get_job(job_id, steps=False))
    if job["status"] in ENDED:
        return job
    if deadline.passed():
        raise FollowTimeout(job)
    return None


def _stream(
    client: Client, job_id: str, deadline: _Deadline, on_event: Callable[[JobEvent], None]
) -> dict[str, Any] | None:
    """Follow the event stream to the job's end; None when no stream can be had (then long polls follow)."""
    last_id: str | None = None
    while True:
        if deadline.passed():
            return _final(client, job_id, deadline)  # the job if it has ended; else FollowTimeout
        try:
            last_id, moved, broken = _connection(client, job_id, last_id, deadline, on_event)
        except ApiError as exc:
            if exc.status in REFUSALS:
                raise
            return None
        if broken and not deadline.passed():
            if moved:
                continue  # resume after the last event: the events that came since follow
            return None  # the stream cannot be had, or goes silent: long polls follow
        job = _final(client, job_id, deadline)
        if job is not None:
            return job
        if not moved:
            return None  # a stream that ends with nothing while the job goes on: long polls follow


def _connection(
    client: Client,
    job_id: str,
    last_id: str | None,
    deadline: _Deadline,
    on_event: Callable[[JobEvent], None],
) -> tuple[str | None, bool, bool]:
    """Read one connection's events (after `last_id`) until it ends, breaks, or could outlast the deadline:
    the last event's id, whether any came, and whether the connection broke."""
    read_s = deadline.read_s()
    moved = False
    try:
        for event in _closing(client.iter_events(job_id, last_event_id=last_id, read_timeout=read_s)):
            moved, last_id = True, event.id
            on_event(event)
            if read_s - deadline.read_s() > MIN_READ_S:
                break  # the next read could wait well past the deadline: reconnect with a shorter one
    except ConnectionFailed:
        return last_id, moved, True
    return last_id, moved, False


def _closing(events: Iterator[JobEvent]) -> Iterator[JobEvent]:
    """The events, with the stream closed as soon as the loop over them stops, even early."""
    try:
        yield from events
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


def _long_poll(
    client: Client, job_id: str, deadline: _Deadline, on_event: Callable[[JobEvent], None]
) -> dict[str, Any]:
    """Follow with `Prefer: wait=N` reads, each answered when the status changes; a status event is made for
    each change seen, so `on_event` hears of them as from a stream (without the steps' starts and ends)."""
    status: str | None = None
    prefer: str | None = None  # the first read answers at once: the status to wait for a change from
    while True:
        job: dict[str, Any] = dict(client.get_job(job_id, steps=False, prefer=prefer))
        if job["status"] != status:
            data = {"from_status": status, "to_status": job["status"], "at": job.get("updated_at")}
            on_event(JobEvent("", "status", data))
            status = job["status"]
        if job["status"] in ENDED:
            return job
        if deadline.passed():
            raise FollowTimeout(job)
        left = deadline.left()
        prefer = f"wait={LONG_POLL_S if left is None else max(1, min(round(left), LONG_POLL_S))}"
