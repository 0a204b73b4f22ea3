"""Exact percentiles, by PostgreSQL's `percentile_cont` definition, and the figures of a set of runs. Pure.

`percentile_cont(q)` over n sorted values v[0..n-1] is the value at the position p = q * (n - 1), interpolated
linearly between its neighbours: v[floor(p)] + (v[ceil(p)] - v[floor(p)]) * (p - floor(p)). For durations of
1, 2, ..., 100 s: p50 = 50.5, p90 = 90.1, p99 = 99.01. PostgreSQL computes it in SQL (monitor/repository.py);
on SQLite, which has no percentile function, these functions do, with the same floating-point operations in
the same order, so that both databases answer the same figures (tests/monitor/test_parity.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from workflow_service.jobs.usage import COST_DIGITS

RESPONSE_QUANTILES = (0.5, 0.9, 0.99)
WAIT_QUANTILES = (0.5, 0.9)
_MICROSECOND = timedelta(microseconds=1)
_DAY_US = 86_400_000_000


def seconds_between(later: datetime | None, earlier: datetime | None) -> float | None:
    """`later - earlier` in seconds, the double PostgreSQL's `date_part('epoch', later - earlier)` is: the
    difference of two timestamps is an interval of whole days and the rest (`justify_hours`, truncating toward
    zero), whose epoch is `rest / 1e6 + 86400.0 * days`. Exact (the nearest double to the microseconds / 1e6)
    under a day; beyond, within one rounding of it, and the same as PostgreSQL's either way. None if either is."""
    if later is None or earlier is None:
        return None
    us = (later - earlier) // _MICROSECOND
    days = abs(us) // _DAY_US * (1 if us >= 0 else -1)
    return (us - days * _DAY_US) / 1_000_000 + 86400.0 * days


def percentile_cont(ordered: Sequence[float], q: float) -> float | None:
    """PostgreSQL's `percentile_cont(q) WITHIN GROUP (ORDER BY x)` of the ascending values `ordered`; None
    (SQL null) for none."""
    if not ordered:
        return None
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def quantiles(values: Iterable[float], qs: Sequence[float]) -> list[float | None]:
    ordered = sorted(values)
    return [percentile_cont(ordered, q) for q in qs]


@dataclass(frozen=True, slots=True)
class Durations:
    """The percentiles (in the order of the quantiles asked for) and the largest of a set of durations, in
    seconds; None each when the set is empty."""

    percentiles: tuple[float | None, ...]
    max: float | None

    @classmethod
    def of(cls, values: Iterable[float], qs: Sequence[float]) -> Durations:
        ordered = sorted(values)
        return cls(tuple(percentile_cont(ordered, q) for q in qs), ordered[-1] if ordered else None)


@dataclass(frozen=True, slots=True)
class RunFigures:
    """How a set of runs did: counted by outcome (`in_progress`: not ended), with the response time
    (submission to end) and queue wait (submission to start) of those that ended."""

    total: int
    completed: int
    failed: int
    canceled: int
    in_progress: int
    response: Durations
    """RESPONSE_QUANTILES and the max."""
    wait: Durations
    """WAIT_QUANTILES and the max."""


@dataclass(frozen=True, slots=True)
class RunTimes:
    """One run as the figures see it: its status and, once it has ended, its response time and (when it
    started) its queue wait, in seconds."""

    status: str
    response_s: float | None
    wait_s: float | None


def run_figures(runs: Sequence[RunTimes]) -> RunFigures:
    """The figures of `runs`, as PostgreSQL's query computes them (repository.run_figures)."""
    count = dict.fromkeys(("completed", "failed", "canceled"), 0)
    for run in runs:
        if run.status in count:
            count[run.status] += 1
    ended = [run for run in runs if run.status in count]
    return RunFigures(
        total=len(runs),
        completed=count["completed"],
        failed=count["failed"],
        canceled=count["canceled"],
        in_progress=len(runs) - len(ended),
        response=Durations.of((r.response_s for r in ended if r.response_s is not None), RESPONSE_QUANTILES),
        wait=Durations.of((r.wait_s for r in ended if r.wait_s is not None), WAIT_QUANTILES),
    )


@dataclass(frozen=True, slots=True)
class CallFigures:
    """How a set of model calls did: counted by outcome (`in_progress`: still running), the response time of
    those that ended, and the tokens and cost they used (sums of the known values, the cost rounded to
    usage.COST_DIGITS; None when none is known)."""

    total: int
    completed: int
    failed: int
    in_progress: int
    response: Durations
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None


@dataclass(frozen=True, slots=True)
class CallTimes:
    status: str
    response_s: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None


def _tokens(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _cost(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return rounded_cost(sum(known)) if known else None


def rounded_cost(cost: float | None) -> float | None:
    """A sum of costs, rounded as a job's cost is (usage.COST_DIGITS): sums in another order agree."""
    return None if cost is None else round(cost, COST_DIGITS)


def call_figures(calls: Sequence[CallTimes]) -> CallFigures:
    """The figures of model `calls`, as PostgreSQL's query computes them (repository.call_figures)."""
    completed = sum(1 for c in calls if c.status == "completed")
    failed = sum(1 for c in calls if c.status == "failed")
    ended = [c for c in calls if c.status in ("completed", "failed")]
    return CallFigures(
        total=len(calls),
        completed=completed,
        failed=failed,
        in_progress=len(calls) - completed - failed,
        response=Durations.of((c.response_s for c in ended if c.response_s is not None), RESPONSE_QUANTILES),
        input_tokens=_tokens(c.input_tokens for c in calls),
        output_tokens=_tokens(c.output_tokens for c in calls),
        cost=_cost(c.cost for c in calls),
    )


def failure_rate(failed: int, ended: int) -> float | None:
    """The share of ended runs that failed (0 to 1); None when none ended."""
    return failed / ended if ended else None
