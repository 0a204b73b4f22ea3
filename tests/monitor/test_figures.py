"""`GET /v1/workflows/{workflow}/monitor` on runs of known times, on PostgreSQL and in the embedded mode
(SQLite): the exact percentiles (percentile_cont: linear interpolation), worked out by hand below, the counts,
the failure rate, the buckets of the series and the filters; and both databases answer word for word alike."""

from __future__ import annotations

from typing import Any

from tests.jobs.conftest import GREETER, deploy_workflow
from tests.monitor.conftest import BASE, Backend, Run, at, store_runs, window

END = at(60)


def scenario() -> list[Run]:
    """In the hour from BASE, in 15-minute buckets:
    - 100 completed runs of version 1 from the API, run i (1..100) submitted at (i - 1) * 20 s, waiting i / 10 s
      and answering in i s: runs 1-45 in bucket 0, 46-90 in bucket 1, 91-100 in bucket 2;
    - bucket 2 also holds 4 runs not ended (3 running, started after 2 s; 1 new);
    - bucket 3: 20 failed runs of version 2 from a schedule (waited 1 s, ended after 200 s) and 5 runs from a
      trigger canceled before they started (after 3 s);
    - outside the window: one submitted a second before it, one at its end (the end is excluded)."""
    runs = [Run(at(0, (i - 1) * 20), response_s=i, wait_s=i / 10) for i in range(1, 101)]
    runs += [Run(at(40, k), status="running", wait_s=2) for k in range(3)] + [Run(at(41), status="new")]
    failed = [Run(at(45, k * 30), "failed", 200, 1, version=2, origin="schedule", error_code="boom") for k in range(20)]
    canceled = [Run(at(50, k), "canceled", 3, None, version=2, origin="trigger") for k in range(5)]
    return [*runs, *failed, *canceled, Run(at(0, -1), response_s=7, wait_s=1), Run(END, response_s=7, wait_s=1)]


async def prepared(backend: Backend) -> None:
    await deploy_workflow(backend.client, "watched", GREETER)
    assert (await backend.client.post("/v1/workflows/watched/deploy")).status_code == 201  # version 2
    await deploy_workflow(backend.client, "elsewhere", GREETER)
    await store_runs(backend.engine, "watched", scenario())
    await store_runs(backend.engine, "elsewhere", [Run(at(1), response_s=1000, wait_s=500)])


async def monitor(backend: Backend, **query: Any) -> dict[str, Any]:
    response = await backend.client.get("/v1/workflows/watched/monitor", params=window(BASE, END, **query))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def figures(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("start", "end")}


def ended_only(**counts: Any) -> dict[str, Any]:
    return {"completed": 0, "canceled": 0, "failed": 0, "in_progress": 0, **counts}


async def test_the_figures_of_the_window_and_of_each_bucket(backend: Backend) -> None:
    await prepared(backend)
    body = await monitor(backend, bucket="15m")

    assert (body["from"], body["to"], body["bucket_s"]) == ("2026-11-30T00:00:00Z", "2026-11-30T01:00:00Z", 900)
    assert body["workflow"]["slug"] == "watched"
    # Ended: 125 runs. Their response times sorted: 1, 2, six of 3 (run 3 and the 5 canceled), 4 ... 100, then
    # 200 twenty times: index k + 4 holds k for k >= 4. p50: position 0.5 * 124 = 62 -> 58. p90: 111.6, both
    # neighbours 200. Queue waits of the 120 that started: 0.1 ... 0.9, twenty-one 1.0 (run 10 and the failed),
    # then 1.1 + (j - 30) * 0.1 at index j: p50 at 59.5 -> 4.0 + (4.1 - 4.0) * 0.5 = 4.05; p90 at 107.1 ->
    # 8.8 + 0.1 * 0.1 = 8.81. The running runs' waits (2 s) do not count: they have not ended.
    assert body["summary"] == {
        "total": 129,
        "completed": 100,
        "failed": 20,
        "canceled": 5,
        "in_progress": 4,
        "failure_rate": 0.16,  # 20 of the 125 that ended
        "response_time": {"p50": 58.0, "p90": 200.0, "p99": 200.0, "max": 200.0},
        "queue_wait": {"p50": 4.05, "p90": 8.81, "max": 10.0},
    }
    series = body["series"]
    assert [(p["start"], p["end"]) for p in series] == [
        ("2026-11-30T00:00:00Z", "2026-11-30T00:15:00Z"),
        ("2026-11-30T00:15:00Z", "2026-11-30T00:30:00Z"),
        ("2026-11-30T00:30:00Z", "2026-11-30T00:45:00Z"),
        ("2026-11-30T00:45:00Z", "2026-11-30T01:00:00Z"),
    ]
    # Bucket 0: responses 1..45: p50 at 22 -> 23; p90 at 39.6 -> 40.6; p99 at 43.56 -> 44.56. Waits 0.1..4.5:
    # p50 at 22 -> 2.3; p90 at 39.6 -> 4.0 + 0.1 * 0.6 = 4.06.
    assert figures(series[0]) == {
        **ended_only(total=45, completed=45),
        "failure_rate": 0.0,
        "response_time": {"p50": 23.0, "p90": 40.6, "p99": 44.56, "max": 45.0},
        "queue_wait": {"p50": 2.3, "p90": 4.06, "max": 4.5},
    }
    # Bucket 1: responses 46..90: 46 + 22 = 68; 46 + 39.6 = 85.6; 46 + 43.56 = 89.56. Waits 4.6..9.0.
    assert figures(series[1]) == {
        **ended_only(total=45, completed=45),
        "failure_rate": 0.0,
        "response_time": {"p50": 68.0, "p90": 85.6, "p99": 89.56, "max": 90.0},
        "queue_wait": {"p50": 6.8, "p90": 8.56, "max": 9.0},
    }
    # Bucket 2: responses 91..100 (the 4 not ended leave the percentiles alone): p50 at 4.5 -> 95.5; p90 at
    # 8.1 -> 99.1; p99 at 8.91 -> 99.91. Waits 9.1..10.0: 9.55, 9.91.
    assert figures(series[2]) == {
        **ended_only(total=14, completed=10, in_progress=4),
        "failure_rate": 0.0,
        "response_time": {"p50": 95.5, "p90": 99.1, "p99": 99.91, "max": 100.0},
        "queue_wait": {"p50": 9.55, "p90": 9.91, "max": 10.0},
    }
    # Bucket 3: five 3 s, twenty 200 s: p50 at 12 -> 200. Only the failed started: waits all 1 s.
    assert figures(series[3]) == {
        **ended_only(total=25, failed=20, canceled=5),
        "failure_rate": 0.8,
        "response_time": {"p50": 200.0, "p90": 200.0, "p99": 200.0, "max": 200.0},
        "queue_wait": {"p50": 1.0, "p90": 1.0, "max": 1.0},
    }


