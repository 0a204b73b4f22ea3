"""U+0000 at the API: PostgreSQL stores it in neither text nor JSONB, so every route refuses it with a 422 that
names the field (path and query parameters, JSON bodies at any depth), instead of a 500 from the database."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.jobs.conftest import GREETER, deploy_workflow

NUL = "\x00"
EVENTS = {"type": "webhook", "name": "events", "auth": "bearer"}
"""A trigger of greeter whose events are the jobs' inputs (the default mapping)."""


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def _assert_names(response: httpx.Response, *paths: str) -> None:
    assert response.status_code == 422, (response.request.method, response.request.url, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_request"
    named = [item["path"] for item in problem["errors"]]
    for path in paths:
        assert path in named, (response.request.url, named)
    assert "NUL" in problem["detail"]


@pytest.fixture
async def schema(client: httpx.AsyncClient) -> dict[str, Any]:
    await deploy_workflow(client, "greeter", GREETER)
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


async def test_every_route_refuses_nul_in_a_query_parameter(client: httpx.AsyncClient, schema: dict[str, Any]) -> None:
    operations = _operations(schema)
    assert len(operations) >= 30  # every operation of the API is tried
    for method, path, _ in operations:
        response = await client.request(method, _fill(path, "greeter"), params={"probe": f"a{NUL}b"}, json=None)
        _assert_names(response, "query:probe")


async def test_a_declared_query_parameter_is_named(client: httpx.AsyncClient, schema: dict[str, Any]) -> None:
    response = await client.get("/v1/jobs", params={"pool": f"default{NUL}", "workflow": "greeter"})
    _assert_names(response, "query:pool")
    response = await client.get("/v1/jobs", params={"status": ["pending", f"x{NUL}"]})
    _assert_names(response, "query:status")


async def test_every_route_refuses_nul_in_a_path_parameter(client: httpx.AsyncClient, schema: dict[str, Any]) -> None:
    with_params = [op for op in _operations(schema) if "{" in op[1]]
    assert with_params
    for method, path, _ in with_params:
        for name in re.findall(r"\{([^}]+)\}", path):
            concrete = _fill(path.replace("{" + name + "}", "a%00b"), "greeter")
            response = await client.request(method, concrete)
            _assert_names(response, f"path:{name}")


async def test_every_route_with_a_json_body_refuses_nul_at_any_depth(
    client: httpx.AsyncClient, schema: dict[str, Any]
) -> None:
    with_body = [op for op in _operations(schema) if "requestBody" in op[2]]
    assert len(with_body) >= 10
    body = {"inputs": {"name": "ok", "deep": {"list": [1, f"x{NUL}y"]}}, f"key{NUL}": 1}
    trigger = (await client.post("/v1/workflows/greeter/triggers", json=EVENTS)).json()
    for method, path, _ in with_body:
        if path.startswith("/v1/hooks/"):
            # An event is read by its trigger's mapping (here the whole event is the job's inputs): what would be
            # stored is refused, named where the job would hold it.
            token = {"Authorization": f"Bearer {trigger['secret']}"}
            response = await client.request(method, path.format(trigger_id=trigger["id"]), json=body, headers=token)
            assert response.status_code == 422, response.text
            named = [item["path"] for item in response.json()["errors"]]
            assert set(named) == {"$.inputs.inputs.deep.list[1]", '$.inputs["key\\u0000"]'}, named
            continue
        response = await client.request(method, _fill(path, "greeter"), json=body)
        _assert_names(response, "$.inputs.deep.list[1]", '$["key\\u0000"]')


async def test_submission_with_nul_is_refused_and_nothing_is_stored(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    for body in ({"inputs": {"name": f"Ada{NUL}"}}, {"inputs": {"name": "Ada"}, "metadata": {"m": [f"{NUL}"]}}):
        response = await client.post("/v1/workflows/greeter/versions/current/async", json=body)
        _assert_names(response, "$.inputs.name" if "metadata" not in body else "$.metadata.m[0]")
    assert (await client.get("/v1/jobs")).json()["items"] == []


async def test_a_yaml_body_with_nul_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/workflows",
        content=b'name: "nul\\0here"\nslug: nul\ndefinition: {steps: []}\n',
        headers={"Content-Type": "application/yaml"},
    )
    _assert_names(response, "$.name")


async def test_escaped_backslash_u0000_text_is_accepted_as_text(client: httpx.AsyncClient) -> None:
    """A literal backslash followed by `u0000` is six ordinary characters, stored and returned as sent."""
    await deploy_workflow(client, "greeter", GREETER)
    text = "C:\\u0000 is a path"
    response = await client.post("/v1/workflows/greeter/versions/current/async", json={"inputs": {"name": text}})
    assert response.status_code == 202, response.text
    job = (await client.get(f"/v1/jobs/{response.json()['id']}")).json()
    assert job["inputs"]["name"] == text
