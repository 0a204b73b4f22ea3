"""`GET /v1/workflows/{workflow}/runs` on real jobs, on PostgreSQL and in the embedded mode (SQLite): every run
newest first with its status, times, origin, source and the steps it ran itself (not skipped, not copied), in
pages whose cursor keeps the window; filtered by status, version, origin and window; never the inputs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.apikeys.conftest import issue_key
from tests.conftest import wait_for_job
from tests.jobs.conftest import deploy_workflow, submit
from tests.monitor.conftest import Backend, Run, at, store_runs, window

BRANCHING: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "steps": [
        {"id": "compose", "type": "transform", "output": {"text": "Hi {{ inputs.name }}"}},
        {"id": "check", "type": "condition", "if": "inputs.name != 'Zed'", "then": "greet", "else": "refuse"},
        {"id": "greet", "type": "transform", "output": "{{ steps.compose.output.text }}!"},
        {"id": "refuse", "type": "transform", "output": "{{ 1 // 0 }}"},
    ],
    "output": {"greeting": "{{ steps.greet.output }}"},
}
SECRET = "Ada-the-secret-input"


def seconds(later: str, earlier: str) -> float:
    return round((datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds(), 6)


async def runs(backend: Backend, **query: Any) -> dict[str, Any]:
    response = await backend.client.get("/v1/workflows/branching/runs", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_every_run_with_its_outcome_source_and_steps_executed(backend: Backend) -> None:
    client = backend.client
    await deploy_workflow(client, "branching", BRANCHING)
    key = await issue_key(client, "branching", "nightly import")
    await backend.work()
    by_operator = await wait_for_job(client, (await submit(client, "branching", {"name": SECRET}))["id"])
    async with backend.connect(key["key"]) as with_key:
        submitted = await with_key.post(
            "/v1/workflows/branching/versions/current/async", json={"inputs": {"name": "Zed"}}
        )
        assert submitted.status_code == 202, submitted.text
        by_key = await wait_for_job(client, submitted.json()["id"])
    again = await client.post(f"/v1/jobs/{by_operator['id']}/run-from-step", json={"step": "check"})
    assert again.status_code == 201, again.text
    from_step = await wait_for_job(client, again.json()["id"])
    assert (by_operator["status"], by_key["status"], from_step["status"]) == ("completed", "failed", "completed")

    body = await runs(backend)
    items = body["items"]
    assert [r["id"] for r in items] == [from_step["id"], by_key["id"], by_operator["id"]]  # newest first
    assert body["next_cursor"] is None
    for run, job in zip(items, (from_step, by_key, by_operator), strict=True):
        assert (run["status"], run["version"]) == (job["status"], job["version"])
        assert (run["created_at"], run["started_at"], run["finished_at"]) == (
            job["created_at"],
            job["started_at"],
            job["finished_at"],
        )
        assert run["response_time"] == seconds(job["finished_at"], job["created_at"])
        assert run["queue_wait"] == seconds(job["started_at"], job["created_at"])
        assert run["source"] == job["created_by"]
    # The operator's run: compose, check, greet ran, refuse was skipped. The key's: compose, check, refuse (which
    # failed), greet skipped. The run from `check` copied compose, ran check and greet; refuse skipped.
    assert [r["steps_executed"] for r in items] == [2, 3, 3]
    assert [r["origin"] for r in items] == ["run_from_step", "api", "api"]
    assert items[1]["source"] == {"kind": "key", "id": key["id"], "name": "nightly import"}
    assert items[2]["source"] == {"kind": "operator", "id": None, "name": "operator"}
    assert [r["error_code"] for r in items] == [None, by_key["error"]["code"], None]
    response = await client.get("/v1/workflows/branching/runs")
    assert SECRET not in response.text  # ids, times, outcomes: never the inputs
    shown = {"id", "status", "version", "origin", "source", "created_at", "started_at", "finished_at"}
    assert set(items[0]) == shown | {"response_time", "queue_wait", "steps_executed", "error_code"}

    assert [r["id"] for r in (await runs(backend, status="failed"))["items"]] == [by_key["id"]]
    assert [r["id"] for r in (await runs(backend, origin="run_from_step"))["items"]] == [from_step["id"]]
    assert (await runs(backend, status="in_progress"))["items"] == []
    assert (await runs(backend, version="2"))["items"] == []


async def test_pages_keep_their_window(backend: Backend) -> None:
    """Seven runs, in pages of three: the cursor carries the first page's window, so the next pages list the same
    runs whatever the clock says; runs outside the window, or of another status, are on no page."""
    await deploy_workflow(backend.client, "branching", BRANCHING)
    stored = [Run(at(minute), response_s=1, wait_s=0.5) for minute in range(7)]
    stored += [Run(at(3, 30), status="running", wait_s=1), Run(at(-1), response_s=1, wait_s=0.5)]
    ids = await store_runs(backend.engine, "branching", stored)
    newest_first = [str(i) for i in reversed(ids[:7])]

    first = await runs(backend, **window(at(0), at(10), limit=3, status="completed"))
    assert (first["from"], first["to"]) == ("2026-11-30T00:00:00Z", "2026-11-30T00:10:00Z")
    seen = [r["id"] for r in first["items"]]
    cursor = first["next_cursor"]
    while cursor is not None:
        page = await runs(backend, cursor=cursor, limit=3, status="completed")
        assert (page["from"], page["to"]) == (first["from"], first["to"])
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
    assert seen == newest_first
    assert [len(p) for p in (newest_first[:3], newest_first[3:6], newest_first[6:])] == [3, 3, 1]

    # `from` given with a cursor wins over the cursor's: the runs (of any status) from minute 3, after the cursor.
    narrower = await runs(backend, cursor=first["next_cursor"], limit=3, **{"from": at(3).isoformat()})
    assert (narrower["from"], narrower["to"]) == ("2026-11-30T00:03:00Z", first["to"])
    assert [r["id"] for r in narrower["items"]] == [str(ids[7]), newest_first[3]]
    last_minutes = await runs(backend, **window(at(5), at(10)))
    assert [r["id"] for r in last_minutes["items"]] == newest_first[:2]
    running = (await runs(backend, **window(at(0), at(10), status="in_progress")))["items"]
    assert [(r["id"], r["response_time"], r["queue_wait"]) for r in running] == [(str(ids[7]), None, 1.0)]


async def test_the_default_window_is_the_last_24_hours(backend: Backend) -> None:
    await deploy_workflow(backend.client, "branching", BRANCHING)
    now = datetime.now().astimezone()
    ids = await store_runs(
        backend.engine,
        "branching",
        [Run(now - timedelta(hours=23), response_s=1, wait_s=0.1), Run(now - timedelta(hours=25), response_s=1)],
    )
    body = await runs(backend)
    assert [r["id"] for r in body["items"]] == [str(ids[0])]
    assert datetime.fromisoformat(body["to"]) - datetime.fromisoformat(body["from"]) == timedelta(hours=24)
