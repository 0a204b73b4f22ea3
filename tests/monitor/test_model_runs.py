"""`GET /v1/workflows/{workflow}/model-runs` on real model calls (a local model server), on PostgreSQL and in the
embedded mode (SQLite): one row per `llm` step that ran, as its job's step record says (a step copied into a
run from a step is not counted again), the model that answered or, for a call that got no answer, the step's
model; a summary of them all with exact percentiles; filters by model, step and status; pages."""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import wait_for_job
from tests.jobs.conftest import deploy_workflow
from tests.llm.conftest import ModelServer, Reply
from tests.monitor.conftest import Backend
from tests.workflows.conftest import assert_problem

TWO_CALLS: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"topic": {"type": "string"}}},
    "model": {"provider": "openai", "name": "gpt-test"},
    "steps": [
        {"id": "prepare", "type": "transform", "output": "{{ inputs.topic }}"},
        {"id": "ask", "type": "llm", "prompt": "Tell me about {{ steps.prepare.output }}"},
        {
            "id": "summarize",
            "type": "llm",
            "prompt": "Summarize: {{ steps.ask.output }}",
            "model": {"name": "gpt-other"},
        },
    ],
}
TOPIC = "the-secret-otters"


async def run(client: Any, topic: str) -> dict[str, Any]:
    submitted = await client.post(
        "/v1/workflows/asking/versions/current/async", json={"inputs": {"topic": topic}, "cache": "never"}
    )
    assert submitted.status_code == 202, submitted.text
    job: dict[str, Any] = await wait_for_job(client, submitted.json()["id"], wait_s=20)
    return job


