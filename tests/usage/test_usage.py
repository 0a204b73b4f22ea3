"""Token usage and cost per step and per job, from the provider's reported usage and WFS_PRICING."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import WorkerFactory
from tests.jobs.conftest import deploy_workflow
from tests.llm.conftest import ModelServer
from tests.usage.conftest import PRICING, run, start
from workflow_service.config import Price
from workflow_service.jobs import usage

TWO_MODELS: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"topic": {"type": "string"}}},
    "steps": [
        {"id": "ask", "type": "llm", "prompt": "Tell me about {{ inputs.topic }}",
         "model": {"provider": "openai", "name": "gpt-test", "temperature": 0}},
        {"id": "shape", "type": "transform", "output": {"said": "{{ steps.ask.output }}"}},
        {"id": "sum", "type": "llm", "prompt": "Summarise {{ steps.shape.output.said }}",
         "model": {"provider": "anthropic", "name": "claude-test", "temperature": 0}},
    ],
}  # fmt: skip


def expected_cost(step: dict[str, Any], price: dict[str, float]) -> float:
    tokens_in: int = step["input_tokens"]
    tokens_out: int = step["output_tokens"]
    return tokens_in / 1000 * price["input_per_1k"] + tokens_out / 1000 * price["output_per_1k"]


async def test_each_model_call_is_priced_and_the_job_sums_its_steps(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy_workflow(client, "two", TWO_MODELS)
    await start(start_worker, model_server)

    job = await run(client, "two", inputs={"topic": "otters"})

    assert job["status"] == "completed", job["error"]
    ask, shape, summary = job["steps"]
    # The model server reports prompt words + 3 input tokens and answer words output tokens.
    assert (ask["model"], ask["input_tokens"], ask["output_tokens"]) == ("openai/gpt-test-0613", 7, 5)
    assert (summary["model"], summary["input_tokens"], summary["output_tokens"]) == ("anthropic/claude-test", 9, 7)
    # Priced by the requested name when the answering model has no entry; by bare name for the other.
    assert ask["cost"] == pytest.approx(7 / 1000 * 2.0 + 5 / 1000 * 8.0)  # 0.054
    assert ask["cost"] == pytest.approx(expected_cost(ask, PRICING["openai/gpt-test"]))
    assert summary["cost"] == pytest.approx(9 / 1000 * 1.0 + 7 / 1000 * 5.0)  # 0.044
    assert shape["cost"] is None
    assert shape["input_tokens"] is None
    assert job["usage"]["input_tokens"] == 16
    assert job["usage"]["output_tokens"] == 12
    assert job["usage"]["cost"] == pytest.approx(ask["cost"] + summary["cost"])
    assert job["usage"]["cost"] == pytest.approx(0.098)
    listed = (await client.get("/v1/jobs", params={"workflow": "two"})).json()["items"]
    assert listed[0]["usage"] == job["usage"]


async def test_a_model_without_a_price_has_cost_null_and_so_has_the_job(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    definition = {**TWO_MODELS, "steps": [
        TWO_MODELS["steps"][0], {**TWO_MODELS["steps"][2], "prompt": "Again: {{ steps.ask.output }}",
                                 "model": {"provider": "openai", "name": "mystery", "temperature": 0}}]}  # fmt: skip
    await deploy_workflow(client, "unpriced", definition)
    await start(start_worker, model_server)

    job = await run(client, "unpriced", inputs={"topic": "otters"})

    assert job["status"] == "completed", job["error"]
    priced, unpriced = job["steps"]
    assert priced["cost"] == pytest.approx(0.054)
    assert unpriced["model"] == "openai/mystery-0613"
    assert unpriced["input_tokens"] is not None
    assert unpriced["cost"] is None
    assert job["usage"] == {
        "input_tokens": priced["input_tokens"] + unpriced["input_tokens"],
        "output_tokens": priced["output_tokens"] + unpriced["output_tokens"],
        "cost": None,  # one model call has no price: the total is unknown, not an undercount
    }


async def test_a_job_without_model_calls_has_no_usage(client: httpx.AsyncClient, start_worker: WorkerFactory) -> None:
    await deploy_workflow(client, "plain", {"steps": [{"id": "s", "type": "transform", "output": "x"}]})
    await start_worker()

    job = await run(client, "plain")

    assert job["status"] == "completed"
    assert job["usage"] == {"input_tokens": None, "output_tokens": None, "cost": None}
    assert job["steps"][0]["cost"] is None


def test_prices_are_found_by_answered_then_requested_name_then_the_fallback() -> None:
    table = {
        "openai/gpt-4o": Price(input_per_1k=1, output_per_1k=2),
        "gpt-4o-mini": Price(input_per_1k=3, output_per_1k=4),
        "*": Price(input_per_1k=0.5, output_per_1k=0.5),
    }
    assert usage.price_for(table, usage.model_names("openai/gpt-4o-2024-08-06", "gpt-4o")) == table["openai/gpt-4o"]
    assert usage.price_for(table, usage.model_names("azure/gpt-4o-mini")) == table["gpt-4o-mini"]
    assert usage.price_for(table, usage.model_names("anthropic/claude")) == table["*"]
    assert usage.price_for({}, usage.model_names("anthropic/claude")) is None
    assert usage.cost_of(table["openai/gpt-4o"], 1500, 500) == pytest.approx(1.5 * 1 + 0.5 * 2)
    assert usage.cost_of(table["openai/gpt-4o"], None, None) is None
