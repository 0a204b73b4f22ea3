"""THE ROUND TRIP: a workflow with every kind of step (transform, http to a local echo server, llm against the local
model server, condition, tool, and a `workflow` step running a child), guardrails, variables, and plain and secure
environment variables, exported with a passphrase from one workspace and imported into another (its child first),
deployed there, and run with the same inputs in both: the same outputs, the secure value sent by both, and the
guardrails refusing the same inputs in both."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import connect
from tests.conftest import TOKEN, ClientFactory, WorkerFactory, make_settings, wait_for_job
from tests.llm.conftest import ModelServer
from tests.packages.importing import KEY, PASSPHRASE, SECRET, upload
from tests.people.conftest import create_workspace
from tests.servers import EchoServer
from tests.workflows.conftest import assert_problem
from workflow_service.config import Settings

CHILD: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    "steps": [{"id": "echo", "type": "transform", "output": {"found": "{{ inputs.q | upper }}"}}],
    "output": {"found": "{{ steps.echo.output.found }}"},
}
DEFINITION: dict[str, Any] = {
    "description": "Answers banking questions",
    "input_schema": {"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]},
    "variables": {"tone": "friendly", "parts": 2},
    "guardrails": {
        "inputs": [{"name": "no_secrets", "kind": "secrets", "action": "block"}],
        "llm_outputs": [{"kind": "deny_list", "words": ["confidential"], "action": "redact"}],
    },
    "model": {"provider": "openai", "name": "gpt-test", "temperature": 0},
    "timeout_s": 60,
    "steps": [
        {"id": "gate", "type": "condition", "if": "inputs.question | length > 3", "then": "ask", "else": "end"},
        {"id": "ask", "type": "llm", "prompt": "In a {{ vars.tone }} tone, confidential: {{ inputs.question }}",
         "timeout_s": 30, "retry": {"max_attempts": 2, "backoff_s": 0.1}},
        {"id": "split", "type": "tool", "tool": "text.split",
         "args": {"text": "{{ steps.ask.output }}", "separator": ","}},
        {"id": "lookup", "type": "workflow", "workflow": "lookup", "inputs": {"q": "{{ inputs.question }}"}},
        {"id": "report", "type": "http", "method": "POST", "url": "{{ env.REPORT_URL }}/report",
         "headers": {"Authorization": "Bearer {{ env.API_TOKEN }}"}, "json": {"region": "{{ env.REGION }}"}},
        {"id": "shape", "type": "transform", "output": {"count": "{{ steps.split.output | length }}"}},
    ],
    "output": {
        "answer": "{{ steps.ask.output }}",
        "parts": "{{ steps.split.output }}",
        "found": "{{ steps.lookup.output.found }}",
        "region": "{{ steps.report.output.body.json.region }}",
        "count": "{{ steps.shape.output.count }}",
    },
}  # fmt: skip
QUESTION = {"question": "what is my balance, and my limit"}
__all__ = ["connect"]


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    return make_settings(secret_key=SecretStr(KEY))


async def ok(client: httpx.AsyncClient, method: str, url: str, body: Any = None) -> Any:
    response = await client.request(method, url, json=body)
    assert response.is_success, (method, url, response.text)
    return response.json() if response.content else None


async def export(client: httpx.AsyncClient, slug: str) -> bytes:
    response = await client.get(f"/v1/workflows/{slug}/export", headers={"X-Export-Passphrase": PASSPHRASE})
    assert response.status_code == 200, response.text
    return response.content


async def run(client: httpx.AsyncClient, slug: str, inputs: dict[str, Any]) -> dict[str, Any]:
    submitted = await ok(client, "POST", f"/v1/workflows/{slug}/versions/current/async", {"inputs": inputs})
    return await wait_for_job(client, submitted["id"], wait_s=20)


async def build_source(admin: httpx.AsyncClient, echo: EchoServer) -> None:
    """In the default workspace: the child `lookup` and `Banking Assistant`, deployed, with its variables."""
    await ok(admin, "POST", "/v1/workflows", {"name": "Lookup", "definition": CHILD})
    await ok(admin, "POST", "/v1/workflows/lookup/deploy")
    await ok(admin, "POST", "/v1/workflows", {"name": "Banking Assistant", "definition": DEFINITION})
    variables = {
        "REGION": {"value": "eu-west", "notes": "where reports go"},
        "REPORT_URL": {"value": echo.url},
        "API_TOKEN": {"value": SECRET, "secure": True, "notes": "the report service's token"},
    }
    for name, body in variables.items():
        await ok(admin, "PUT", f"/v1/workflows/banking-assistant/env/{name}", body)
    await ok(admin, "PATCH", "/v1/workflows/banking-assistant/settings", {"sync_timeout_s": 90})
    await ok(admin, "POST", "/v1/workflows/banking-assistant/deploy")


async def test_a_workflow_exported_and_imported_into_another_workspace_runs_the_same(
    connect: ClientFactory,
    start_worker: WorkerFactory,
    model_server: ModelServer,
    echo_server: EchoServer,
) -> None:
    admin = connect(TOKEN)
    await start_worker(openai_base_url=f"{model_server.url}/v1", openai_api_key=SecretStr("k"), llm_backoff_s=0.01)
    await build_source(admin, echo_server)
    child, parent = await export(admin, "lookup"), await export(admin, "banking-assistant")

    beta = connect((await create_workspace(admin, "beta"))["owner_token"])
    assert (await upload(beta, "/v1/workflows/import", child, passphrase=PASSPHRASE)).status_code == 201
    await ok(beta, "POST", "/v1/workflows/lookup/deploy")
    imported = await upload(beta, "/v1/workflows/import", parent, passphrase=PASSPHRASE)
    assert imported.status_code == 201, imported.text
    report = imported.json()["report"]
    assert (report["draft_problems"], report["env"]["added"]) == ([], ["API_TOKEN", "REGION", "REPORT_URL"])
    assert imported.json()["workflow"]["draft"] == DEFINITION
    assert (await ok(beta, "GET", "/v1/workflows/banking-assistant/settings"))["sync_timeout_s"] == 90
    await ok(beta, "POST", "/v1/workflows/banking-assistant/deploy")

    source, copy = await run(admin, "banking-assistant", QUESTION), await run(beta, "banking-assistant", QUESTION)
    assert (source["status"], copy["status"]) == ("completed", "completed"), (source["error"], copy["error"])
    assert copy["output"] == source["output"]
    assert source["output"] == {
        "answer": "echo: In a friendly tone, [redacted:deny_list_0]: what is my balance, and my limit",
        "parts": ["echo: In a friendly tone", " [redacted:deny_list_0]: what is my balance", " and my limit"],
        "found": "WHAT IS MY BALANCE, AND MY LIMIT",
        "region": "eu-west",
        "count": 3,
    }
    assert [s["id"] for s in copy["steps"]] == [s["id"] for s in source["steps"]]
    reports = [r for r in echo_server.requests if r.path == "/report"]
    assert [r.headers["Authorization"] for r in reports] == [f"Bearer {SECRET}"] * 2  # decrypted in both

    short = {"question": "hi"}  # the condition ends the run before the model is asked
    ended = [await run(client, "banking-assistant", short) for client in (admin, beta)]
    assert ended[0]["output"] == ended[1]["output"]
    assert [s["status"] for s in ended[0]["steps"]] == [s["status"] for s in ended[1]["steps"]]
    leaked = {"inputs": {"question": "my key is sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789"}}
    for client in (admin, beta):
        refused = await client.post("/v1/workflows/banking-assistant/versions/current/async", json=leaked)
        assert_problem(refused, 422, "guardrail_blocked")


async def test_a_version_exported_imported_deployed_and_exported_again_is_the_same_bytes(
    connect: ClientFactory, echo_server: EchoServer
) -> None:
    admin = connect(TOKEN)
    await build_source(admin, echo_server)
    package = await admin.get("/v1/workflows/lookup/export")
    assert (await admin.get("/v1/workflows/lookup/export")).content == package.content
    gamma = connect(TOKEN)
    gamma.headers["Wfs-Workspace"] = (await create_workspace(admin, "gamma"))["workspace"]["slug"]
    assert (await upload(gamma, "/v1/workflows/import", package.content)).status_code == 201
    await ok(gamma, "POST", "/v1/workflows/lookup/deploy")
    assert (await gamma.get("/v1/workflows/lookup/export")).content == package.content
