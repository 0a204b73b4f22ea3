"""The dashboard's templates (Jinja2, autoescaped) and the filters they share: times, durations, statuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

ACTIVE = frozenset({"pending", "claimed", "running", "validating", "uploading"})
"""Job statuses that show a spinner: the job is under way."""
STATUS_LABELS = {
    "new": "New",
    "pending": "Enqueued",
    "claimed": "Claimed",
    "running": "Running",
    "validating": "Validating",
    "uploading": "Uploading",
    "completed": "Completed",
    "failed": "Failed",
    "canceled": "Canceled",
    "skipped": "Skipped",
    "waiting": "Waiting",
    "success": "Success",
    "in_progress": "In progress",
    "active": "Active",
    "paused": "Paused",
    "delivered": "Delivered",
    "scheduled": "Scheduled",
    "exhausted": "Gave up",
}
STATUS_ICONS = {
    "new": "○",
    "completed": "✓",
    "success": "✓",
    "delivered": "✓",
    "failed": "✕",
    "exhausted": "✕",
    "canceled": "⊘",
    "skipped": "↷",
    "paused": "Ⅱ",
}


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def ago(value: Any, now: datetime | None = None) -> str:
    """`3 min ago`, `2 h ago`, `5 d ago`; `—` for nothing."""
    at = parse_time(value)
    if at is None:
        return "—"
    seconds = int(((now or datetime.now(UTC)) - at).total_seconds())
    if seconds < 0:
        return "in " + _span(-seconds)
    if seconds < 10:
        return "just now"
    return _span(seconds) + " ago"


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def when(value: Any) -> Markup:
    """A `<time>`: relative in the text, the exact UTC time in its title and datetime (a script may localize)."""
    at = parse_time(value)
    if at is None:
        return Markup('<span class="muted">—</span>')
    exact = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(at.isoformat(), exact, ago(at))


def exact(value: Any) -> str:
    at = parse_time(value)
    return "—" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(value: Any) -> str:
    """Seconds (a number, or an ISO duration string from the API) as `850 ms`, `12.3 s`, `4 min 5 s`."""
    if value is None or value == "":
        return "—"
    seconds = _seconds(value)
    if seconds is None:
        return str(value)
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _seconds(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    if text.startswith("PT"):  # pydantic's ISO 8601 timedelta: PT1.5S, PT2M3S, PT1H
        total, number = 0.0, ""
        for char in text[2:]:
            if char.isdigit() or char == ".":
                number += char
            else:
                total += float(number or 0) * {"H": 3600, "M": 60, "S": 1}.get(char, 0)
                number = ""
        return total
    try:
        return float(text)
    except ValueError:
        return None


def pretty(value: Any) -> str:
    """A JSON value as people read it: strings as they are, the rest indented."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def status_label(status: Any) -> str:
    text = str(status or "")
    return STATUS_LABELS.get(text, text.replace("_", " ").capitalize())


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        ago=ago,
        when=when,
        exact=exact,
        duration=duration,
        pretty=pretty,
        status_label=status_label,
        tojson_pretty=pretty,
    )
    env.globals.update(ACTIVE=ACTIVE, STATUS_ICONS=STATUS_ICONS)
    return env


ENVIRONMENT = make_environment()
