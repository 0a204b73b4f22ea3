"""Result caching: identical requests are answered from an earlier job, at zero cost, without a model
call; `cache: auto | always | never`; the environment is part of the key; concurrent identical
requests compute once."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx

from tests.conftest import WorkerFactory, wait_for_job
from tests.jobs.conftest import deploy_workflow
from tests.llm.conftest import ModelServer, Reply
from tests.usage.conftest import run, start, submit


def definition(temperature: float = 0) -> dict[str, Any]:
    return {
        "input_schema": {"type": "object", "properties": {"topic": {"type": "string"}}},
        "model": {"provider": "openai", "name": "gpt-test", "temperature": temperature},
        "steps": [
            {"id": "ask", "type": "llm", "system": "Key {{ env.TOKEN }}", "prompt": "Tell me about {{ inputs.topic }}"},
            {"id": "shape", "type": "transform", "output": {"answer": "{{ steps.ask.output }}"}},
        ],
    }  # fmt: skip


async def deploy(client: httpx.AsyncClient, slug: str, temperature: float = 0) -> None:
    await deploy_workflow(client, slug, definition(temperature))
    put = await client.put(f"/v1/workflows/{slug}/env/TOKEN", json={"value": "first-secret", "secure": True})
    assert put.status_code == 201, put.text


async def test_an_identical_temperature_0_request_is_answered_from_the_cache(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy(client, "cached")
    await start(start_worker, model_server)
    first = await run(client, "cached", inputs={"topic": "otters"})
    assert first["status"] == "completed", first["error"]
    assert first["cache_hit"] is False
    assert first["usage"]["cost"] > 0

    response = await submit(client, "cached", "sync", inputs={"topic": "otters"})

    assert response.status_code == 200, response.text  # sync: answered at once, no worker needed
    hit = response.json()
    assert len(model_server.calls) == 1  # no model call
    assert hit["id"] != first["id"]
    assert (hit["status"], hit["output"]) == ("completed", first["output"])
    assert hit["cache_hit"] is True
    assert hit["source"] == {"job_id": first["id"], "kind": "cache", "from_step": None}
    assert hit["usage"] == {"input_tokens": 0, "output_tokens": 0, "cost": 0.0}
    assert [s["id"] for s in hit["steps"]] == ["ask", "shape"]
    assert [s["output"] for s in hit["steps"]] == [s["output"] for s in first["steps"]]
    assert hit["steps"][0]["cost"] == 0.0
    assert hit["steps"][0]["detail"]["cached_from"] == first["id"]
    events = (await client.get(f"/v1/jobs/{hit['id']}/events")).json()["items"]
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        (None, "pending"), ("pending", "claimed"), ("claimed", "running"), ("running", "validating"),
        ("validating", "uploading"), ("uploading", "completed"),
    ]  # fmt: skip
    assert {e["actor"] for e in events[1:]} == {"cache"}
    # A different input is a different request.
    other = await run(client, "cached", inputs={"topic": "badgers"})
    assert other["cache_hit"] is False
    assert len(model_server.calls) == 2


async def test_auto_does_not_cache_above_temperature_0_but_always_does(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy(client, "warm", temperature=0.7)
    await start(start_worker, model_server)

    auto = [await run(client, "warm", inputs={"topic": "otters"}) for _ in range(2)]
    assert [(j["status"], j["cache_hit"]) for j in auto] == [("completed", False)] * 2
    assert len(model_server.calls) == 2

    always = [await run(client, "warm", inputs={"topic": "otters"}, cache="always") for _ in range(2)]
    assert [j["cache_hit"] for j in always] == [False, True]
    assert always[1]["source"]["job_id"] == always[0]["id"]
    assert len(model_server.calls) == 3


async def test_never_computes_and_is_never_a_source(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy(client, "cached")
    await start(start_worker, model_server)

    never = [await run(client, "cached", inputs={"topic": "otters"}, cache="never") for _ in range(2)]
    auto = await run(client, "cached", inputs={"topic": "otters"})

    assert [(j["status"], j["cache_hit"]) for j in [*never, auto]] == [("completed", False)] * 3
    assert len(model_server.calls) == 3
    again = await run(client, "cached", inputs={"topic": "otters"}, cache="never")
    assert again["cache_hit"] is False
    assert len(model_server.calls) == 4


async def test_another_environment_value_is_another_key(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy(client, "cached")
    await start(start_worker, model_server)

    first = await run(client, "cached", inputs={"topic": "otters"})
    same = await run(client, "cached", inputs={"topic": "otters"})
    await client.put("/v1/workflows/cached/env/TOKEN", json={"value": "second-secret", "secure": True})
    changed = await run(client, "cached", inputs={"topic": "otters"})

    assert [(j["status"], j["cache_hit"]) for j in (first, same, changed)] == [
        ("completed", False), ("completed", True), ("completed", False)]  # fmt: skip
    assert len(model_server.calls) == 2
    assert model_server.calls[1].body["messages"][0]["content"] == "Key second-secret"
    assert "second-secret" not in str(changed)  # the secure value is redacted, and never part of a response


async def test_ten_concurrent_identical_requests_call_the_model_once(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy(client, "cached")
    await start(start_worker, model_server)
    model_server.reply(Reply(text="the one answer", delay_s=0.5))

    responses = await asyncio.gather(*(submit(client, "cached", inputs={"topic": "otters"}) for _ in range(10)))

    assert all(r.status_code == 202 for r in responses), [r.text for r in responses]
    jobs = [await wait_for_job(client, r.json()["id"], wait_s=20) for r in responses]
    assert len(model_server.calls) == 1
    assert [j["status"] for j in jobs] == ["completed"] * 10
    assert {str(j["output"]) for j in jobs} == {str({"answer": "the one answer"})}
    [computed] = [j for j in jobs if not j["cache_hit"]]
    hits = [j for j in jobs if j["cache_hit"]]
    assert len(hits) == 9
    assert {j["source"]["job_id"] for j in hits} == {computed["id"]}
    assert all(j["usage"]["cost"] == 0.0 for j in hits)
    assert computed["usage"]["cost"] > 0
    # Some were submitted while it was still computing: they waited for it rather than calling the model.
    finished = datetime.fromisoformat(computed["finished_at"])
    assert any(datetime.fromisoformat(j["created_at"]) < finished for j in hits)
