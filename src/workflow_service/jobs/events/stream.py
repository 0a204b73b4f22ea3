"""The server-sent event stream of a job: its status changes and its steps' starts and ends, in order,
ending once the job has ended; resumable after the last event a client saw (Last-Event-ID).

    id: 41                     event: status        data: {"from_status": "pending", "to_status": "claimed", ...}
    id: 57                     event: step.started  data: {"step": "fetch", "type": "http", "attempt": 1, ...}
    id: 58                     event: step.ended    data: {"step": "fetch", ..., "status": "completed", ...}
    : keep-alive               (a comment, when the stream has been quiet for WFS_EVENTS_KEEPALIVE_S)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow, snapshot
from workflow_service.core.ids import parse_uuid
from workflow_service.errors import NotFound
from workflow_service.jobs import repository as repo
from workflow_service.jobs.events import positions
from workflow_service.jobs.events.follow import Following
from workflow_service.jobs.states import JobStatus, is_terminal

FORMAT = """Server-sent events, in the job's order:

- `status`: a status change, data `{"from_status", "to_status", "at", "actor", "reason"}` (as in the history);
- `step.started`: data `{"step", "type", "attempt", "at"}`;
- `step.ended`: data `{"step", "type", "attempt", "status", "at", "error"}`, `status` being `completed`, `failed`
  or `skipped` (a skipped step has no `step.started`).

Each event has an `id`; the stream ends after the job's end (its last `status` event). Reconnect with
`Last-Event-ID` to get the events after that one. A comment line `: keep-alive` is sent when the stream has
been quiet for WFS_EVENTS_KEEPALIVE_S (15 s). Steps copied from another job (run from a step, a cache hit)
are not events of this one."""
"""What a client reads (the contract's description of the stream)."""

KEEP_ALIVE = b": keep-alive\n\n"
STATUS, STEP_STARTED, STEP_ENDED = "status", "step.started", "step.ended"


@dataclass(frozen=True, slots=True)
class Event:
    place: int
    name: str
    data: dict[str, Any]

    def encode(self) -> bytes:
        head = f"id: {positions.event_id(self.place)}\nevent: {self.name}\ndata: ".encode()
        return head + orjson.dumps(self.data) + b"\n\n"


@dataclass(frozen=True, slots=True)
class News:
    """What a job has after a place: its status now, and the events after that place, in order."""

    status: JobStatus
    after: int
    """The place it was read after."""
    events: list[Event]

    @property
    def last(self) -> bool:
        """Nothing will follow: the job has ended, and its end is among what was read."""
        return is_terminal(self.status)


def _status_change(row: AnyRow) -> Event:
    data = {"from_status": row.from_status, "to_status": row.to_status, "at": row.at.isoformat()}
    return Event(positions.of_status_change(row.id), STATUS, data | {"actor": row.actor, "reason": row.reason})


def _step_events(row: AnyRow, after: int) -> list[Event]:
    step = {"step": row.step_id, "type": row.type, "attempt": row.attempt}
    found = []
    if row.start_seq is not None and row.start_seq > after:
        found.append(Event(row.start_seq, STEP_STARTED, step | {"at": row.started_at.isoformat()}))
    if row.end_seq is not None and row.end_seq > after:
        at = row.finished_at.isoformat() if row.finished_at is not None else None
        found.append(Event(row.end_seq, STEP_ENDED, step | {"status": row.status, "at": at, "error": row.error}))
    return found


async def news(conn: AsyncConnection, job_id: uuid.UUID, after: int) -> News | None:
    """The job's status and its events after place `after`; None when there is no such job. `conn` must
    read one snapshot (core/db.snapshot): an event committed between two of its queries could otherwise
    be passed over, behind a later one read by the second."""
    status = await repo.status_of(conn, job_id)
    if status is None:
        return None
    changes: Sequence[AnyRow] = await repo.status_changes_after(conn, job_id, after)
    events = [_status_change(row) for row in changes]
    for row in await repo.steps_after(conn, job_id, after):
        events += _step_events(row, after)
    events.sort(key=lambda event: event.place)
    return News(JobStatus(status), after, events)


async def stream(following: Following, job_id: uuid.UUID, first: News) -> AsyncIterator[bytes]:
    """The stream that goes on from `first` (what the request read): then the job's next events, read when
    a notice comes or every `poll_s`, with a keep-alive comment after `keepalive_s` of silence. It ends
    when the job has ended, is gone, or the process shuts down (the client resumes with Last-Event-ID)."""
    for event in first.events:
        yield event.encode()
    if first.last:
        return
    after = first.events[-1].place if first.events else first.after
    loop = asyncio.get_running_loop()
    timers = following.timers
    async with following.notifier.follow(job_id) as notice:
        quiet_since = loop.time()
        while True:
            notice.clear()  # before reading: a change committed from now on sets it again
            async with snapshot(following.engine) as conn:
                current = await news(conn, job_id, after)
            if current is None:
                return
            for event in current.events:
                yield event.encode()
                after = event.place
            if current.events:
                quiet_since = loop.time()
            if current.last or following.closing.is_set():
                return
            keepalive_in = quiet_since + timers.keepalive_s - loop.time()
            await following.woken(notice, max(0.0, min(timers.poll_s, keepalive_in)))
            if loop.time() - quiet_since >= timers.keepalive_s:
                yield KEEP_ALIVE
                quiet_since = loop.time()


async def opening(conn: AsyncConnection, job_id: str, last_event_id: str | None) -> tuple[uuid.UUID, News]:
    """What a stream starts with: the job's events after the one a client last saw (all of them without
    Last-Event-ID, or with one this service did not give). NotFound for an unknown job."""
    jid = parse_uuid(job_id)
    first = await news(conn, jid, positions.parse(last_event_id) or 0) if jid is not None else None
    if jid is None or first is None:
        raise NotFound(f"job {job_id!r} does not exist")
    return jid, first
