"""Template limits through the real processes: a runaway template fails its job with `template_limit`
while the same worker keeps heartbeating and runs other jobs, and deploying never evaluates a template."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.conftest import WorkerFactory, eventually, wait_for_job
from tests.jobs.conftest import deploy_workflow, submit

# inputs.n ** 2 iterations of a loop body with two operators; with n = 2000, well over the 5 s time limit the
# test sets on any machine (and tens of seconds of a blocked event loop before templates were bounded).
RUNAWAY: dict[str, Any] = {
    "steps": [
        {
            "id": "spin",
            "type": "transform",
            "output": "{% set ns = namespace(n=0) %}{% for i in range(inputs.n) %}{% for j in range(inputs.n) %}"
            "{% set ns.n = ns.n + i * j %}{% endfor %}{% endfor %}{{ ns.n }}",
        }
    ],
}
QUICK: dict[str, Any] = {"steps": [{"id": "echo", "type": "transform", "output": {"n": "{{ inputs.n }}"}}]}


async def job_status(client: httpx.AsyncClient, job_id: str) -> str:
    response = await client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


async def heartbeat_of_the_only_agent(client: httpx.AsyncClient) -> str | None:
    agents = (await client.get("/v1/agents")).json()["items"]
    online = [a for a in agents if a["status"] == "online"]
    return online[0]["last_heartbeat_at"] if len(online) == 1 else None


async def test_a_runaway_template_fails_with_template_limit_while_the_worker_keeps_going(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy_workflow(client, "runaway", RUNAWAY)
    await deploy_workflow(client, "quick", QUICK)
    # Time is the limit that stops the runaway here (not iterations), so it keeps rendering for a while.
    await start_worker(concurrency=4, heartbeat_s=0.2, template_time_limit_s=5.0, template_max_iterations=10**9)
    await eventually(lambda: heartbeat_of_the_only_agent(client), "the worker registering", wait_s=20.0)

    runaway = await submit(client, "runaway", {"n": 2000})
    await eventually(lambda: _is(client, runaway["id"], "running"), "the runaway job starting", wait_s=20.0)
    beat_at_start = await heartbeat_of_the_only_agent(client)

    # Another job on the same worker completes while the runaway template is still rendering.
    quick = await submit(client, "quick", {"n": 5})
    done = await wait_for_job(client, quick["id"], wait_s=20.0)
    assert done["status"] == "completed", done
    assert done["output"] == {"n": 5}
    assert await job_status(client, runaway["id"]) == "running", "the quick job waited for the runaway one"

    # ... and the worker's heartbeat kept going meanwhile.
    async def beat_advanced() -> bool:
        beat = await heartbeat_of_the_only_agent(client)
        return beat is not None and beat_at_start is not None and beat > beat_at_start

    await eventually(beat_advanced, "a heartbeat during the runaway render", wait_s=3.0)
    assert await job_status(client, runaway["id"]) == "running"

    failed = await wait_for_job(client, runaway["id"], wait_s=30.0)
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "template_limit"
    assert failed["error"]["step"] == "spin"
    assert failed["error"]["message"].startswith("$.steps[0].output: ")
    assert "WFS_TEMPLATE_TIME_LIMIT_S" in failed["error"]["message"]
    assert failed["attempt"] == 1, "the runaway job lost its lease and ran again"


async def _is(client: httpx.AsyncClient, job_id: str, status: str) -> bool:
    return await job_status(client, job_id) == status


async def test_a_template_building_a_huge_string_fails_its_job_without_allocating_it(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    definition = {"steps": [{"id": "grow", "type": "transform", "output": '{{ ("x" * inputs.n) | length }}'}]}
    await deploy_workflow(client, "grow", definition)
    await start_worker()
    job = await submit(client, "grow", {"n": 2_000_000_000})
    failed = await wait_for_job(client, job["id"], wait_s=20.0)
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "template_limit"
    assert failed["error"]["message"].startswith("$.steps[0].output: `*` would be larger than 1000000")
    assert "WFS_TEMPLATE_MAX_SIZE" in failed["error"]["message"]


GROW = "('x' * inputs.n) | length > 0"


@pytest.mark.parametrize(
    ("definition", "step", "path"),
    [
        ({"steps": [{"id": "gate", "type": "transform", "when": GROW, "output": 1}]}, "gate", "$.steps[0].when"),
        ({"steps": [{"id": "check", "type": "condition", "if": GROW, "then": "end"}]}, "check", "$.steps[0].if"),
        (
            {"steps": [{"id": "one", "type": "transform", "output": 1}], "output": "{{ range(inputs.n) }}"},
            None,
            "$.output",
        ),
    ],
    ids=["when", "condition", "output"],
)
async def test_every_template_of_a_definition_is_bounded(
    client: httpx.AsyncClient, start_worker: WorkerFactory, definition: dict[str, Any], step: str | None, path: str
) -> None:
    await deploy_workflow(client, "bounded", definition)
    await start_worker()
    job = await submit(client, "bounded", {"n": 2_000_000_000})
    failed = await wait_for_job(client, job["id"], wait_s=20.0)
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "template_limit"
    assert failed["error"]["step"] == step
    assert failed["error"]["message"].startswith(f"{path}: ")


@pytest.mark.parametrize(
    "expression",
    ["9**(9**7)", "'x' | center(2000000000)", "'x' * 2000000000", "[1] * 2000000000", "9**(9**7) ~ 'x'"],
)
async def test_deploying_never_evaluates_a_template(client: httpx.AsyncClient, expression: str) -> None:
    definition = {
        "steps": [
            {"id": "when", "type": "transform", "when": expression, "output": "{{ " + expression + " }}"},
            {"id": "branch", "type": "condition", "if": expression, "then": "last"},
            {"id": "last", "type": "transform", "output": {"x": "n = {{ " + expression + " }}"}},
        ],
        "output": "{{ " + expression + " }}",
    }
    created = await client.post("/v1/workflows", json={"name": "big", "slug": "big", "definition": definition})
    assert created.status_code == 201, created.text
    started = time.monotonic()
    validated = await asyncio.wait_for(client.post("/v1/workflows/big/validate"), 20.0)
    assert validated.status_code == 200, validated.text
    assert validated.json() == {"valid": True, "problems": []}
    deployed = await asyncio.wait_for(client.post("/v1/workflows/big/deploy"), 20.0)
    assert deployed.status_code == 201, deployed.text
    assert time.monotonic() - started < 3.0, "validating and deploying evaluated the template"


async def test_an_integer_literal_too_long_is_a_problem_with_its_path(client: httpx.AsyncClient) -> None:
    template = "{{ " + "9" * 5000 + " }}"
    definition = {"steps": [{"id": "big", "type": "transform", "output": {"n": template}}]}
    created = await client.post("/v1/workflows", json={"name": "big", "slug": "big", "definition": definition})
    assert created.status_code == 201, created.text
    deployed = await client.post("/v1/workflows/big/deploy")
    assert deployed.status_code == 422, deployed.text
    assert deployed.headers["content-type"].startswith("application/problem+json")
    errors = deployed.json()["errors"]
    assert [e["path"] for e in errors] == ["$.steps[0].output.n"]
    assert errors[0]["message"].startswith("template syntax error")
