"""Templates through a real arq worker: data is never rendered again; sandbox refusals fail the job cleanly."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import WorkerFactory, wait_for_job
from tests.workflows.conftest import create_workflow, deploy

PASS_THROUGH: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    "steps": [
        {"id": "first", "type": "transform", "output": {"raw": "{{ inputs.text }}", "said": "said: {{ inputs.text }}"}},
        {"id": "second", "type": "transform", "output": {"again": "{{ steps.first.output.raw }}"}},
    ],
    "output": {"first": "{{ steps.first.output }}", "second": "{{ steps.second.output.again }}!"},
}


async def run_job(client: httpx.AsyncClient, slug: str, inputs: dict[str, Any]) -> dict[str, Any]:
    submitted = await client.post(f"/v1/workflows/{slug}/versions/current/async", json={"inputs": inputs})
    assert submitted.status_code == 202, submitted.text
    return await wait_for_job(client, submitted.json()["id"])


async def test_template_syntax_in_data_is_output_literally(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await create_workflow(client, name="pass", definition=PASS_THROUGH)
    await deploy(client, "pass")
    await start_worker()
    data = "{{ 7 * 7 }} {% for x in range(3) %}{{ x }}{% endfor %} {{ ''.__class__.__mro__ }} {{ steps.first }}"
    job = await run_job(client, "pass", {"text": data})
    assert job["status"] == "completed", job
    assert job["output"] == {"first": {"raw": data, "said": f"said: {data}"}, "second": f"{data}!"}
    first, second = job["steps"]
    assert first["input"] == {"output": {"raw": data, "said": f"said: {data}"}}
    assert first["output"] == {"raw": data, "said": f"said: {data}"}
    assert second["output"] == {"again": data}


async def test_a_sandbox_refusal_fails_the_job_with_a_template_error(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    """Regression: `{{ x.__class__ }}` alone escaped as a raw SecurityError, failing the job as `internal_error`."""
    definition = {
        "steps": [
            {"id": "ok", "type": "transform", "output": 1},
            {"id": "escape", "type": "transform", "output": {"cls": "{{ inputs.s.__class__ }}"}},
        ]
    }
    await create_workflow(client, name="escape", definition=definition)
    await deploy(client, "escape")
    await start_worker()
    job = await run_job(client, "escape", {"s": "text"})
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "template_error"
    assert job["error"]["step"] == "escape"
    assert job["error"]["message"].startswith("$.steps[1].output.cls: ")
    assert "unsafe" in job["error"]["message"]
    steps = {s["id"]: s for s in job["steps"]}
    assert steps["ok"]["status"] == "completed"
    assert steps["escape"]["status"] == "failed"
    assert steps["escape"]["error"]["code"] == "template_error"


async def test_a_mutation_attempt_fails_the_job_and_changes_nothing(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    definition = {
        "steps": [
            {"id": "mutate", "type": "transform", "output": "{{ inputs.tags.append('x') }}"},
        ]
    }
    await create_workflow(client, name="mutate", definition=definition)
    await deploy(client, "mutate")
    await start_worker()
    job = await run_job(client, "mutate", {"tags": ["a"]})
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "template_error"
    assert job["inputs"] == {"tags": ["a"]}


async def test_a_missing_key_at_run_time_names_the_template(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    definition = {"steps": [{"id": "greet", "type": "transform", "output": {"text": "Hi {{ inputs.person.name }}"}}]}
    await create_workflow(client, name="missing", definition=definition)
    await deploy(client, "missing")
    await start_worker()
    job = await run_job(client, "missing", {"person": {"nickname": "Ada"}})
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "template_error"
    assert job["error"]["step"] == "greet"
    assert job["error"]["message"].startswith("$.steps[0].output.text: ")
    assert "'name'" in job["error"]["message"]


async def test_single_expressions_keep_their_types_in_a_job(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    definition = {
        "steps": [
            {
                "id": "shape",
                "type": "transform",
                "output": {
                    "n": "{{ inputs.n * 2 }}",
                    "rows": "{{ inputs.rows }}",
                    # `inputs.items` would be dict.items (Jinja tries attributes first): subscript instead.
                    "items": "{{ inputs['items'] }}",
                    "flag": "{{- inputs.n > 1 -}}",
                    "none": "{{ none }}",
                    "text": "n={{ inputs.n }}",
                },
            }
        ],
        "output": "{{ steps.shape.output }}",
    }
    await create_workflow(client, name="types", definition=definition)
    await deploy(client, "types")
    await start_worker()
    job = await run_job(client, "types", {"n": 2, "rows": [{"a": 1}, None], "items": ["x"]})
    assert job["status"] == "completed", job["error"]
    assert job["output"] == {
        "n": 4,
        "rows": [{"a": 1}, None],
        "items": ["x"],
        "flag": True,
        "none": None,
        "text": "n=2",
    }
