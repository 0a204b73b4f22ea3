"""A schedule's frequency in words: "At 02:30, every day (Europe/Berlin)", "Every 15 minutes"."""

from __future__ import annotations

from cron_descriptor import ExpressionDescriptor, Options

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
"""croniter's macros as the five fields they stand for (cron-descriptor reads only fields)."""
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def _options() -> Options:
    options = Options()
    options.use_24hour_time_format = True
    options.verbose = False
    return options


def cron_words(expression: str, timezone: str) -> str:
    """A valid cron expression (timing.check_cron) in words, with the zone it is read in."""
    fields = _MACROS.get(expression.lower(), expression)
    described = ExpressionDescriptor(fields, _options()).get_description()
    _, _, day, month, weekday = fields.split()
    if described.startswith("At ") and (day, month, weekday) == ("*", "*", "*"):
        described += ", every day"  # "At 02:30" alone does not say how often
    return f"{described} ({timezone})"


def interval_words(seconds: int) -> str:
    """An interval in words: "Every second", "Every 15 minutes", "Every 1 hour and 30 minutes", "Every day"."""
    parts = []
    rest = seconds
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append((count, unit))
    if len(parts) == 1 and parts[0][0] == 1:
        return f"Every {parts[0][1]}"
    said = [f"{count} {unit}{'s' if count != 1 else ''}" for count, unit in parts]
    joined = said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]
    return f"Every {joined}"


def frequency(cron: str | None, interval_s: int | None, timezone: str) -> str:
    """The frequency of a schedule with a cron expression or an interval."""
    if cron is not None:
        return cron_words(cron, timezone)
    assert interval_s is not None
    return interval_words(interval_s)