async def test_one_to_a_hundred_seconds(backend: Backend) -> None:
    """Version 1 from the API: the 100 completed runs, durations 1..100 s, and the 4 not ended, which count but
    leave the percentiles alone. p50 at 49.5 -> 50.5; p90 at 89.1 -> 90 + (91 - 90) * 0.1 = 90.1; p99 at
    98.01 -> 99.01. Waits 0.1..10: 5.05 and 9.01."""
    await prepared(backend)
    body = await monitor(backend, version="1", origin="api", bucket="1h")
    expected = {
        **ended_only(total=104, completed=100, in_progress=4),
        "failure_rate": 0.0,
        "response_time": {"p50": 50.5, "p90": 90.1, "p99": 99.01, "max": 100.0},
        "queue_wait": {"p50": 5.05, "p90": 9.01, "max": 10.0},
    }
    assert body["summary"] == expected
    [point] = body["series"]
    assert figures(point) == expected


async def test_filters_by_version_origin_and_window(backend: Backend) -> None:
    await prepared(backend)
    by_version = (await monitor(backend, version="2"))["summary"]
    assert (by_version["total"], by_version["failed"], by_version["canceled"]) == (25, 20, 5)
    by_current = (await monitor(backend, version="current"))["summary"]
    assert by_current == by_version
    both = (await monitor(backend, version=["1", "2"]))["summary"]
    assert both["total"] == 129
    schedule = (await monitor(backend, origin="schedule"))["summary"]
    assert (schedule["total"], schedule["failure_rate"]) == (20, 1.0)
    assert (await monitor(backend, origin="schedule,trigger"))["summary"]["total"] == 25
    assert (await monitor(backend, origin="rerun"))["summary"] == {
        **ended_only(total=0),
        "failure_rate": None,
        "response_time": {"p50": None, "p90": None, "p99": None, "max": None},
        "queue_wait": {"p50": None, "p90": None, "max": None},
    }
    # The first ten minutes: runs 1..30 (submitted at 0..580 s).
    early = await backend.client.get("/v1/workflows/watched/monitor", params=window(BASE, at(10)))
    summary = early.json()["summary"]
    assert (summary["total"], summary["response_time"]["max"]) == (30, 30.0)
    assert early.json()["bucket_s"] == 60  # ten minutes in 1-minute buckets
    assert len(early.json()["series"]) == 10


async def test_the_defaults_are_the_last_24_hours_in_quarter_hours(backend: Backend) -> None:
    await deploy_workflow(backend.client, "watched", GREETER)
    response = await backend.client.get("/v1/workflows/watched/monitor")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["bucket_s"] == 900
    assert len(body["series"]) in (96, 97)  # 97 when now is not on a quarter hour
    assert body["summary"]["total"] == 0
    assert body["series"][0]["start"] == body["from"]
    assert body["series"][-1]["end"] == body["to"]


async def test_durations_of_days_agree_on_both_databases(backend: Backend) -> None:
    """Responses of 1.25 s, 1 day 0.5 s and 2 days 1 µs. p50 = 86400.5; p90 at 1.8: 86400.5 + 86399.500001 * 0.8
    = 155520.1000008; p99 at 1.98: 86400.5 + 86399.500001 * 0.98 = 171072.01000098; shown to the microsecond."""
    await deploy_workflow(backend.client, "watched", GREETER)
    day = 86400
    await store_runs(
        backend.engine,
        "watched",
        [Run(at(1), response_s=1.25), Run(at(2), response_s=day + 0.5), Run(at(3), response_s=2 * day + 0.000001)],
    )
    body = await monitor(backend, bucket="1h")
    assert body["summary"]["response_time"] == {
        "p50": 86400.5,
        "p90": 155520.100001,
        "p99": 171072.010001,
        "max": 172800.000001,
    }
    assert body["summary"]["queue_wait"] == {"p50": None, "p90": None, "max": None}  # none started
