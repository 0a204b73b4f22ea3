"""What steps produce is stored safely and within limits, on PostgreSQL (API + arq worker) and in the embedded
SQLite mode (in-process worker): a NUL character from a remote server or a model is stored as U+FFFD and the
job completes; an output over WFS_MAX_STEP_OUTPUT_BYTES fails its step with `output_too_large`; a record's
other large fields are stored truncated with a marker. And a job can be read without its step records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from tests.api.conftest import OUTPUT_LIMIT, run_job
from tests.conftest import WorkerFactory, serving
from tests.llm.conftest import ModelServer, Reply
from tests.servers import EchoServer
from workflow_service.config import Settings
from workflow_service.migrate import upgrade

REPLACED = "\ufffd"
Backend = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture(params=["postgres", "sqlite"])
async def backend(
    request: pytest.FixtureRequest,
    settings: Settings,
    client: httpx.AsyncClient,
    start_worker: WorkerFactory,
    tmp_path: Path,
    model_server: ModelServer,
) -> AsyncIterator[Backend]:
    """Start the service on PostgreSQL (the API, plus an arq worker on Redis) or embedded on SQLite; returns
    an admin client for it."""
    llm = {"openai_base_url": f"{model_server.url}/v1", "openai_api_key": SecretStr("sk-test"), "llm_backoff_s": 0.05}
    if request.param == "postgres":

        async def postgres() -> httpx.AsyncClient:
            await start_worker(**llm)
            return client

        yield postgres
        return
    embedded = settings.model_copy(update={"database_url": None, "redis_url": None, "data_dir": tmp_path, **llm})
    await asyncio.to_thread(upgrade, embedded.effective_database_url)
    async with serving(embedded) as sqlite_client:

        async def sqlite() -> httpx.AsyncClient:
            return sqlite_client

        yield sqlite


def http_step(step_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "http", "url": "{{ inputs.base }}" + url, **extra}


async def test_nul_from_a_remote_server_is_stored_replaced(backend: Backend, echo_server: EchoServer) -> None:
    client = await backend()
    job = await run_job(
        client,
        {
            "steps": [http_step("as_json", "/nul"), http_step("as_text", "/nul/text")],
            "output": {"json": "{{ steps.as_json.output.body }}", "text": "{{ steps.as_text.output.body }}"},
        },
        {"base": echo_server.url},
    )
    assert job["status"] == "completed", job
    as_json = {"value": f"before{REPLACED}after", "literal": "C:\\u0000", f"k{REPLACED}": [0]}
    steps = {s["id"]: s for s in job["steps"]}
    assert steps["as_json"]["status"] == "completed"
    assert steps["as_json"]["output"]["body"] == as_json
    assert steps["as_text"]["output"]["body"] == f"before{REPLACED}after"
    assert job["output"]["text"] == f"before{REPLACED}after"


async def test_nul_in_a_model_answer_is_stored_replaced(backend: Backend, model_server: ModelServer) -> None:
    client = await backend()
    model_server.reply(Reply(text="one\x00two"))
    job = await run_job(
        client,
        {
            "model": {"provider": "openai", "name": "gpt-test", "temperature": 0},
            "steps": [{"id": "ask", "type": "llm", "prompt": "say it"}],
        },
        {},
    )
    assert job["status"] == "completed", job
    assert job["output"] == f"one{REPLACED}two"
    [step] = job["steps"]
    assert step["output"] == f"one{REPLACED}two"
    assert step["detail"]["response"]["choices"][0]["message"]["content"] == f"one{REPLACED}two"


async def test_an_output_over_the_limit_fails_its_step(backend: Backend, echo_server: EchoServer) -> None:
    client = await backend()
    job = await run_job(
        client,
        {"steps": [http_step("small", f"/big/{OUTPUT_LIMIT // 2}"), http_step("big", f"/big/{OUTPUT_LIMIT * 2}")]},
        {"base": echo_server.url},
    )
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "output_too_large"
    assert job["error"]["step"] == "big"
    assert str(OUTPUT_LIMIT) in job["error"]["message"]
    assert "WFS_MAX_STEP_OUTPUT_BYTES" in job["error"]["message"]
    small, big = job["steps"]
    assert small["status"] == "completed"
    assert small["output"]["body"] == "x" * (OUTPUT_LIMIT // 2)
    assert big["status"] == "failed"
    assert big["output"] is None
    assert big["error"]["code"] == "output_too_large"


async def test_on_error_continue_applies_to_a_too_large_output(backend: Backend, echo_server: EchoServer) -> None:
    client = await backend()
    job = await run_job(
        client,
        {
            "steps": [http_step("big", f"/big/{OUTPUT_LIMIT * 2}", on_error={"default": "too big"})],
            "output": "{{ steps.big.output }}",
        },
        {"base": echo_server.url},
    )
    assert job["status"] == "completed", job
    assert job["output"] == "too big"


def assert_marker(value: Any, size_over: int) -> None:
    assert set(value) == {"$truncated", "preview"}, value
    assert value["$truncated"] > size_over
    assert len(value["preview"]) == 1000


async def test_large_inputs_and_failed_outputs_of_a_record_are_stored_truncated(
    backend: Backend, echo_server: EchoServer
) -> None:
    client = await backend()
    text = "y" * (OUTPUT_LIMIT * 2)
    job = await run_job(
        client,
        {"steps": [http_step("post", "/status/400", method="POST", json={"text": "{{ inputs.text }}"})]},
        {"base": echo_server.url, "text": text},
    )
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "http_status"
    [step] = job["steps"]
    # The rendered input: its small entries are kept, the large one is replaced by a marker.
    assert step["input"]["url"] == f"{echo_server.url}/status/400"
    assert_marker(step["input"]["json_body"], OUTPUT_LIMIT)
    assert step["input"]["json_body"]["preview"].startswith('{"text":"yyy')
    # The failed step's output (the echoed request) is over the limit as a whole.
    assert step["output"]["status_code"] == 400
    assert_marker(step["output"]["body"], OUTPUT_LIMIT)
    assert len(orjson.dumps(step)) < OUTPUT_LIMIT * 3
    assert echo_server.requests[-1].json() == {"text": text}  # the request itself went out whole


async def test_a_large_model_response_is_stored_truncated(backend: Backend, model_server: ModelServer) -> None:
    client = await backend()
    model_server.reply(Reply(text="z" * (OUTPUT_LIMIT * 2)))
    job = await run_job(
        client,
        {
            "model": {"provider": "openai", "name": "gpt-test", "temperature": 0},
            "steps": [{"id": "ask", "type": "llm", "prompt": "go on", "on_error": "continue"}],
        },
        {},
    )
    assert job["status"] == "completed", job
    [step] = job["steps"]
    assert step["status"] == "failed"
    assert step["error"]["code"] == "output_too_large"
    assert step["output"] is None
    assert_marker(step["detail"]["response"], OUTPUT_LIMIT)
    assert step["detail"]["attempts"] == 1  # the small entries of the detail are kept
    assert step["detail"]["request"]["body"]["messages"][-1]["content"] == "go on"
