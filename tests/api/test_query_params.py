"""Unknown query parameters are a 422 naming each one, on every route; declared ones work as documented."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from tests.jobs.conftest import GREETER, deploy_workflow, submit
from workflow_service.app import create_app
from workflow_service.config import Settings
from workflow_service.query_params import declared_query_params


def _unknown(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, (response.request.method, response.request.url, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["code"] == "invalid_request"
    errors: list[dict[str, Any]] = problem["errors"]
    return errors


async def test_a_list_route_names_each_unknown_parameter(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    await submit(client, "greeter", {"name": "Ada"})
    errors = _unknown(await client.get("/v1/jobs", params={"search": "Ada", "workflow": "greeter", "name": "x"}))
    assert [e["path"] for e in errors] == ["query:search", "query:name"]
    assert "unknown query parameter" in errors[0]["message"]
    for name in ("cursor", "limit", "pool", "q", "sort", "status", "workflow"):
        assert name in errors[0]["message"], errors[0]  # says what the route does accept
    errors = _unknown(await client.get("/v1/workflows", params={"name": "greeter"}))
    assert [e["path"] for e in errors] == ["query:name"]


async def test_a_route_without_query_parameters_refuses_any(client: httpx.AsyncClient) -> None:
    errors = _unknown(await client.get("/v1/tools", params={"verbose": "1"}))
    assert errors == [{"path": "query:verbose", "message": "unknown query parameter; this route accepts none"}]
    assert _unknown(await client.get("/healthz?probe"))[0]["path"] == "query:probe"


async def test_every_operation_refuses_an_unknown_parameter(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    schema = (await client.get("/openapi.json")).json()
    operations = [(m.upper(), p) for p, item in schema["paths"].items() for m in item]
    assert len(operations) >= 30
    for method, path in operations:
        response = await client.request(method, re.sub(r"\{[^}]+\}", "greeter", path), params={"unexpected": "1"})
        assert [e["path"] for e in _unknown(response)] == ["query:unexpected"]


async def test_declared_parameters_still_work(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    job = await submit(client, "greeter", {"name": "Ada"})
    listed = await client.get(
        "/v1/jobs", params={"workflow": "greeter", "status": "pending", "pool": "default", "limit": 5}
    )
    assert listed.status_code == 200, listed.text
    assert [j["id"] for j in listed.json()["items"]] == [job["id"]]
    assert (await client.get("/v1/workflows", params={"limit": 1})).status_code == 200
    assert (await client.get("/v1/agents", params={"status": "online"})).status_code == 200
    light = await client.get(f"/v1/jobs/{job['id']}", params={"steps": "false"})
    assert light.status_code == 200, light.text
    assert light.json()["steps"] is None


async def test_the_documented_query_parameters_are_the_accepted_ones(settings: Settings) -> None:
    """What the check accepts is what the contract documents, route by route (a parameter declared for a future
    feature is accepted once it is declared, with no list to keep)."""
    app = create_app(settings)
    schema = app.openapi()
    documented = {
        (path, method.upper()): sorted(p["name"] for p in op.get("parameters", []) if p["in"] == "query")
        for path, item in schema["paths"].items()
        for method, op in item.items()
    }
    assert documented[("/v1/jobs", "GET")] == [
        "created_by",
        "created_from",
        "created_to",
        "cursor",
        "finished_from",
        "finished_to",
        "limit",
        "max_duration_s",
        "min_duration_s",
        "origin",
        "pool",
        "q",
        "scope",
        "sort",
        "status",
        "version",
        "workflow",
    ]
    assert documented[("/v1/jobs/{job_id}", "GET")] == ["steps"]
    routes = [r for r in iter_route_contexts(app.routes) if isinstance(r.original_route, APIRoute) and r.path_format]
    assert len(routes) >= 30
    for route in routes:
        assert isinstance(route.original_route, APIRoute)
        if (route.path_format or "").startswith("/ui"):
            continue  # the dashboard's pages: not the contract's
        for method in route.methods or ():
            declared = sorted(declared_query_params(route.original_route.dependant))
            assert declared == documented[(route.path_format, method)], (method, route.path_format)


@pytest.mark.parametrize("query", ["", "?", "?steps=true&steps=false"])
async def test_no_or_repeated_declared_parameters_are_fine(client: httpx.AsyncClient, query: str) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    job = await submit(client, "greeter", {"name": "Ada"})
    response = await client.get(f"/v1/jobs/{job['id']}{query}")
    assert response.status_code == 200, response.text
