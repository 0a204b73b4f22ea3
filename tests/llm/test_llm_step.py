"""The `llm` step against a real local model server: requests, records, JSON mode, errors and retries."""

from __future__ import annotations

import time
from typing import Any

import httpx
from pydantic import SecretStr

from tests.conftest import WorkerFactory, wait_for_job
from tests.jobs.conftest import deploy_workflow
from tests.llm.conftest import ModelServer, Reply

KEY = "sk-test-secret-key"


def llm_workflow(**step: Any) -> dict[str, Any]:
    return {
        "input_schema": {"type": "object", "properties": {"topic": {"type": "string"}}},
        "model": {"provider": "openai", "name": "gpt-test", "temperature": 0},
        "steps": [{"id": "ask", "type": "llm", "system": "You are terse.", "prompt": "Tell me about {{ inputs.topic }}",
                   **step}],
    }  # fmt: skip


async def start(start_worker: WorkerFactory, server: ModelServer, **overrides: Any) -> None:
    await start_worker(
        openai_base_url=f"{server.url}/v1", openai_api_key=SecretStr(KEY), anthropic_base_url=server.url,
        anthropic_api_key=SecretStr("ant-key"), llm_backoff_s=0.05, **overrides,
    )  # fmt: skip


async def run(client: httpx.AsyncClient, slug: str, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    submitted = await client.post(  # cache never: these tests script answers to identical requests
        f"/v1/workflows/{slug}/versions/current/async", json={"inputs": inputs or {"topic": "things"}, "cache": "never"}
    )
    assert submitted.status_code == 202, submitted.text
    return await wait_for_job(client, submitted.json()["id"], wait_s=20)


async def test_a_text_answer_with_the_exact_request_tokens_and_latency_recorded(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy_workflow(client, "ask", llm_workflow(model={"max_tokens": 50}))
    await start(start_worker, model_server)
    job = await run(client, "ask", {"topic": "otters"})

    assert job["status"] == "completed", job
    assert job["output"] == "echo: Tell me about otters"
    [call] = model_server.calls
    assert call.path == "/v1/chat/completions"
    assert call.headers["Authorization"] == f"Bearer {KEY}"
    assert call.body == {
        "model": "gpt-test", "temperature": 0, "max_tokens": 50,
        "messages": [{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "Tell me about otters"}],
    }  # fmt: skip
    [step] = job["steps"]
    assert step["model"] == "openai/gpt-test-0613"  # the model the provider says answered
    assert (step["input_tokens"], step["output_tokens"]) == (7, 5)
    assert step["latency_ms"] > 0
    assert step["detail"]["request"]["body"] == call.body
    assert step["detail"]["request"]["url"] == f"{model_server.url}/v1/chat/completions"
    assert step["detail"]["response"]["choices"][0]["message"]["content"] == job["output"]
    assert KEY not in str(job)  # credentials are never recorded


async def test_json_answers_are_parsed_and_checked_against_the_output_schema(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
    await deploy_workflow(client, "rate", llm_workflow(model={"response_format": "json"}, output_schema=schema))
    await start(start_worker, model_server)
    model_server.reply(Reply(text='{"score": 7}'), Reply(text='```json\n{"score": 8}\n```'),
                       Reply(text='{"score": "high"}'), Reply(text="I think it is a 7"))  # fmt: skip

    first, fenced, wrong, prose = [await run(client, "rate") for _ in range(4)]

    assert (first["status"], first["output"]) == ("completed", {"score": 7}), first["error"]
    assert model_server.calls[0].body["response_format"] == {"type": "json_object"}
    assert (fenced["status"], fenced["output"]) == ("completed", {"score": 8})
    assert wrong["status"] == "failed"
    assert wrong["error"]["code"] == "output_invalid"
    assert "$.score" in wrong["error"]["message"]
    assert wrong["steps"][0]["output"] == {"score": "high"}  # what the model said stays visible
    assert (prose["status"], prose["error"]["code"], prose["error"]["step"]) == (
        "failed",
        "model_output_invalid",
        "ask",
    )


async def test_rate_limits_are_retried_after_retry_after(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy_workflow(client, "ask", llm_workflow())
    await start(start_worker, model_server)
    model_server.reply(Reply(status=429, headers={"Retry-After": "1"}), Reply(status=503))

    job = await run(client, "ask", {"topic": "limits"})

    assert job["status"] == "completed", job
    assert len(model_server.calls) == 3
    assert model_server.calls[1].at - model_server.calls[0].at >= 0.95  # waited as the server asked
    assert job["steps"][0]["detail"]["attempts"] == 3
    assert [e.split(":")[0] for e in job["steps"][0]["detail"]["retried_errors"]] == ["attempt 1", "attempt 2"]


async def test_provider_errors_are_classified_and_only_transient_ones_retried(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy_workflow(client, "ask", llm_workflow())
    await start(start_worker, model_server, llm_max_attempts=2)
    model_server.reply(Reply(status=401), Reply(status=400), Reply(status=500), Reply(status=500))

    auth, bad, server = [await run(client, "ask") for _ in range(3)]

    assert auth["error"]["code"] == "llm_auth_error"
    assert bad["error"]["code"] == "llm_bad_request"
    assert server["error"]["code"] == "llm_server_error"
    assert "after 2 attempts" in server["error"]["message"]
    assert len(model_server.calls) == 4  # 1 + 1 + 2: auth and bad requests are not retried
    assert auth["steps"][0]["status"] == "failed"


async def test_a_model_that_does_not_answer_in_time_is_a_timeout(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy_workflow(client, "ask", llm_workflow())
    await start(start_worker, model_server, llm_timeout_s=0.3, llm_max_attempts=2)
    model_server.reply(Reply(delay_s=5.0), Reply(delay_s=5.0))
    started = time.monotonic()

    job = await run(client, "ask")

    assert job["error"]["code"] == "llm_timeout"
    assert len(model_server.calls) == 2
    assert time.monotonic() - started < 5  # both calls were cut: waiting them out would take 10 s


async def test_the_anthropic_messages_api(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    definition = llm_workflow(model={"provider": "anthropic", "name": "claude-test", "max_tokens": 64})
    await deploy_workflow(client, "claude", definition)
    await start(start_worker, model_server)

    job = await run(client, "claude", {"topic": "bees"})

    assert job["status"] == "completed", job
    assert job["output"] == "echo: Tell me about bees"
    [call] = model_server.calls
    assert call.path == "/v1/messages"
    assert call.headers["x-api-key"] == "ant-key"
    assert call.headers["anthropic-version"] == "2023-06-01"
    assert call.body == {"model": "claude-test", "max_tokens": 64, "temperature": 0, "system": "You are terse.",
                         "messages": [{"role": "user", "content": "Tell me about bees"}]}  # fmt: skip
    step = job["steps"][0]
    assert (step["model"], step["input_tokens"], step["output_tokens"]) == ("anthropic/claude-test", 7, 5)


async def test_a_step_model_overrides_the_workflow_model_field_by_field(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy_workflow(client, "ask", llm_workflow(model={"name": "gpt-other", "temperature": 0.7}))
    await start(start_worker, model_server)
    await run(client, "ask")
    assert (model_server.calls[0].body["model"], model_server.calls[0].body["temperature"]) == ("gpt-other", 0.7)


async def test_an_llm_step_without_a_model_cannot_be_deployed(client: httpx.AsyncClient) -> None:
    definition = {"steps": [{"id": "ask", "type": "llm", "prompt": "hi"}]}
    created = await client.post("/v1/workflows", json={"name": "nomodel", "definition": definition})
    assert [p["path"] for p in created.json()["draft_problems"]] == ["$.steps[0].model"]
    deployed = await client.post("/v1/workflows/nomodel/deploy")
    assert deployed.status_code == 422
    assert deployed.json()["errors"][0]["path"] == "$.steps[0].model"


async def test_model_calls_refuse_private_addresses_unless_allowed(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy_workflow(client, "ask", llm_workflow())
    await start(start_worker, model_server, outbound_allowlist=[])
    job = await run(client, "ask")
    assert job["error"]["code"] == "outbound_refused"
    assert model_server.calls == []
