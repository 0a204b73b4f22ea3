"""Line charts drawn on the server as inline SVG (no chart library): this module works out the geometry, the
template `ops/_chart.html` draws it. Axes carry labels; each series has its own line style and marker shape
(never colour alone), a `<title>` on every point, a legend in words, and the same figures as a table."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from workflow_service.ui.render import parse_time

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 30
STYLES = (
    ("", "circle", "#1f4f8f", "solid line"),
    ("6 4", "square", "#a3231d", "dashed line"),
    ("2 3", "triangle", "#1b6e3a", "dotted line"),
)
"""Each series' dash pattern, marker shape, colour and the words for them, in turn."""


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]


@dataclass
class Line:
    """One series as drawn: its style, its polylines (broken where a bucket has no value), its markers."""

    label: str
    dash: str
    shape: str
    colour: str
    words: str
    polylines: list[str] = field(default_factory=list)
    markers: list[tuple[float, float, str]] = field(default_factory=list)


@dataclass
class Chart:
    """What `ops/_chart.html` draws."""

    id: str
    title: str
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    lines: list[Line]
    rows: list[tuple[str, list[str]]]


def nice_top(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return float(next(step * power for step in (1, 2, 5, 10) if step * power >= value))


def time_label(at: datetime | None, span_s: float) -> str:
    """A bucket's start as an axis shows it: the hour within a day or so, the day beyond."""
    if at is None:
        return ""
    if span_s <= 86400 * 1.5:
        return at.strftime("%H:%M")
    return at.strftime("%m-%d %H:%M" if span_s <= 86400 * 8 else "%m-%d")


def _line(
    n: int, series: Series, xy: Sequence[tuple[float, float] | None], tips: Sequence[str], fmt: Callable[[float], str]
) -> Line:
    dash, shape, colour, words = STYLES[n % len(STYLES)]
    line = Line(series.label, dash, shape, colour, words)
    points: list[str] = []
    for i, (at, value) in enumerate(zip(xy, series.values, strict=True)):
        if at is None or value is None:
            if points:
                line.polylines.append(" ".join(points))
            points = []
            continue
        x, y = at
        points.append(f"{x:.1f},{y:.1f}")
        line.markers.append((round(x, 1), round(y, 1), f"{series.label} at {tips[i]}: {fmt(value)}"))
    if points:
        line.polylines.append(" ".join(points))
    return line


def line_chart(
    chart_id: str, title: str, starts: Sequence[str], series: Sequence[Series], fmt: Callable[[float], str]
) -> Chart:
    """A chart of `series` over the buckets starting at `starts` (ISO times), values shown with `fmt`."""
    times = [parse_time(s) for s in starts]
    count = len(times)
    top = nice_top(max((v for s in series for v in s.values if v is not None), default=0.0))
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(i: int) -> float:
        return LEFT + (inner_w * i / (count - 1) if count > 1 else inner_w / 2)

    def y_of(v: float) -> float:
        return TOP + inner_h * (1 - v / top)

    first, last = (times[0], times[-1]) if times else (None, None)
    span = (last - first).total_seconds() if first and last else 0.0
    tip_at = [time_label(t, min(span, 86400)) if span <= 86400 * 1.5 else time_label(t, 86400 * 2) for t in times]
    y_ticks = [(round(y_of(top * k / 4), 1), fmt(top * k / 4)) for k in range(5)]
    x_ticks = (
        [
            (round(x_of(i), 1), time_label(times[i], span))
            for i in sorted({round(j * (count - 1) / 4) for j in range(5)})
        ]
        if count
        else []
    )
    lines = [
        _line(n, s, [None if v is None else (x_of(i), y_of(v)) for i, v in enumerate(s.values)], tip_at, fmt)
        for n, s in enumerate(series)
    ]
    rows = [
        (
            t.strftime("%Y-%m-%d %H:%M UTC") if t else "",
            [fmt(v) if (v := s.values[i]) is not None else "—" for s in series],
        )
        for i, t in enumerate(times)
    ]
    return Chart(chart_id, title, WIDTH, HEIGHT, LEFT, TOP, RIGHT, BOTTOM, y_ticks, x_ticks, lines, rows)
