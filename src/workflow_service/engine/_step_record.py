"""A step record: what the job_step table keeps of one step of one attempt (engine/executor.py), each
stored JSON value within WFS_MAX_STEP_OUTPUT_BYTES."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

STEP_RECORD_COLUMNS = (
    "step_id",
    "position",
    "type",
    "status",
    "input",
    "output",
    "error",
    "attempt",
    "started_at",
    "finished_at",
    "model",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "detail",
    "cost",
)
"""The job_step columns a step record fills (all but the row id and job_id), in `StepRecord.as_row`'s
order; jobs/repository/ reads, writes and copies step records by this list (its pg.py builds its
statements from it, and tests/jobs/test_step_columns.py holds them together)."""


@dataclass(slots=True)
class StepRecord:
    step_id: str
    position: int
    type: str
    status: str
    attempt: int
    started_at: datetime
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    finished_at: datetime | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    detail: dict[str, Any] | None = None
    cost: float | None = None
    """Credits for the step's model call; set by the jobs package from the pricing table."""
    max_bytes: int | None = None
    """WFS_MAX_STEP_OUTPUT_BYTES: the stored input, detail and (failed step) output are truncated past it."""

    def as_row(self) -> dict[str, Any]:
        """The job_step columns this record fills (all but job_id), each JSON field within `max_bytes`."""
        output = self.output if self.status == "completed" else _capped(self.output, self.max_bytes)
        return {
            "step_id": self.step_id,
            "position": self.position,
            "type": self.type,
            "status": self.status,
            "input": _capped(self.input, self.max_bytes),
            "output": output,
            "error": self.error,
            "attempt": self.attempt,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "model": _text(self.model),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "latency_ms": self.latency_ms,
            "detail": _capped(self.detail, self.max_bytes),
            "cost": self.cost,
        }


TRUNCATED = "$truncated"
"""The key of the marker a too large stored value is replaced by: `{"$truncated": <its size as JSON, bytes>,
"preview": <its JSON text's first PREVIEW_CHARS characters>}`."""
PREVIEW_CHARS = 1000


def _capped(value: Any, limit: int | None) -> Any:
    """`value` if its JSON fits in `limit` bytes; else a truncation marker in its place. An object keeps its
    small entries and has its largest ones replaced by markers until it fits (a model call's `attempts` stay
    beside a truncated `response`)."""
    if limit is None or value is None or isinstance(value, bool | int | float):
        return value
    text = orjson.dumps(value, default=str)
    if len(text) <= limit:
        return value
    if isinstance(value, dict):
        sizes = {key: len(orjson.dumps(item, default=str)) for key, item in value.items()}
        kept, total = dict(value), len(text)
        for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
            if total <= limit:
                return kept
            kept[key] = _marker(orjson.dumps(value[key], default=str))
            total += len(orjson.dumps(kept[key])) - sizes[key]
        if total <= limit:
            return kept
    return _marker(text)


def _marker(text: bytes) -> dict[str, Any]:
    return {TRUNCATED: len(text), "preview": text[: PREVIEW_CHARS * 4].decode(errors="ignore")[:PREVIEW_CHARS]}


def _text(value: str | None) -> str | None:
    """A text column's value without U+0000, which PostgreSQL refuses (see core/db.json_text for JSON)."""
    return value.replace("\x00", "\ufffd") if value is not None and "\x00" in value else value
