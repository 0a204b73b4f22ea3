"""The `tool` step through the API and a real worker: deploy-time checks with JSON paths, rendered args,
run-time failures (`tool_invalid_args`, `tool_error`), the step record, and `GET /v1/tools`."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from tests.apikeys.conftest import issue_key
from tests.conftest import WorkerFactory, wait_for_job
from tests.jobs.conftest import GREETER, deploy_workflow
from tests.workflows.conftest import assert_problem
from workflow_service.engine import tools
from workflow_service.engine.tools import Registry, Tool


class DivideArgs(BaseModel):
    a: float
    b: float


def divide(args: DivideArgs) -> float:
    return args.a / args.b  # b = 0 raises ZeroDivisionError: the step fails with tool_error


boom = Tool(name="test.divide", version="0.1.0", description="a / b", args=DivideArgs, fn=divide, pure=True)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """The installed tools plus `test.divide` and an entry point that fails to import."""
    broken = EntryPoint(name="broken", value="no_such_package_abc.tools:tool", group=tools.GROUP)
    registry = tools.load([*tools.discover(), broken])
    registry.add(boom)
    monkeypatch.setattr(tools, "registry", lambda: registry)
    return registry


async def run(client: httpx.AsyncClient, slug: str, inputs: dict[str, Any]) -> dict[str, Any]:
    submitted = await client.post(f"/v1/workflows/{slug}/versions/current/async", json={"inputs": inputs})
    assert submitted.status_code == 202, submitted.text
    return await wait_for_job(client, submitted.json()["id"], wait_s=20)


async def deploy_errors(client: httpx.AsyncClient, slug: str, steps: list[dict[str, Any]]) -> dict[str, str]:
    created = await client.post("/v1/workflows", json={"name": slug, "slug": slug, "definition": {"steps": steps}})
    assert created.status_code == 201, created.text
    problem = assert_problem(await client.post(f"/v1/workflows/{slug}/deploy"), 422, "invalid_definition")
    return {e["path"]: e["message"] for e in problem["errors"]}


async def test_split_then_json_path_with_rendered_args(
    client: httpx.AsyncClient, start_worker: WorkerFactory, registry: Registry
) -> None:
    definition = {
        "steps": [
            {"id": "split", "type": "tool", "tool": "text.split",
             "args": {"text": "{{ inputs.text }}", "separator": "{{ inputs.sep }}", "strip": True}},
            {"id": "shape", "type": "transform", "output": {"parts": "{{ steps.split.output }}"}},
            {"id": "second", "type": "tool", "tool": "json.path", "version": "1.0.0",
             "args": {"data": "{{ steps.shape.output }}", "path": "$.parts[{{ inputs.n }}]"}},
        ],
        "output": {"chunks": "{{ steps.split.output }}", "picked": "{{ steps.second.output }}"},
    }  # fmt: skip
    await deploy_workflow(client, "chunks", definition)
    await start_worker()

    job = await run(client, "chunks", {"text": "alpha; beta ;gamma", "sep": ";", "n": 1})

    assert job["status"] == "completed", job["error"]
    assert job["output"] == {"chunks": ["alpha", "beta", "gamma"], "picked": "beta"}
    split, _, second = job["steps"]
    assert split["detail"] == {"tool": "text.split", "version": "1.0.0", "pure": True}
    assert split["input"] == {"args": {"text": "alpha; beta ;gamma", "separator": ";", "strip": True}}
    assert second["input"]["args"]["path"] == "$.parts[1]"


async def test_unknown_tool_version_and_static_bad_args_are_422_at_deploy(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    errors = await deploy_errors(client, "bad", [
        {"id": "a", "type": "tool", "tool": "text.splitter", "args": {}},
        {"id": "b", "type": "tool", "tool": "text.split", "version": "2.0.0", "args": {"text": "x", "size": 2}},
        {"id": "c", "type": "tool", "tool": "text.split", "args": {"text": "x", "size": -1, "extra": 1}},
        {"id": "d", "type": "tool", "tool": "regex.extract", "args": {"text": "{{ inputs.t }}", "pattern": "(a*)*"}},
        {"id": "e", "type": "tool", "tool": "json.path", "args": {"data": "{{ inputs }}", "path": "{{ inputs.p }}"}},
    ])  # fmt: skip

    assert set(errors) == {
        "$.steps[0].tool", "$.steps[1].version", "$.steps[2].args.size", "$.steps[2].args.extra",
        "$.steps[3].args.pattern",
    }  # fmt: skip
    assert "text.split" in errors["$.steps[0].tool"]  # lists what exists
    assert "versions: 1.0.0" in errors["$.steps[1].version"]
    assert "nested quantifiers" in errors["$.steps[3].args.pattern"]


async def test_rendered_args_that_do_not_validate_fail_with_tool_invalid_args(
    client: httpx.AsyncClient, start_worker: WorkerFactory, registry: Registry
) -> None:
    definition = {"steps": [{"id": "split", "type": "tool", "tool": "text.split",
                             "args": {"text": "abc", "size": "{{ inputs.size }}"}}]}  # fmt: skip
    await deploy_workflow(client, "sizes", definition)
    await start_worker()

    good, bad = await run(client, "sizes", {"size": 2}), await run(client, "sizes", {"size": "big"})

    assert good["output"] == ["ab", "c"]
    assert bad["status"] == "failed"
    assert bad["error"]["code"] == "tool_invalid_args"
    assert bad["error"]["step"] == "split"
    assert "args.size" in bad["error"]["message"]


async def test_an_exception_in_the_tool_fails_the_step_with_tool_error(
    client: httpx.AsyncClient, start_worker: WorkerFactory, registry: Registry
) -> None:
    definition = {"steps": [
        {"id": "div", "type": "tool", "tool": "test.divide", "args": {"a": 1, "b": "{{ inputs.b }}"},
         "on_error": {"default": "n/a"}},
        {"id": "after", "type": "transform", "output": "{{ steps.div.output }}"},
    ]}  # fmt: skip
    await deploy_workflow(client, "divide", definition)
    await start_worker()

    ok, failed = await run(client, "divide", {"b": 4}), await run(client, "divide", {"b": 0})

    assert ok["output"] == 0.25
    assert failed["status"] == "completed"  # on_error default: the job carries on
    assert failed["output"] == "n/a"
    step = failed["steps"][0]
    assert step["status"] == "failed"
    assert step["error"]["code"] == "tool_error"
    assert step["error"]["message"] == "test.divide@0.1.0: ZeroDivisionError: float division by zero"


async def test_get_tools_lists_tools_and_load_errors_for_the_admin_only(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    response = await client.get("/v1/tools")

    assert response.status_code == 200, response.text
    body = response.json()
    by_key = {f"{t['name']}@{t['version']}": t for t in body["items"]}
    assert {"text.split@1.0.0", "json.path@1.0.0", "regex.extract@1.0.0", "test.divide@0.1.0"} <= set(by_key)
    split = by_key["text.split@1.0.0"]
    assert split["pure"] is True
    assert split["description"]
    assert split["args_schema"]["required"] == ["text"]
    assert set(split["args_schema"]["properties"]) >= {"text", "size", "overlap", "separator"}
    assert body["errors"] == [{"entry_point": "broken", "value": "no_such_package_abc.tools:tool",
                               "error": "ModuleNotFoundError: No module named 'no_such_package_abc'"}]  # fmt: skip

    await deploy_workflow(client, "greeter", GREETER)
    key = (await issue_key(client, "greeter"))["key"]
    assert_problem(await client.get("/v1/tools", headers={"Authorization": f"Bearer {key}"}), 403, "forbidden")
