"""Jobs read the workflow's variables as `env.NAME`; a secure value reaches the step's target but is
redacted from everything stored or sent: step records, the job's output and error, the push callback."""

from __future__ import annotations

import json
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import WorkerFactory, wait_for_job
from tests.deliveries.conftest import ACCESS_TOKEN, FAST, WebhookReceiver, enable_push, submit_push
from tests.env.conftest import KEY, SECRET, put_var
from tests.jobs.conftest import deploy_workflow, submit
from tests.servers import EchoServer
from workflow_service.core.secrets import Secrets
from workflow_service.models import Workflow
from workflow_service.workflows import settings as endpoint_settings

REDACTED = "[redacted:SECRET]"

CALLER: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"base": {"type": "string"}}, "required": ["base"]},
    "steps": [
        {
            "id": "call",
            "type": "http",
            "method": "POST",
            "url": "{{ inputs.base }}/things?key={{ env.SECRET }}",
            "headers": {"Authorization": "Bearer {{ env.SECRET }}", "X-Plain": "{{ env.PLAIN }}"},
            "json": {"plain": "{{ env.PLAIN }}", "nested": ["prefix-{{ env.SECRET }}-suffix"]},
        }
    ],
    "output": {
        "plain": "{{ env.PLAIN }}",
        "secret": "{{ env.SECRET }}",
        "echoed": "{{ steps.call.output.body.headers.Authorization }}",
    },
}


async def steps_of(client: httpx.AsyncClient, job_id: str) -> list[dict[str, Any]]:
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    steps: list[dict[str, Any]] = job["steps"]
    return steps


