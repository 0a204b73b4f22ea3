"""A schedule's frequency in words."""

from __future__ import annotations

import pytest

from workflow_service.schedules.words import cron_words, frequency, interval_words


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("30 2 * * *", "At 02:30, every day (Europe/Berlin)"),
        ("*/15 * * * *", "Every 15 minutes (Europe/Berlin)"),
        ("0 9 * * 1-5", "At 09:00, Monday through Friday (Europe/Berlin)"),
        ("0 0 1 * *", "At 00:00, on day 1 of the month (Europe/Berlin)"),
        ("@daily", "At 00:00, every day (Europe/Berlin)"),
        ("@hourly", "Every hour (Europe/Berlin)"),
        ("@weekly", "At 00:00, only on Sunday (Europe/Berlin)"),
    ],
)
def test_cron_expressions_in_words(expression: str, words: str) -> None:
    assert cron_words(expression, "Europe/Berlin") == words


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "Every second"),
        (45, "Every 45 seconds"),
        (60, "Every minute"),
        (900, "Every 15 minutes"),
        (3600, "Every hour"),
        (5400, "Every 1 hour and 30 minutes"),
        (86400, "Every day"),
        (90061, "Every 1 day, 1 hour, 1 minute and 1 second"),
        (7 * 86400, "Every 7 days"),
    ],
)
def test_intervals_in_words(seconds: int, words: str) -> None:
    assert interval_words(seconds) == words


def test_frequency_takes_the_cron_expression_or_the_interval() -> None:
    assert frequency("0 12 * * *", None, "UTC") == "At 12:00, every day (UTC)"
    assert frequency(None, 120, "Europe/Berlin") == "Every 2 minutes"
