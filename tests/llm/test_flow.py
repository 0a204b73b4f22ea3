"""Step dependencies and control flow through a real worker: `needs` and concurrency, `when`,
`retry`, `on_error`, and the `condition` step."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import WorkerFactory, wait_for_job
from tests.jobs.conftest import deploy_workflow
from tests.llm.conftest import ModelServer, Reply
from tests.servers import EchoServer

MODEL = {"provider": "openai", "name": "gpt-test", "temperature": 0}


async def worker(start_worker: WorkerFactory, server: ModelServer) -> None:
    await start_worker(openai_base_url=f"{server.url}/v1", openai_api_key=SecretStr("k"), llm_backoff_s=0.01)


async def run(client: httpx.AsyncClient, slug: str, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    submitted = await client.post(f"/v1/workflows/{slug}/versions/current/async", json={"inputs": inputs or {}})
    assert submitted.status_code == 202, submitted.text
    return await wait_for_job(client, submitted.json()["id"], wait_s=20)


def statuses(job: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["status"] for s in job["steps"]}


async def test_independent_llm_steps_run_concurrently(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    definition = {
        "model": MODEL,
        "steps": [
            {"id": "a", "type": "llm", "prompt": "one", "needs": []},
            {"id": "b", "type": "llm", "prompt": "two", "needs": []},
            {"id": "c", "type": "llm", "prompt": "three", "needs": []},
            {"id": "join", "type": "transform", "needs": ["a", "b", "c"],
             "output": ["{{ steps.a.output }}", "{{ steps.b.output }}", "{{ steps.c.output }}"]},
        ],
    }  # fmt: skip
    await deploy_workflow(client, "fanout", definition)
    await worker(start_worker, model_server)
    model_server.reply(Reply(delay_s=1.0), Reply(delay_s=1.0), Reply(delay_s=1.0))

    job = await run(client, "fanout")

    assert job["status"] == "completed", job["error"]
    assert job["output"] == ["echo: one", "echo: two", "echo: three"]
    assert job["duration"] < 2.0  # three 1 s calls one after another would take 3 s
    starts = sorted(call.at for call in model_server.calls)
    assert starts[-1] - starts[0] < 0.3  # all three were asked at once


async def test_when_skips_a_step_and_steps_needing_only_skipped_steps(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    definition = {
        "steps": [
            {"id": "start", "type": "transform", "output": "{{ inputs.n }}"},
            {"id": "big", "type": "transform", "when": "inputs.n > 5", "output": "big"},
            {"id": "after_big", "type": "transform", "output": "{{ steps.big.output }} again"},
            {"id": "last", "type": "transform", "needs": ["start"], "output": "done"},
        ]
    }
    await deploy_workflow(client, "when", definition)
    await worker(start_worker, model_server)

    small, large = await run(client, "when", {"n": 1}), await run(client, "when", {"n": 9})

    assert statuses(small) == {"start": "completed", "big": "skipped", "after_big": "skipped", "last": "completed"}
    assert small["status"] == "completed"
    assert statuses(large) == dict.fromkeys(["start", "big", "after_big", "last"], "completed")
    assert [s["output"] for s in large["steps"]][1:3] == ["big", "big again"]


async def test_retry_tries_a_failing_step_again(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    definition = {"model": MODEL, "steps": [
        {"id": "ask", "type": "llm", "prompt": "hi", "retry": {"max_attempts": 3, "backoff_s": 0.01}}]}  # fmt: skip
    await deploy_workflow(client, "retry", definition)
    await worker(start_worker, model_server)
    model_server.reply(Reply(status=400), Reply(status=400))  # not retried by the provider, but by `retry`

    job = await run(client, "retry")

    assert job["status"] == "completed", job["error"]
    assert len(model_server.calls) == 3
    assert job["steps"][0]["detail"]["tries"] == 3


@pytest.mark.parametrize(
    ("policy", "seen"), [("continue", None), ({"default": {"fallback": True}}, {"fallback": True})]
)
async def test_on_error_continues_with_null_or_a_default(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer, echo_server: EchoServer,
    policy: Any, seen: Any,
) -> None:  # fmt: skip
    definition = {"steps": [
        {"id": "fetch", "type": "http", "url": f"{echo_server.url}/status/404", "on_error": policy},
        {"id": "use", "type": "transform", "output": {"got": "{{ steps.fetch.output }}",
                                                       "status": "{{ steps.fetch.status }}"}},
    ]}  # fmt: skip
    await deploy_workflow(client, "tolerant", definition)
    await worker(start_worker, model_server)

    job = await run(client, "tolerant")

    assert job["status"] == "completed", job["error"]
    assert job["output"] == {"got": seen, "status": "failed"}
    assert job["steps"][0]["status"] == "failed"
    assert job["steps"][0]["error"]["code"] == "http_status"


async def test_a_failing_step_stops_its_running_siblings(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer, echo_server: EchoServer
) -> None:
    definition = {"steps": [
        {"id": "slow", "type": "http", "url": f"{echo_server.url}/slow/5", "needs": []},
        {"id": "broken", "type": "http", "url": f"{echo_server.url}/status/500", "needs": []},
        {"id": "after", "type": "transform", "needs": ["slow", "broken"], "output": 1},
    ]}  # fmt: skip
    await deploy_workflow(client, "failfast", definition)
    await worker(start_worker, model_server)
    started = time.monotonic()

    job = await run(client, "failfast")

    assert job["status"] == "failed"
    assert job["error"]["step"] == "broken"
    assert time.monotonic() - started < 4  # did not wait for the 5 s sibling
    assert "after" not in statuses(job)


async def test_condition_runs_one_branch_and_skips_the_other(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    definition = {
        "steps": [
            {"id": "check", "type": "condition", "if": "inputs.score >= 5", "then": "pass_", "else": "fail_"},
            {"id": "pass_", "type": "transform", "output": "passed"},
            {"id": "fail_", "type": "transform", "output": "failed"},
            {"id": "report", "type": "transform", "needs": ["pass_", "fail_"],
             "output": "{{ steps.pass_.output or steps.fail_.output }}"},
        ]
    }  # fmt: skip
    await deploy_workflow(client, "gate", definition)
    await worker(start_worker, model_server)

    high, low = await run(client, "gate", {"score": 7}), await run(client, "gate", {"score": 2})

    assert (high["status"], high["output"]) == ("completed", "passed")
    assert statuses(high) == {"check": "completed", "pass_": "completed", "fail_": "skipped", "report": "completed"}
    assert high["steps"][0]["output"] == {"result": True, "next": "pass_"}
    assert (low["status"], low["output"]) == ("completed", "failed")
    assert statuses(low)["pass_"] == "skipped"


async def test_condition_end_skips_the_rest(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    definition = {"steps": [
        {"id": "gate", "type": "condition", "if": "inputs.go", "then": "work"},
        {"id": "work", "type": "transform", "output": "worked"},
        {"id": "more", "type": "transform", "output": "more"},
    ], "output": {"work": "{{ steps.work.status }}"}}  # fmt: skip
    await deploy_workflow(client, "ender", definition)
    await worker(start_worker, model_server)

    stopped = await run(client, "ender", {"go": False})

    assert stopped["status"] == "completed"
    assert statuses(stopped) == {"gate": "completed", "work": "skipped", "more": "skipped"}
    assert stopped["output"] == {"work": "skipped"}


async def test_flow_definitions_are_validated_with_paths(client: httpx.AsyncClient) -> None:
    definition = {"steps": [
        {"id": "a", "type": "transform", "output": 1, "needs": ["b"]},
        {"id": "b", "type": "condition", "if": "true", "then": "a"},
        {"id": "c", "type": "transform", "needs": [], "output": "{{ steps.a.output }}"},
        {"id": "d", "type": "transform", "when": "inputs.x >", "output": 1},
    ]}  # fmt: skip
    created = await client.post("/v1/workflows", json={"name": "broken flow", "definition": definition})
    problems = {p["path"]: p["message"] for p in created.json()["draft_problems"]}
    assert problems["$.steps[0].needs[0]"] == (
        "dependency cycle: a -> b -> a (each step waits for the next, so none can start)"
    )
    assert problems["$.steps[1].then"] == "'a' is not a later step (or `end`)"
    assert "not among the steps it waits for" in problems["$.steps[2].output"]
    assert problems["$.steps[3].when"].startswith("template syntax error")