async def test_env_reaches_the_step_and_secure_values_are_redacted(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    await deploy_workflow(client, "caller", CALLER)
    assert (await put_var(client, "PLAIN", "plain-value", slug="caller")).status_code == 201
    assert (await put_var(client, "SECRET", SECRET, slug="caller", secure=True)).status_code == 201
    await start_worker()
    job = await wait_for_job(client, (await submit(client, "caller", {"base": echo_server.url}))["id"])
    assert job["status"] == "completed", job

    # The target got the real values.
    [request] = echo_server.requests
    assert request.path == f"/things?key={SECRET}"
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert request.headers["X-Plain"] == "plain-value"
    assert request.json() == {"plain": "plain-value", "nested": [f"prefix-{SECRET}-suffix"]}

    # What is stored shows the redaction instead.
    assert job["output"] == {"plain": "plain-value", "secret": REDACTED, "echoed": f"Bearer {REDACTED}"}
    [step] = job["steps"]
    assert step["input"]["url"] == f"{echo_server.url}/things?key={REDACTED}"
    assert step["input"]["headers"]["Authorization"] == f"Bearer {REDACTED}"
    assert step["input"]["json_body"]["nested"] == [f"prefix-{REDACTED}-suffix"]
    assert step["output"]["body"]["path"] == f"/things?key={REDACTED}"
    assert step["output"]["body"]["headers"]["Authorization"] == f"Bearer {REDACTED}"
    assert "plain-value" in json.dumps(step)
    everything = (await client.get(f"/v1/jobs/{job['id']}")).text + (await client.get("/v1/jobs")).text
    assert SECRET not in everything
    assert REDACTED in everything


async def test_secure_values_are_redacted_from_errors(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    failing = {
        "input_schema": CALLER["input_schema"],
        "steps": [{"id": "call", "type": "http", "url": "{{ inputs.base }}/status/404?key={{ env.SECRET }}"}],
    }
    invalid_output = {
        "steps": [{"id": "t", "type": "transform", "output": {"n": "{{ env.SECRET }}"}}],
        "output": "{{ steps.t.output }}",
        "output_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
    }
    for slug, definition in (("failing", failing), ("invalid", invalid_output)):
        await deploy_workflow(client, slug, definition)
        assert (await put_var(client, "SECRET", SECRET, slug=slug, secure=True)).status_code == 201
    await start_worker()

    job = await wait_for_job(client, (await submit(client, "failing", {"base": echo_server.url}))["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "http_status"
    assert REDACTED in job["error"]["message"]
    [step] = job["steps"]
    assert step["error"]["code"] == "http_status"
    assert REDACTED in step["error"]["message"]
    assert step["output"]["status_code"] == 404
    assert echo_server.requests[0].path == f"/status/404?key={SECRET}"

    job = await wait_for_job(client, (await submit(client, "invalid"))["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "output_invalid"
    assert REDACTED in job["error"]["message"]
    assert f"'{REDACTED}' is not of type 'integer'" in job["error"]["message"]
    assert job["steps"][0]["output"] == {"n": REDACTED}

    assert SECRET not in (await client.get("/v1/jobs")).text


async def test_push_callback_carries_the_redacted_job(
    client: httpx.AsyncClient,
    start_worker: WorkerFactory,
    echo_server: EchoServer,
    receiver: WebhookReceiver,
    engine: AsyncEngine,
) -> None:
    await deploy_workflow(client, "greeter", CALLER)
    assert (await put_var(client, "PLAIN", "plain-value", slug="greeter")).status_code == 201
    assert (await put_var(client, "SECRET", SECRET, slug="greeter", secure=True)).status_code == 201
    receiver.secrets = [await enable_push(client, "greeter", receiver.url)]
    await start_worker(**FAST)
    job = await submit_push(client, "greeter", inputs={"base": echo_server.url})
    [callback] = await receiver.wait_for(1)
    assert SECRET not in callback.body.decode()
    data = callback.json()["data"]
    assert data["id"] == job["id"]
    assert data["status"] == "completed"
    assert data["output"]["secret"] == REDACTED
    assert data["steps"][0]["input"]["headers"]["Authorization"] == f"Bearer {REDACTED}"
    # The push access token and the signing secret are stored encrypted, and decrypted to send.
    assert callback.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert callback.verified_by == receiver.secrets
    workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]
    async with engine.connect() as conn:
        stored = (
            await conn.execute(sa.select(workflow_t.c.settings).where(workflow_t.c.slug == "greeter"))
        ).scalar_one()
    push = stored["push"]
    assert ACCESS_TOKEN not in json.dumps(stored)
    assert receiver.secrets[0] not in json.dumps(stored)
    assert set(push["access_token"]) == {"enc"}
    assert endpoint_settings.access_token(stored, Secrets([KEY])) == ACCESS_TOKEN
    assert endpoint_settings.active_secrets(stored, Secrets([KEY])) == receiver.secrets


async def test_env_changes_apply_to_jobs_claimed_afterwards(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy_workflow(client, "reader", {"steps": [{"id": "t", "type": "transform", "output": "{{ env.WHO }}"}]})
    await start_worker()
    assert (await put_var(client, "WHO", "first", slug="reader")).status_code == 201
    assert (await wait_for_job(client, (await submit(client, "reader"))["id"]))["output"] == "first"
    assert (await put_var(client, "WHO", "second", slug="reader")).status_code == 200
    assert (await wait_for_job(client, (await submit(client, "reader"))["id"]))["output"] == "second"
    assert (await put_var(client, "WHO", "third-secret", slug="reader", secure=True)).status_code == 200
    assert (await wait_for_job(client, (await submit(client, "reader"))["id"]))["output"] == "[redacted:WHO]"
    assert (await client.delete("/v1/workflows/reader/env/WHO")).status_code == 204
    job = await wait_for_job(client, (await submit(client, "reader"))["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "template_error"


async def test_short_secure_values_are_not_redacted(client: httpx.AsyncClient, start_worker: WorkerFactory) -> None:
    await deploy_workflow(client, "short", {"steps": [{"id": "t", "type": "transform", "output": "{{ env.PIN }}"}]})
    assert (await put_var(client, "PIN", "abc", slug="short", secure=True)).status_code == 201
    await start_worker()
    assert (await wait_for_job(client, (await submit(client, "short"))["id"]))["output"] == "abc"


async def test_a_worker_without_the_key_fails_the_job_clearly(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy_workflow(client, "locked", {"steps": [{"id": "t", "type": "transform", "output": "{{ env.S }}"}]})
    assert (await put_var(client, "S", SECRET, slug="locked", secure=True)).status_code == 201
    await start_worker(secret_key=None)
    job = await wait_for_job(client, (await submit(client, "locked"))["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "secret_unavailable"
    assert "secure variable S" in job["error"]["message"]
    assert "WFS_SECRET_KEY" in job["error"]["message"]
    assert job["steps"] == []


async def test_a_secure_value_is_never_handed_to_a_child_job(
    client: httpx.AsyncClient, start_worker: WorkerFactory, engine: AsyncEngine
) -> None:
    child = {"steps": [{"id": "echo", "type": "transform", "output": {"got": "{{ inputs.t }}"}}]}
    parent = {
        "steps": [
            {"id": "call", "type": "workflow", "workflow": "kid", "inputs": {"t": "token {{ env.SECRET | urlencode }}"}}
        ]
    }
    await deploy_workflow(client, "kid", child)
    await deploy_workflow(client, "holder", parent)
    assert (await put_var(client, "SECRET", SECRET + "/+=", slug="holder", secure=True)).status_code == 201
    await start_worker()

    job = await wait_for_job(client, (await submit(client, "holder"))["id"], wait_s=20)

    assert job["status"] == "failed"
    assert job["error"]["code"] == "secret_in_child_inputs"
    assert job["error"]["step"] == "call"
    assert "SECRET" in job["error"]["message"]
    listed = (await client.get("/v1/jobs")).json()["items"]
    assert [j["workflow"]["slug"] for j in listed] == ["holder"]  # no child job was created
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT inputs::text FROM job"))).scalars().all()
    assert not any(SECRET in row for row in rows)
