"""A schedule's times: cron expressions read in a time zone across daylight-saving changes (each expected instant
written out in UTC), intervals, the start and end, counting, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflow_service.schedules.timing import Timing, check_cron, every_hour, zone_of


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def cron(expression: str, zone: str = "UTC", **bounds: Any) -> Timing:
    return Timing(check_cron(expression), None, zone_of(zone), utc(2020, 1, 1), bounds.get("start"), bounds.get("end"))


def interval(seconds: int, anchor: datetime, **bounds: Any) -> Timing:
    return Timing(None, seconds, zone_of("UTC"), anchor, bounds.get("start"), bounds.get("end"))


def following(timing: Timing, after: datetime, n: int) -> list[datetime]:
    found: list[datetime] = []
    at: datetime | None = after
    while len(found) < n:
        assert at is not None
        at = timing.next_after(at)
        assert at is not None
        found.append(at)
    return found


# Europe/Berlin in 2027: clocks go from 02:00 CET to 03:00 CEST on 28 March (01:00 UTC), and from 03:00 CEST back
# to 02:00 CET on 31 October (01:00 UTC). America/New_York: 02:00 EST to 03:00 EDT on 14 March (07:00 UTC), 02:00
# EDT back to 01:00 EST on 7 November (06:00 UTC).


def test_a_daily_0230_in_berlin_runs_once_on_the_day_0230_is_skipped() -> None:
    days = following(cron("30 2 * * *", "Europe/Berlin"), utc(2027, 3, 26, 12), 3)
    assert days == [
        utc(2027, 3, 27, 1, 30),  # 02:30 CET
        utc(2027, 3, 28, 1, 30),  # 02:30 does not exist: 03:30 CEST, moved forward by the hour skipped
        utc(2027, 3, 29, 0, 30),  # 02:30 CEST
    ]


def test_a_daily_0230_in_berlin_runs_once_on_the_day_0230_repeats() -> None:
    days = following(cron("30 2 * * *", "Europe/Berlin"), utc(2027, 10, 29, 12), 3)
    assert days == [
        utc(2027, 10, 30, 0, 30),  # 02:30 CEST
        utc(2027, 10, 31, 0, 30),  # the first 02:30 (CEST); not again at 01:30 UTC (02:30 CET)
        utc(2027, 11, 1, 1, 30),  # 02:30 CET
    ]


def test_new_york_both_changes() -> None:
    spring = following(cron("30 2 * * *", "America/New_York"), utc(2027, 3, 13, 12), 2)
    assert spring == [utc(2027, 3, 14, 7, 30), utc(2027, 3, 15, 6, 30)]  # 03:30 EDT, then 02:30 EDT
    autumn = following(cron("30 1 * * *", "America/New_York"), utc(2027, 11, 6, 12), 2)
    assert autumn == [utc(2027, 11, 7, 5, 30), utc(2027, 11, 8, 6, 30)]  # the first 01:30 (EDT) only, then EST


def test_every_15_minutes_keeps_its_pace_through_both_changes() -> None:
    quarter = timedelta(minutes=15)
    timing = cron("*/15 * * * *", "Europe/Berlin")
    autumn = following(timing, utc(2027, 10, 30, 23, 50), 16)  # 01:50 CEST to 05:45 CET
    assert autumn == [utc(2027, 10, 31) + i * quarter for i in range(16)]  # the repeated hour runs twice
    spring = following(timing, utc(2027, 3, 27, 23, 50), 12)
    assert spring == [utc(2027, 3, 28) + i * quarter for i in range(12)]  # no time twice, none lost


def test_hourly_runs_every_hour_in_the_repeated_hour_too() -> None:
    autumn = following(cron("0 * * * *", "Europe/Berlin"), utc(2027, 10, 30, 22, 30), 5)
    assert autumn == [utc(2027, 10, 30, 23), utc(2027, 10, 31, 0), utc(2027, 10, 31, 1), utc(2027, 10, 31, 2),
                      utc(2027, 10, 31, 3)]  # fmt: skip
    spring = following(cron("0 * * * *", "Europe/Berlin"), utc(2027, 3, 27, 23, 30), 3)
    assert spring == [utc(2027, 3, 28, 0), utc(2027, 3, 28, 1), utc(2027, 3, 28, 2)]  # 01:00 CET, 03:00, 04:00 CEST


def test_a_time_in_the_gap_and_the_time_it_is_moved_to_run_once() -> None:
    # 02:00 and 02:30 do not exist: moved forward to 03:00 and 03:30 CEST (01:00 and 01:30 UTC), times of their own.
    timing = cron("0,30 2,3 * * *", "Europe/Berlin")
    assert following(timing, utc(2027, 3, 27, 23), 3) == [utc(2027, 3, 28, 1, 0), utc(2027, 3, 28, 1, 30),
                                                           utc(2027, 3, 29, 0, 0)]  # fmt: skip
    assert following(timing, utc(2027, 3, 28, 1, 10), 1) == [utc(2027, 3, 28, 1, 30)]


def test_cron_in_utc_and_other_zones() -> None:
    assert following(cron("0 9 * * 1-5"), utc(2027, 1, 1, 12), 2) == [utc(2027, 1, 4, 9), utc(2027, 1, 5, 9)]
    assert following(cron("@daily", "Asia/Kolkata"), utc(2027, 1, 1, 12), 1) == [utc(2027, 1, 1, 18, 30)]
    assert following(cron("0 0 1 * *"), utc(2027, 1, 15), 2) == [utc(2027, 2, 1), utc(2027, 3, 1)]


def test_start_and_end_bound_the_times() -> None:
    timing = cron("0 * * * *", start=utc(2027, 1, 1, 10, 30), end=utc(2027, 1, 1, 12))
    assert timing.next_after(utc(2026, 1, 1)) == utc(2027, 1, 1, 11)
    assert timing.next_after(utc(2027, 1, 1, 11)) == utc(2027, 1, 1, 12)  # the end is included
    assert timing.next_after(utc(2027, 1, 1, 12)) is None
    on_the_hour = cron("0 * * * *", start=utc(2027, 1, 1, 10))
    assert on_the_hour.next_after(utc(2026, 1, 1)) == utc(2027, 1, 1, 10)  # the start is included


def test_an_interval_counts_from_its_anchor() -> None:
    anchor = utc(2027, 1, 1, 0, 0, 7)
    every_90 = interval(90, anchor)
    assert following(every_90, anchor, 3) == [anchor + timedelta(seconds=s) for s in (90, 180, 270)]
    assert every_90.next_after(utc(2027, 1, 1, 1)) == anchor + timedelta(seconds=3600)  # 40 intervals
    assert every_90.next_after(anchor + timedelta(seconds=3600)) == anchor + timedelta(seconds=3690)
    assert every_90.next_after(anchor - timedelta(days=1)) == anchor - timedelta(days=1) + timedelta(seconds=90)
    started = interval(60, anchor, start=anchor, end=anchor + timedelta(minutes=2))
    assert started.next_after(utc(2026, 1, 1)) == anchor
    assert following(started, anchor, 2) == [anchor + timedelta(minutes=1), anchor + timedelta(minutes=2)]
    assert started.next_after(anchor + timedelta(minutes=2)) is None


def test_counting_and_listing_times() -> None:
    anchor = utc(2027, 1, 1)
    per_second = interval(1, anchor, start=anchor)
    assert per_second.count(anchor, anchor + timedelta(days=30), cap=10**9) == 30 * 86400
    assert per_second.count(anchor, anchor + timedelta(days=30), cap=1000) == 1001
    assert per_second.count(anchor + timedelta(milliseconds=1), anchor + timedelta(seconds=3), cap=10) == 2
    ended = interval(60, anchor, start=anchor, end=anchor + timedelta(minutes=10))
    assert ended.count(anchor, anchor + timedelta(days=1), cap=100) == 11
    assert ended.count(anchor - timedelta(days=2), anchor - timedelta(days=1), cap=100) == 0
    minutes = cron("* * * * *")
    assert minutes.count(utc(2027, 1, 1), utc(2027, 1, 1, 1), cap=1000) == 60
    assert minutes.count(utc(2027, 1, 1), utc(2027, 1, 2), cap=100) == 101
    listed = minutes.times(utc(2027, 1, 1), utc(2027, 1, 1, 0, 3), limit=10)
    assert listed == [utc(2027, 1, 1, 0, m) for m in range(4)]  # both ends included
    assert len(minutes.times(utc(2027, 1, 1), utc(2027, 1, 2), limit=10)) == 11  # one more than the limit: too many
    bounded = cron("* * * * *", start=utc(2027, 1, 1, 0, 2))
    assert bounded.times(utc(2027, 1, 1), utc(2027, 1, 1, 0, 3), limit=10) == [utc(2027, 1, 1, 0, 2),
                                                                                utc(2027, 1, 1, 0, 3)]  # fmt: skip
    unbounded = bounded.times(utc(2027, 1, 1), utc(2027, 1, 1, 0, 3), limit=10, bounded=False)
    assert unbounded == [utc(2027, 1, 1, 0, m) for m in range(4)]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * * * *", "five fields"),
        ("* * *", "five fields"),
        ("@fortnightly", "unknown macro"),
        ("61 * * * *", "not a valid cron expression"),
        ("H * * * *", "not a valid cron expression"),
        ("0 0 31 2 *", "never matches"),
    ],
)
def test_refused_cron_expressions(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_cron(expression)


def test_accepted_cron_expressions_are_normalized() -> None:
    assert check_cron("  0   9 * *   1-5 ") == "0 9 * * 1-5"
    assert check_cron("@hourly") == "@hourly"
    assert all(every_hour(e) for e in ("*/15 * * * *", "0 * * * *", "@hourly", "0 0-23 * * *"))
    assert not any(every_hour(e) for e in ("30 2 * * *", "0 0-22 * * *"))


def test_an_unknown_time_zone_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        zone_of("Mars/Olympus")
    with pytest.raises(ValueError, match="unknown time zone"):
        zone_of("../etc/passwd")
    assert str(zone_of("Europe/Berlin")) == "Europe/Berlin"
