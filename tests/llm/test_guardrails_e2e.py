"""Guardrails end to end: input scanners at submission, llm_outputs scanners on real model answers."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from tests.conftest import WorkerFactory, wait_for_job
from tests.jobs.conftest import deploy_workflow
from tests.llm.conftest import ModelServer, Reply

EMAIL = "ada.lovelace@example.com"
CARD = "4111 1111 1111 1111"
API_KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123"


def guarded(inputs: list[dict[str, Any]] | None = None, llm_outputs: list[dict[str, Any]] | None = None,
            **model: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "input_schema": {"type": "object", "properties": {"contact": {"type": "string"}}},
        "model": {"provider": "openai", "name": "gpt-test", "temperature": 0, **model},
        "steps": [{"id": "ask", "type": "llm", "prompt": "Write to {{ inputs.contact }}"}],
        "guardrails": {"inputs": inputs or [], "llm_outputs": llm_outputs or []},
    }


async def start(start_worker: WorkerFactory, server: ModelServer) -> None:
    await start_worker(openai_base_url=f"{server.url}/v1", openai_api_key=SecretStr("test-key"), llm_backoff_s=0.05)


async def run(client: httpx.AsyncClient, slug: str, inputs: dict[str, Any]) -> dict[str, Any]:
    submitted = await client.post(f"/v1/workflows/{slug}/versions/current/async",
                                  json={"inputs": inputs, "cache": "never"})  # fmt: skip
    assert submitted.status_code == 202, submitted.text
    return await wait_for_job(client, submitted.json()["id"], wait_s=20)


async def stored(client: httpx.AsyncClient, job_id: str) -> str:
    """Everything stored about a job that the API shows: the job with its steps, and its events."""
    job = await client.get(f"/v1/jobs/{job_id}")
    events = await client.get(f"/v1/jobs/{job_id}/events")
    return job.text + events.text


async def test_an_input_blocked_by_a_guardrail_is_a_422_naming_the_scanner_and_path_and_nothing_is_stored(
    client: httpx.AsyncClient, model_server: ModelServer
) -> None:
    await deploy_workflow(client, "mail", guarded([{"kind": "pii", "name": "no_pii", "action": "block"}]))

    response = await client.post("/v1/workflows/mail/versions/current/async", json={"inputs": {"contact": EMAIL}})

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "guardrail_blocked"
    assert body["type"] == "urn:workflow-service:problem:guardrail_blocked"
    assert body["errors"] == [{"path": "$.inputs.contact", "message": "blocked by guardrail 'no_pii' (pii)"}]
    assert "no_pii" in body["detail"]
    assert EMAIL not in response.text  # the problem names where, never what
    assert (await client.get("/v1/jobs")).json()["items"] == []
    assert model_server.calls == []
    clean = await client.post("/v1/workflows/mail/versions/current/async", json={"inputs": {"contact": "the team"}})
    assert clean.status_code == 202, clean.text


async def test_redacted_inputs_are_what_the_job_stores_and_the_model_sees(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy_workflow(client, "mail", guarded([{"kind": "pii", "name": "pii", "action": "redact"}]))
    await start(start_worker, model_server)

    job = await run(client, "mail", {"contact": f"Ada <{EMAIL}>"})

    assert job["status"] == "completed", job
    assert job["inputs"] == {"contact": "Ada <[redacted:pii]>"}
    [call] = model_server.calls
    assert call.body["messages"][-1]["content"] == "Write to Ada <[redacted:pii]>"
    assert EMAIL not in await stored(client, job["id"])
    # A rerun goes through the same check: the redacted inputs pass unchanged.
    rerun = await client.post(f"/v1/jobs/{job['id']}/rerun")
    assert rerun.status_code == 201, rerun.text
    assert rerun.json()["inputs"] == job["inputs"]


async def test_an_answer_with_a_card_number_is_blocked_and_not_stored(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy_workflow(client, "mail", guarded(llm_outputs=[{"kind": "pii", "name": "cards", "types": ["card"],
                                                                 "action": "block"}]))  # fmt: skip
    await start(start_worker, model_server)
    model_server.reply(Reply(text=f"Sure, the card is {CARD}."))

    job = await run(client, "mail", {"contact": "the team"})

    assert job["status"] == "failed", job
    assert job["error"]["code"] == "guardrail_blocked"
    assert job["error"]["step"] == "ask"
    assert "'cards'" in job["error"]["message"]
    [step] = job["steps"]
    assert (step["status"], step["error"]["code"], step["output"]) == ("failed", "guardrail_blocked", None)
    assert step["detail"]["response"]["choices"][0]["message"]["content"] == "Sure, the card is [redacted:cards]."
    assert step["detail"]["guardrails"] == {"blocked": ["cards"]}
    assert step["output_tokens"] > 0  # the call still happened and counts
    assert CARD not in await stored(client, job["id"])


async def test_an_answer_with_an_api_key_is_redacted_in_the_output_and_the_step_detail(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    await deploy_workflow(client, "mail", guarded(llm_outputs=[{"kind": "secrets", "action": "redact"}]))
    await start(start_worker, model_server)
    model_server.reply(Reply(text=f"Use the key {API_KEY} to log in."))

    job = await run(client, "mail", {"contact": "the team"})

    assert job["status"] == "completed", job
    assert job["output"] == "Use the key [redacted:secrets_0] to log in."
    [step] = job["steps"]
    assert step["output"] == job["output"]
    assert step["detail"]["response"]["choices"][0]["message"]["content"] == job["output"]
    assert step["detail"]["guardrails"] == {"redacted": ["secrets_0"]}
    assert API_KEY not in await stored(client, job["id"])


async def test_every_string_of_a_json_answer_is_scanned(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    definition = guarded(llm_outputs=[{"kind": "pii", "name": "pii", "action": "redact"}], response_format="json")
    await deploy_workflow(client, "mail", definition)
    await start(start_worker, model_server)
    model_server.reply(Reply(text=f'{{"to": "{EMAIL}", "cards": ["{CARD}"], "n": 4111111111111111}}'))

    job = await run(client, "mail", {"contact": "the team"})

    assert job["status"] == "completed", job
    assert job["output"] == {"to": "[redacted:pii]", "cards": ["[redacted:pii]"], "n": 4111111111111111}
    assert EMAIL not in job["steps"][0]["detail"]["response"]["choices"][0]["message"]["content"]


async def test_an_answer_the_step_refuses_does_not_leak_what_the_guardrails_catch(
    client: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    definition = guarded(llm_outputs=[{"kind": "secrets", "action": "block"}], response_format="json")
    await deploy_workflow(client, "mail", definition)
    await start(start_worker, model_server)
    model_server.reply(Reply(text=f"not JSON, but a key: {API_KEY}"))

    job = await run(client, "mail", {"contact": "the team"})

    assert (job["status"], job["error"]["code"]) == ("failed", "model_output_invalid")
    assert "[redacted:secrets_0]" in job["steps"][0]["output"]
    assert API_KEY not in job["error"]["message"]
    assert API_KEY not in str(job["steps"][0]["output"])
