"""When a schedule runs: the times its cron expression (read in its time zone) or its interval gives.

A cron expression is parsed and iterated by croniter over the wall-clock times of the schedule's zone, and
zoneinfo turns each wall-clock time into an instant. Daylight-saving changes follow one rule:

- a wall-clock time that does not exist that day (the hour skipped in spring) runs once, moved forward by the
  length of the gap: a daily 02:30 in Europe/Berlin runs at 03:30 CEST on the day clocks go from 02:00 to
  03:00 (PEP 495's reading of a time in a gap, the offset before the change);
- a wall-clock time that occurs twice (the hour repeated in autumn) runs once, at its first occurrence; except
  when the expression runs in every hour (its hour field is `*`): then it runs at both, so that "every 15
  minutes" keeps its pace through the repeated hour;
- two wall-clock times that come to the same instant run once.

An interval is elapsed time: its runs are `start_at` plus whole multiples of the interval (from the schedule's
creation, to the second, without a start), whatever the clocks of its zone do. `start_at` and `end_at` bound both
kinds.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

SHIFT = timedelta(hours=3)
"""More than any daylight-saving change: wall-clock times further apart than this keep their order as instants."""
EPSILON = timedelta(microseconds=1)
MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_SEARCH = 100_000
"""Wall-clock candidates one search looks at before it gives up (an expression that matches nothing)."""


def zone_of(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone `name`; ValueError naming it when there is none."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin or UTC") from exc


def check_cron(expression: str) -> str:
    """`expression` with its fields single-spaced, once croniter accepts it as five cron fields (or a macro such
    as @daily) that match some time; ValueError saying what is wrong otherwise."""
    fields = expression.split()
    if len(fields) == 1 and fields[0].startswith("@"):
        if fields[0].lower() not in MACROS:
            raise ValueError(f"unknown macro {fields[0]!r}; use one of {', '.join(MACROS)} or five cron fields")
    elif len(fields) != 5:
        raise ValueError(
            f"a cron expression has five fields (minute hour day-of-month month day-of-week); this one has "
            f"{len(fields)}"
        )
    normalized = " ".join(fields)
    if not croniter.is_valid(normalized):
        raise ValueError(f"{normalized!r} is not a valid cron expression")
    try:
        croniter(normalized, datetime(2000, 1, 1)).get_next(datetime)
    except (CroniterBadDateError, CroniterBadCronError) as exc:
        raise ValueError(f"{normalized!r} never matches a date") from exc
    return normalized


def every_hour(expression: str) -> bool:
    """Whether the expression runs in every hour of the day (its hour field is `*`, or lists all 24)."""
    hours: list[Any] = croniter(expression).expanded[1]
    return hours == ["*"] or len(set(hours)) == 24


@dataclass(frozen=True, slots=True)
class Timing:
    """A schedule's times: exactly one of `cron` and `interval_s`."""

    cron: str | None
    interval_s: int | None
    zone: zoneinfo.ZoneInfo
    anchor: datetime
    """Where an interval counts from: `start_at`, else the schedule's creation to the second."""
    start_at: datetime | None = None
    end_at: datetime | None = None

    @classmethod
    def of(cls, row: Any) -> Timing:
        """The timing of a schedule row (its cron or interval, zone, start, end and creation)."""
        return cls.of_values(row._mapping)

    @classmethod
    def of_values(cls, values: Mapping[str, Any]) -> Timing:
        """The timing of a schedule's values (by column name)."""
        start = values["start_at"]
        anchor = start if start is not None else values["created_at"].replace(microsecond=0)
        zone = zone_of(values["timezone"])
        return cls(values["cron"], values["interval_s"], zone, anchor, start, values["end_at"])

    def next_after(self, t: datetime) -> datetime | None:
        """The first time strictly after `t` within the start and end; None when there is none."""
        if self.start_at is not None and t < self.start_at:
            t = self.start_at - EPSILON
        found = self._next(t)
        if found is None or (self.end_at is not None and found > self.end_at):
            return None
        return found

    def times(self, lo: datetime, hi: datetime, limit: int, *, bounded: bool = True) -> list[datetime]:
        """The times in [lo, hi], at most `limit` + 1 of them (one more than `limit` says there are more); with
        `bounded` False, also those outside the start and end (a backfill names its interval itself)."""
        found: list[datetime] = []
        for at in self._from(lo - EPSILON, bounded):
            if at > hi or len(found) > limit:
                break
            found.append(at)
        return found

    def count(self, lo: datetime, hi: datetime, cap: int) -> int:
        """How many times fall in [lo, hi) within the start and end, counting at most `cap` + 1."""
        if self.interval_s is not None:
            first, last = self.next_after(lo - EPSILON), self._last_before(hi)
            if first is None or last is None or last < first:
                return 0
            return min(cap + 1, (last - first) // timedelta(seconds=self.interval_s) + 1)
        return len(self.times(lo, hi - EPSILON, cap))

    def _from(self, t: datetime, bounded: bool) -> Iterator[datetime]:
        while True:
            found = self.next_after(t) if bounded else self._next(t)
            if found is None:
                return
            yield found
            t = found

    def _last_before(self, t: datetime) -> datetime | None:
        """For an interval: its last time before `t` within the end (the start is checked by the caller)."""
        assert self.interval_s is not None
        step = timedelta(seconds=self.interval_s)
        if self.end_at is not None and t > self.end_at:
            t = self.end_at + EPSILON
        k = (t - EPSILON - self.anchor) // step
        return self.anchor + k * step

    def _next(self, t: datetime) -> datetime | None:
        if self.interval_s is not None:
            step = timedelta(seconds=self.interval_s)
            return self.anchor + ((t - self.anchor) // step + 1) * step
        assert self.cron is not None
        return self._cron_next(t)

    def _cron_next(self, t: datetime) -> datetime | None:
        """The first instant after `t` of a wall-clock time the expression gives (see the module's rule).

        Instants follow wall-clock times except around a change, where a time in the gap or the repeated hour can
        come before one given a little earlier: near a change the search starts SHIFT earlier, and a candidate
        stands once no later wall-clock time could come before it."""
        wall = t.astimezone(self.zone).replace(tzinfo=None)
        assert self.cron is not None
        candidates = croniter(self.cron, wall - SHIFT if self._near_change(t) else wall)
        repeated = every_hour(self.cron)
        best: tuple[datetime, datetime] | None = None  # (instant, its wall-clock time)
        for _ in range(_SEARCH):
            try:
                candidate: datetime = candidates.get_next(datetime)
            except CroniterBadDateError:
                break
            if (
                best is not None
                and candidate > best[1]
                and (candidate > best[1] + SHIFT or not self._near_change(best[0]))
            ):
                break
            for instant in self._instants(candidate, repeated):
                if instant > t and (best is None or instant < best[0]):
                    best = (instant, candidate)
        return None if best is None else best[0]

    def _instants(self, wall: datetime, repeated: bool) -> tuple[datetime, ...]:
        first = wall.replace(tzinfo=self.zone).astimezone(UTC)  # fold 0: in a gap, moved forward by it
        second = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        if second > first and repeated:  # a wall-clock time of the repeated hour, in an every-hour expression
            return first, second
        return (first,)

    def _near_change(self, instant: datetime) -> bool:
        """Whether the zone's offset changes within SHIFT of `instant`."""
        return (instant - SHIFT).astimezone(self.zone).utcoffset() != (instant + SHIFT).astimezone(
            self.zone
        ).utcoffset()
