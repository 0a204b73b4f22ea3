"""What the sharing, automation, monitor, audit and people pages share: a form's refusal shown at its fields,
the problems the page finds itself before asking the API (a JSON field that does not parse), and times typed in
a time zone."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflow_service.ui.api import ApiProblem

COMMON_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
)
"""Offered in a time zone field's suggestions; any IANA name may be typed."""


def form_problem(field: str, message: str, status: int = 422) -> ApiProblem:
    """A refusal of the page's own, in the API's shape: `field` is the body's path (`$.inputs`)."""
    return ApiProblem(status, {"detail": f"{field}: {message}", "errors": [{"path": field, "message": message}]})


def field_errors(problem: ApiProblem | None) -> dict[str, list[str]]:
    """A problem's errors by the form field they concern: `$.inputs.name` and `$.inputs` both under `inputs`,
    `query:from` under `from`."""
    found: dict[str, list[str]] = {}
    if problem is None:
        return found
    for error in problem.errors:
        path = str(error.get("path") or ".".join(str(p) for p in error.get("loc") or []))
        name = path.removeprefix("$").removeprefix(".").split(":")[-1].split(".")[0].split("[")[0]
        found.setdefault(name or "$", []).append(str(error.get("message") or error.get("msg") or ""))
    return found


def json_object(text: str, field: str) -> dict[str, Any]:
    """A form's JSON object field (empty: `{}`); `form_problem` when it does not parse or is not an object."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise form_problem(field, f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise form_problem(field, "must be a JSON object ({…})")
    return value


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, UTC when it is not one (the API then names the bad zone itself)."""
    try:
        return ZoneInfo(name.strip() or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(text: str, field: str, zone_name: str = "UTC") -> str | None:
    """A `datetime-local` field's value (or an ISO time with its offset) as ISO 8601 with an offset, read in
    `zone_name` when it has none; None when empty."""
    text = text.strip()
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise form_problem(field, "not a date and time (YYYY-MM-DDTHH:MM)") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone(zone_name))
    return at.isoformat()


PERIODS: dict[str, tuple[str, timedelta]] = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "90d": ("Last 90 days", timedelta(days=90)),
}
"""The monitor's periods: each a window ending now (the API takes at most 90 days)."""
