"""The monitor's query, checked: the window and its buckets (pure), each bad parameter a 422 naming it, and the
seconds between two times exactly as PostgreSQL's `date_part('epoch', …)` computes them (which SQLite's figures
are computed with)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.jobs.conftest import GREETER, deploy_workflow
from tests.monitor.conftest import BASE, at
from tests.workflows.conftest import assert_problem
from workflow_service.monitor import stats, window

NOW = datetime(2026, 12, 1, 12, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("span", "bucket_s", "points"),
    [
        (timedelta(minutes=10), 60, 10),
        (timedelta(hours=1), 60, 60),
        (timedelta(hours=2), 300, 24),
        (timedelta(hours=24), 900, 96),
        (timedelta(days=4), 3600, 96),
        (timedelta(days=7), 3 * 3600, 56),
        (timedelta(days=30), 12 * 3600, 60),
        (timedelta(days=90), 86400, 90),
    ],
)
def test_the_bucket_is_the_smallest_that_gives_at_most_100_points(span: timedelta, bucket_s: int, points: int) -> None:
    aligned = window.window(BASE, BASE + span, None, NOW)
    assert (aligned.bucket_s, len(aligned.buckets())) == (bucket_s, points)
    # A window that does not start on a bucket's bound touches one bucket more, the first and last cut to it.
    shifted = window.window(BASE + timedelta(seconds=7), BASE + span + timedelta(seconds=7), None, NOW)
    buckets = shifted.buckets()
    assert len(buckets) == points + 1
    assert (buckets[0].start, buckets[-1].end) == (shifted.start, shifted.end)
    assert all(a.end == b.start for a, b in itertools.pairwise(buckets))


def test_defaults_and_explicit_buckets() -> None:
    default = window.window(None, None, None, NOW)
    assert (default.start, default.end, default.bucket_s) == (NOW - timedelta(hours=24), NOW, 900)
    assert window.window(None, None, "2h", NOW).bucket_s == 7200
    assert window.window(None, None, "1d", NOW).bucket_s == 86400
    in_berlin = datetime(2026, 12, 1, 13, 7, 30, tzinfo=datetime.fromisoformat("2026-12-01T00:00+01:00").tzinfo)
    assert window.window(None, in_berlin, None, NOW).end == NOW  # answered in UTC


def test_percentile_cont_on_few_values() -> None:
    assert stats.percentile_cont([], 0.5) is None
    assert stats.percentile_cont([4.0], 0.99) == 4.0
    assert stats.percentile_cont([1.0, 2.0], 0.5) == 1.5
    assert stats.percentile_cont([1.0, 2.0, 10.0], 0.9) == pytest.approx(8.4)  # 2 + 8 * 0.8


async def test_seconds_between_is_postgresqls_date_part(engine: AsyncEngine) -> None:
    """Under a day, both are the nearest double to the microseconds / 1e6; beyond, PostgreSQL adds whole days to
    the rest: the Python function does the same, to the last bit, negative differences too."""
    start = datetime(2026, 11, 30, 23, 59, 59, 999_999, tzinfo=UTC)
    gaps = [
        timedelta(microseconds=1),
        timedelta(seconds=1.5),
        timedelta(hours=23, minutes=59, seconds=59, microseconds=999_999),
        timedelta(days=1),
        timedelta(days=1, microseconds=1),
        timedelta(days=3, seconds=0.123457),
        timedelta(days=400, seconds=77, microseconds=333_333),
        -timedelta(seconds=1.5),
        -timedelta(days=1, seconds=3600, microseconds=1),
    ]
    async with engine.connect() as conn:
        for gap in gaps:
            later = start + gap
            expected = (
                await conn.execute(sa.select(sa.func.date_part("epoch", sa.literal(later) - sa.literal(start))))
            ).scalar()
            assert stats.seconds_between(later, start) == expected, gap


BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("monitor", {"from": at(10).isoformat(), "to": at(10).isoformat()}, "query:from", "invalid_input"),
    ("monitor", {"from": at(11).isoformat(), "to": at(10).isoformat()}, "query:from", "invalid_input"),
    (
        "monitor",
        {"from": (BASE - timedelta(days=91)).isoformat(), "to": BASE.isoformat()},
        "query:from",
        "invalid_input",
    ),
    ("monitor", {"from": "2026-11-30T00:00:00"}, "query:from", "invalid_request"),  # no time zone
    ("monitor", {"to": "yesterday"}, "query:to", "invalid_request"),
    ("monitor", {"version": "one"}, "query:version", "invalid_input"),
    ("monitor", {"version": "0"}, "query:version", "invalid_input"),
    ("monitor", {"version": "1,-2"}, "query:version", "invalid_input"),
    ("monitor", {"origin": "email"}, "query:origin", "invalid_input"),
    ("monitor", {"bucket": "15"}, "query:bucket", "invalid_input"),
    ("monitor", {"bucket": "30s"}, "query:bucket", "invalid_input"),
    (
        "monitor",
        {"bucket": "1m", "from": (BASE - timedelta(days=30)).isoformat(), "to": BASE.isoformat()},
        "query:bucket",
        "invalid_input",
    ),
    ("monitor", {"status": "failed"}, "query:status", "invalid_request"),  # not a parameter of the monitor
    ("runs", {"status": "done"}, "query:status", "invalid_input"),
    ("runs", {"cursor": "%%%"}, "query:cursor", "invalid_input"),
    ("runs", {"limit": 201}, "query:limit", "invalid_request"),
    ("runs", {"origin": "api,webhook"}, "query:origin", "invalid_input"),
    ("model-runs", {"step": "s" * 65}, "query:step", "invalid_input"),
]


@pytest.mark.parametrize(("route", "query", "where", "code"), BAD, ids=[f"{r} {q}" for r, q, _, _ in BAD])
async def test_a_bad_parameter_is_a_422_naming_it(
    client: httpx.AsyncClient, route: str, query: dict[str, Any], where: str, code: str
) -> None:
    await deploy_workflow(client, "watched", GREETER)
    body = assert_problem(await client.get(f"/v1/workflows/watched/{route}", params=query), 422, code)
    assert where in [e["path"] for e in body["errors"]], body


@pytest.mark.parametrize(
    "query",
    [
        {"from": "0001-01-01T00:00:00Z", "to": "0001-01-02T00:00:00Z", "bucket": "7m"},
        {"from": "9999-12-30T00:00:00Z", "to": "9999-12-31T23:59:59Z", "bucket": "1d"},
        {"from": "1969-12-31T00:00:00Z", "to": "1970-01-01T12:00:00Z"},
    ],
)
async def test_windows_at_the_ends_of_the_calendar_hold_no_runs(
    client: httpx.AsyncClient, query: dict[str, str]
) -> None:
    await deploy_workflow(client, "watched", GREETER)
    window_only = {k: v for k, v in query.items() if k != "bucket"}
    for route in ("runs", "model-runs"):
        response = await client.get(f"/v1/workflows/watched/{route}", params=window_only)
        assert response.status_code == 200, response.text
        assert response.json()["items"] == []
    response = await client.get("/v1/workflows/watched/monitor", params=query)
    assert response.status_code == 200, response.text
    monitor = response.json()
    assert monitor["summary"]["total"] == 0
    assert (monitor["series"][0]["start"], monitor["series"][-1]["end"]) == (monitor["from"], monitor["to"])


async def test_a_missing_workflow_is_a_404(client: httpx.AsyncClient) -> None:
    for route in ("monitor", "runs", "model-runs"):
        assert_problem(await client.get(f"/v1/workflows/nowhere/{route}"), 404, "not_found")
