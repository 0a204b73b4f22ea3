"""Places in a job's event order, and their form as event ids: `<slot>` or `<slot>.<offset>`."""

from __future__ import annotations

import re

SLOT = 1 << 20
"""Places per job_event id: the status change with id N is at N·SLOT; steps written after it, before the
job's next status change, at N·SLOT + 1, 2, ... (on SQLite), or in a slot of their own (on PostgreSQL)."""

_ID = re.compile(r"([0-9]{1,15})(?:\.([0-9]{1,7}))?")


def of_status_change(event_id: int) -> int:
    return event_id * SLOT


def event_id(place: int) -> str:
    """The id a stream gives the event at `place`."""
    slot, offset = divmod(place, SLOT)
    return f"{slot}.{offset}" if offset else str(slot)


def parse(last_event_id: str | None) -> int | None:
    """The place an event id names; None for no id, or one this service did not give."""
    match = _ID.fullmatch((last_event_id or "").strip())
    if match is None:
        return None
    offset = int(match[2] or 0)
    return int(match[1]) * SLOT + offset if offset < SLOT else None
