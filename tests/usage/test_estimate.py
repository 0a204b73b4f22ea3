"""`POST …/versions/{version}/estimate`: tokens and credits per llm step before running, from the
rendered prompts, the step's max_tokens or default, or the version's history."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import httpx
import pytest

from tests.apikeys.conftest import issue_key
from tests.conftest import WorkerFactory
from tests.jobs.conftest import deploy_workflow
from tests.llm.conftest import ModelServer
from tests.usage.conftest import run, start
from workflow_service.jobs.estimate import DEFAULT_OUTPUT_TOKENS

MODEL = {"provider": "openai", "name": "gpt-test", "temperature": 0}
DEFINITION: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"]},
    "variables": {"tone": "terse"},
    "model": MODEL,
    "steps": [
        {"id": "ask", "type": "llm", "system": "You are {{ vars.tone }}.", "prompt": "Tell me about {{ inputs.topic }}",
         "model": {"max_tokens": 40}},
        {"id": "sum", "type": "llm", "prompt": "Summarise {{ steps.ask.output }}"},
    ],
}  # fmt: skip


def tokens(*messages: str) -> int:
    """The documented heuristic: ceil(characters / 4) + 4 per message, + 3 for the reply."""
    return sum(math.ceil(len(m) / 4) + 4 for m in messages) + 3


async def estimate(client: httpx.AsyncClient, slug: str, **body: Any) -> httpx.Response:
    return await client.post(f"/v1/workflows/{slug}/versions/current/estimate", json=body)


async def test_an_estimate_counts_the_rendered_prompts_and_prices_max_tokens_or_the_default(
    client: httpx.AsyncClient,
) -> None:
    await deploy_workflow(client, "est", DEFINITION)

    response = await estimate(client, "est", inputs={"topic": "otters"}, variables={"tone": "brief"})

    assert response.status_code == 200, response.text
    body = response.json()
    ask, summary = body["steps"]
    assert ask == {
        "id": "ask", "model": "openai/gpt-test", "input_tokens": tokens("You are brief.", "Tell me about otters"),
        "output_tokens": 40, "credits": pytest.approx(tokens("You are brief.", "Tell me about otters") / 1000 * 2.0
                                                      + 40 / 1000 * 8.0),
        "basis": "max_tokens", "approximate": False,
    }  # fmt: skip
    # The earlier step's output is unknown before running: rendered empty, and said so.
    assert summary["input_tokens"] == tokens("Summarise ")
    assert (summary["output_tokens"], summary["basis"], summary["approximate"]) == (
        DEFAULT_OUTPUT_TOKENS, "default", True)  # fmt: skip
    assert body["input_tokens"] == ask["input_tokens"] + summary["input_tokens"]
    assert body["output_tokens"] == 40 + DEFAULT_OUTPUT_TOKENS
    assert body["credits"] == pytest.approx(ask["credits"] + summary["credits"])


async def test_after_jobs_have_run_the_output_estimate_is_their_mean(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy_workflow(client, "est", DEFINITION)
    await start(start_worker, model_server)
    first = await run(client, "est", inputs={"topic": "otters"})
    second = await run(client, "est", inputs={"topic": "sea otters in kelp"})
    assert (first["status"], second["status"]) == ("completed", "completed")

    body = (await estimate(client, "est", inputs={"topic": "badgers"})).json()

    for i, step in enumerate(body["steps"]):
        recorded = [first["steps"][i]["output_tokens"], second["steps"][i]["output_tokens"]]
        assert step["basis"] == "history"
        assert step["output_tokens"] == math.ceil(sum(recorded) / 2)
    assert len(model_server.calls) == 4  # estimating calls no model


async def test_an_unpriced_model_has_credits_null(client: httpx.AsyncClient) -> None:
    definition = {**DEFINITION, "model": {**MODEL, "name": "mystery"}}
    await deploy_workflow(client, "unpriced", definition)

    body = (await estimate(client, "unpriced", inputs={"topic": "otters"})).json()

    assert [s["credits"] for s in body["steps"]] == [None, None]
    assert body["credits"] is None
    assert body["input_tokens"] > 0


async def test_inputs_are_validated_like_a_submission(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "est", DEFINITION)

    wrong = await estimate(client, "est", inputs={"topic": 5}, variables={"colour": "red"})
    missing = await estimate(client, "est", inputs={})

    assert wrong.status_code == 422
    assert wrong.headers["content-type"] == "application/problem+json"
    assert {e["path"] for e in wrong.json()["errors"]} == {"$.inputs.topic", "$.variables.colour"}
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["path"] == "$.inputs.topic"
    assert (await estimate(client, "nope", inputs={})).status_code == 404


async def test_a_workflow_key_may_estimate_its_workflow_only(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "est", DEFINITION)
    await deploy_workflow(client, "other", DEFINITION)
    key = (await issue_key(client, "est"))["key"]
    other_key = (await issue_key(client, "other"))["key"]
    body = {"inputs": {"topic": "otters"}}

    own = await client.post("/v1/workflows/est/versions/1/estimate", json=body,
                            headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    foreign = await client.post("/v1/workflows/est/versions/1/estimate", json=body,
                                headers={"Authorization": f"Bearer {other_key}"})  # fmt: skip
    anonymous = await client.post("/v1/workflows/est/versions/1/estimate", json=body, headers={"Authorization": ""})

    assert own.status_code == 200, own.text
    assert foreign.status_code == 403
    assert anonymous.status_code == 401


async def test_a_runaway_prompt_is_a_422_and_the_api_keeps_answering(client: httpx.AsyncClient) -> None:
    loops = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    definition = {**DEFINITION, "steps": [{"id": "ask", "type": "llm", "prompt": loops + "{{ inputs.topic }}"}]}
    await deploy_workflow(client, "runaway", definition)

    pending = asyncio.create_task(estimate(client, "runaway", inputs={"topic": "x"}))
    started = time.monotonic()
    while not pending.done():  # the event loop keeps serving while the render runs in a template thread
        assert (await client.get("/healthz")).status_code == 200
        await asyncio.sleep(0.05)
    response = await pending

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["path"] == "$.steps[0].prompt"
    assert "limit" in response.json()["errors"][0]["message"]
    assert time.monotonic() - started < 30
