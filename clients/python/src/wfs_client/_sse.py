"""Reading a job's event stream (server-sent events): the lines of the answer become JobEvents."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

EVENT_STREAM = "text/event-stream"
DEFAULT_READ_TIMEOUT_S = 60.0
"""How long a stream may stay silent: the service sends a keep-alive comment every 15 s by default."""


@dataclass(frozen=True)
class JobEvent:
    """One event of a job's stream: `id` (resume after it with `last_event_id`), `event` (`status`,
    `step.started`, `step.ended`) and its JSON `data`."""

    id: str
    event: str
    data: dict[str, Any]


@dataclass
class EventParser:
    """Fed the stream's lines one by one, gives each event when its blank line comes (the SSE format:
    `field: value` lines, `:` comments, data lines joined by newlines, the id kept from the last one given).
    `last_id` is the id of the last event given whole: an event cut off by a broken connection does not
    count, so resuming after `last_id` gets it again."""

    last_id: str = ""
    _id: str | None = None
    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> JobEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            self._id = value
        elif name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> JobEvent | None:
        if self._id is not None:
            self.last_id, self._id = self._id, None
        if not self._data:
            self._event = ""
            return None
        text = "\n".join(self._data)
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        data = parsed if isinstance(parsed, dict) else {"value": parsed}
        event = JobEvent(self.last_id, self._event or "message", data)
        self._event, self._data = "", []
        return event