async def model_runs(backend: Backend, **query: Any) -> dict[str, Any]:
    response = await backend.client.get("/v1/workflows/asking/model-runs", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def seconds(step: dict[str, Any]) -> float:
    ended = datetime.fromisoformat(step["finished_at"]) - datetime.fromisoformat(step["started_at"])
    return round(ended.total_seconds(), 6)


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile by linear interpolation between the nearest ranks (what percentile_cont is), from the
    standard library."""
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[q - 1]


@pytest.fixture
async def calls(backend: Backend, model_server: ModelServer) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Four runs: two whose two calls answer (after various delays), one whose first call is refused (401: no
    answer, no retry; the second is never made), and one run from `summarize` of the first (which copies its
    `ask`). Their model calls, newest run first, as (job, step record)."""
    client = backend.client
    await deploy_workflow(client, "asking", TWO_CALLS)
    await backend.work()
    model_server.reply(Reply(delay_s=0.02), Reply(delay_s=0.15), Reply(delay_s=0.05), Reply(delay_s=0.09))
    first, second = await run(client, TOPIC), await run(client, "beavers")
    model_server.reply(Reply(status=401))
    refused = await run(client, "moles")
    again = await client.post(f"/v1/jobs/{first['id']}/run-from-step", json={"step": "summarize"})
    assert again.status_code == 201, again.text
    model_server.reply(Reply(delay_s=0.03))
    from_step = await wait_for_job(client, again.json()["id"], wait_s=20)
    assert [j["status"] for j in (first, second, refused, from_step)] == [
        "completed",
        "completed",
        "failed",
        "completed",
    ]

    def llm_steps(job: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        ran = [s for s in job["steps"] if s["type"] == "llm" and not (s["detail"] or {}).get("copied_from")]
        return [(job, step) for step in reversed(ran)]

    return [call for job in (from_step, refused, second, first) for call in llm_steps(job)]


async def test_one_row_per_model_call_with_a_summary(
    backend: Backend, calls: list[tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    assert [step["id"] for _, step in calls] == ["summarize", "ask", "summarize", "ask", "summarize", "ask"]
    body = await model_runs(backend)
    items = body["items"]
    assert [(i["job_id"], i["step"]) for i in items] == [(job["id"], step["id"]) for job, step in calls]
    for item, (job, step) in zip(items, calls, strict=True):
        assert item["version"] == job["version"]
        assert (item["status"], item["started_at"], item["finished_at"]) == (
            step["status"],
            step["started_at"],
            step["finished_at"],
        )
        assert item["response_time"] == seconds(step)
        assert (item["input_tokens"], item["output_tokens"], item["cost"], item["latency_ms"]) == (
            step["input_tokens"],
            step["output_tokens"],
            step["cost"],
            step["latency_ms"],
        )
        if step["status"] == "completed":
            assert item["model"] == step["model"]  # the model that answered
            assert item["request_id"] == step["detail"]["response"]["id"]  # the provider's id of its answer
            assert item["error_code"] is None
    refused = items[1]
    assert (refused["model"], refused["provider"], refused["request_id"]) == ("openai/gpt-test", "openai", None)
    assert refused["error_code"] == "llm_auth_error"
    assert [i["model"] for i in items if i["step"] == "summarize"] == ["openai/gpt-other-0613"] * 3
    assert {i["provider"] for i in items} == {"openai"}
    assert TOPIC not in (await backend.client.get("/v1/workflows/asking/model-runs")).text  # never the prompt

    durations = [seconds(step) for _, step in calls]
    summary = body["summary"]
    assert (summary["total"], summary["completed"], summary["failed"], summary["in_progress"]) == (6, 5, 1, 0)
    assert summary["failure_rate"] == pytest.approx(1 / 6)
    assert summary["response_time"] == {
        "p50": pytest.approx(percentile(durations, 50), abs=1e-6),
        "p90": pytest.approx(percentile(durations, 90), abs=1e-6),
        "p99": pytest.approx(percentile(durations, 99), abs=1e-6),
        "max": max(durations),
    }
    assert summary["input_tokens"] == sum(step["input_tokens"] or 0 for _, step in calls)
    assert summary["output_tokens"] == sum(step["output_tokens"] or 0 for _, step in calls)
    assert summary["cost"] == pytest.approx(sum(step["cost"] or 0 for _, step in calls), abs=1e-9)


async def test_filters_and_pages(backend: Backend, calls: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    def listed(body: dict[str, Any]) -> list[tuple[str, str]]:
        return [(i["job_id"], i["step"]) for i in body["items"]]

    def expected(keep: Any) -> list[tuple[str, str]]:
        return [(job["id"], step["id"]) for job, step in calls if keep(step)]

    # A step's model (configured) or the model that answered: the refused call answers to the first only.
    configured = await model_runs(backend, model="openai/gpt-test")
    assert listed(configured) == expected(lambda s: s["id"] == "ask")
    assert configured["summary"]["total"] == 3
    answered = await model_runs(backend, model="openai/gpt-test-0613")
    assert listed(answered) == expected(lambda s: s["id"] == "ask" and s["status"] == "completed")
    both = await model_runs(backend, model="openai/gpt-test-0613,openai/gpt-other")
    assert listed(both) == expected(lambda s: s["status"] == "completed")
    assert listed(await model_runs(backend, step="summarize")) == expected(lambda s: s["id"] == "summarize")
    failed = await model_runs(backend, status="failed")
    assert listed(failed) == expected(lambda s: s["status"] == "failed")
    assert (failed["summary"]["total"], failed["summary"]["failure_rate"]) == (1, 1.0)
    assert (await model_runs(backend, origin="schedule"))["items"] == []
    assert listed(await model_runs(backend, origin="run_from_step")) == [(calls[0][0]["id"], "summarize")]

    first = await model_runs(backend, limit=4)
    assert first["next_cursor"] is not None
    rest = await model_runs(backend, limit=4, cursor=first["next_cursor"])
    assert rest["next_cursor"] is None
    assert listed(first) + listed(rest) == expected(lambda s: True)
    assert rest["summary"] == first["summary"]  # of every call the query selects, on every page


async def test_a_bad_filter_is_named(backend: Backend) -> None:
    await deploy_workflow(backend.client, "asking", TWO_CALLS)
    for query, where, code in (
        ({"status": "skipped"}, "query:status", "invalid_input"),
        ({"model": "x" * 201}, "query:model", "invalid_input"),
        ({"cursor": "bm90IGEgY3Vyc29y"}, "query:cursor", "invalid_input"),
        ({"limit": 0}, "query:limit", "invalid_request"),
    ):
        body = assert_problem(await backend.client.get("/v1/workflows/asking/model-runs", params=query), 422, code)
        assert [e["path"] for e in body["errors"]] == [where], query
