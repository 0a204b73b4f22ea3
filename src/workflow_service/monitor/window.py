"""The monitor's query, checked: the window of time (`from`, `to`), the buckets of its time series, and the
filters (versions, origins, statuses). Each bad value is a 422 naming its parameter. Pure: no I/O.

A run belongs to the window when it was submitted in it (`from <= created_at < to`); the series puts it in the
bucket of its submission. Buckets are aligned to the Unix epoch (UTC), so the same bucket has the same bounds
in every request: a 15-minute bucket starts at :00, :15, :30 or :45, a day at midnight UTC. The first and last
buckets are cut to the window.

The bucket size, unless `bucket=` names one, is the smallest of BUCKET_SIZES that cuts the window into at most
MAX_POINTS buckets: 1 h -> 1 min (60 points), 24 h -> 15 min (96), 7 days -> 3 h (56), 30 days -> 12 h (60),
90 days -> 1 day (90); one more when the window does not start on a bucket's bound.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from workflow_service.errors import InvalidInput
from workflow_service.jobs.intake import Origin
from workflow_service.jobs.states import TERMINAL, JobStatus, values

DEFAULT_SPAN = timedelta(hours=24)
"""The window when `from` is not given: the 24 hours before `to`."""
MAX_SPAN = timedelta(days=90)
MAX_POINTS = 100
BUCKET_SIZES = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
"""The bucket sizes chosen from, in seconds: 1, 5, 15 and 30 minutes, 1, 3, 6 and 12 hours, 1 day."""
MAX_BUCKETS = 1000
"""The most buckets a `bucket=` of the caller's may cut the window into."""
IN_PROGRESS = "in_progress"
"""The status filter that stands for every status of a run that has not ended."""
NOT_ENDED = tuple(s for s in values(JobStatus) if JobStatus(s) not in TERMINAL)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_BUCKET = re.compile(r"^([1-9][0-9]{0,5})([mhd])$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400}


def _invalid(parameter: str, message: str) -> InvalidInput:
    return InvalidInput(f"{parameter}: {message}", errors=[{"path": f"query:{parameter}", "message": message}])


def bucket_of(at: datetime, bucket_s: int) -> int:
    """The number of the bucket of `bucket_s` seconds that `at` falls in, counted from the epoch; exact (whole
    microseconds), as PostgreSQL's `div(extract(epoch from at), bucket_s)` is (monitor/repository.py) for every
    time after 1970 (`div` truncates toward zero; no job is older)."""
    return ((at - EPOCH) // _MICROSECOND) // (bucket_s * 1_000_000)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One point of the series: the bucket's number since the epoch and its bounds, cut to the window."""

    index: int
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Window:
    """`start <= created_at < end`, in buckets of `bucket_s` seconds."""

    start: datetime
    end: datetime
    bucket_s: int

    def buckets(self) -> list[Bucket]:
        """Every bucket the window touches, in order, cut to the window."""
        size = timedelta(seconds=self.bucket_s)
        first, last = bucket_of(self.start, self.bucket_s), bucket_of(self.end - _MICROSECOND, self.bucket_s)
        bounds = [self.start, *(EPOCH + i * size for i in range(first + 1, last + 1)), self.end]
        return [Bucket(first + n, bounds[n], bounds[n + 1]) for n in range(last - first + 1)]


def window(start: datetime | None, end: datetime | None, bucket: str | None, now: datetime) -> Window:
    """The window asked for: `to` defaults to `now`, `from` to DEFAULT_SPAN before `to`; the bucket size is
    `bucket` (`<n>m`, `<n>h` or `<n>d`) or chosen by the rule in the module's docstring."""
    end = (end or now).astimezone(UTC)
    start = (start or end - DEFAULT_SPAN).astimezone(UTC)
    if start >= end:
        raise _invalid("from", f"must be before `to` ({end.isoformat()})")
    if end - start > MAX_SPAN:
        raise _invalid("from", f"the window from `from` to `to` may be at most {MAX_SPAN.days} days")
    span_s = (end - start).total_seconds()
    if bucket is None:
        size = next((s for s in BUCKET_SIZES if span_s / s <= MAX_POINTS), BUCKET_SIZES[-1])
        return Window(start, end, size)
    match = _BUCKET.match(bucket)
    if match is None:
        raise _invalid("bucket", "a whole number of minutes, hours or days: `15m`, `1h`, `1d`")
    size = int(match.group(1)) * _UNIT_S[match.group(2)]
    if span_s / size > MAX_BUCKETS:
        raise _invalid("bucket", f"cuts the window into more than {MAX_BUCKETS} buckets; choose a larger one")
    return Window(start, end, size)


def split(raw: Iterable[str] | None) -> list[str]:
    """The values of a parameter that may be repeated or comma-separated, each once, in order."""
    return list(dict.fromkeys(v.strip() for value in raw or () for v in value.split(",") if v.strip()))


def versions(raw: Sequence[str] | None, current: int | None) -> tuple[int, ...] | None:
    """Version numbers (`current`: the workflow's current version, none if it was never deployed); None: any."""
    asked = split(raw)
    if not asked:
        return None
    found: list[int] = []
    for value in asked:
        if value == "current":
            found += [current] if current is not None else []
        elif value.isdigit() and 0 < int(value) < 2**31:
            found.append(int(value))
        else:
            raise _invalid("version", f"{value!r} is not a version: a number or `current`")
    return tuple(dict.fromkeys(found))


def origins(raw: Sequence[str] | None) -> tuple[str, ...] | None:
    """Job origins (intake.Origin); None: any."""
    found = split(raw)
    for value in found:
        if value not in Origin.__members__.values():
            raise _invalid("origin", f"unknown origin {value!r}; one of: {', '.join(Origin)}")
    return tuple(found) or None


def run_statuses(raw: Sequence[str] | None) -> tuple[str, ...] | None:
    """Job statuses; `in_progress` stands for all those of a run that has not ended. None: any."""
    asked = split(raw)
    if not asked:
        return None
    found: list[str] = []
    for value in asked:
        if value == IN_PROGRESS:
            found += NOT_ENDED
        elif value in JobStatus.__members__.values():
            found.append(value)
        else:
            raise _invalid("status", f"unknown status {value!r}; one of: {', '.join(JobStatus)}, {IN_PROGRESS}")
    return tuple(dict.fromkeys(found))


def step_statuses(raw: Sequence[str] | None, allowed: Sequence[str]) -> tuple[str, ...] | None:
    """Statuses among `allowed`; None: any."""
    found = split(raw)
    for value in found:
        if value not in allowed:
            raise _invalid("status", f"unknown status {value!r}; one of: {', '.join(allowed)}")
    return tuple(found) or None


def names(raw: Sequence[str] | None, parameter: str, max_length: int) -> tuple[str, ...] | None:
    """Free-form values (model names, step ids), each at most `max_length` characters; None: any."""
    found = split(raw)
    for value in found:
        if len(value) > max_length:
            raise _invalid(parameter, f"a value may be at most {max_length} characters")
    return tuple(found) or None
