"""A JSON body the API cannot decode is a 422 `invalid_request` at `$` on every route that reads one, like a JSON
syntax error: bytes that are not UTF-8 and nesting deeper than the parser goes, which FastAPI would answer with
an undocumented 400 (or, read by the NUL check on a route without a body, a 500)."""

from __future__ import annotations

import httpx
import pytest

from tests.jobs.conftest import GREETER, deploy_workflow, submit

JSON = {"Content-Type": "application/json"}
NOT_UTF8 = b'{"inputs": {"name": "\xff\xfe"}}'
DEPTH = 5000
TOO_DEEP = b'{"inputs": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"
TOO_DEEP_WITH_NUL = b"[" * DEPTH + b'"\\u0000"' + b"]" * DEPTH


def _assert_invalid_body(response: httpx.Response, words: str) -> None:
    assert response.status_code == 422, (response.request.url, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_request"
    assert problem["errors"] == [{"path": "$", "message": problem["errors"][0]["message"]}]
    assert words in problem["errors"][0]["message"], problem
    assert words in problem["detail"], problem


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/workflows/greeter/versions/current/async"),
        ("POST", "/v1/workflows"),
        ("PUT", "/v1/workflows/greeter/draft"),
        ("PATCH", "/v1/workflows/greeter/settings"),
        ("PUT", "/v1/workflows/greeter/env/NAME"),
        ("POST", "/v1/workflows/greeter/api-keys"),
    ],
)
async def test_a_body_that_is_not_utf8_is_a_422(client: httpx.AsyncClient, method: str, path: str) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    response = await client.request(method, path, content=NOT_UTF8, headers=JSON)
    _assert_invalid_body(response, "not UTF-8")
    assert "byte 21" in response.json()["detail"]


async def test_a_body_nested_too_deeply_is_a_422(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    response = await client.post("/v1/workflows/greeter/versions/current/async", content=TOO_DEEP, headers=JSON)
    _assert_invalid_body(response, "nested too deeply")
    listed = await client.get("/v1/jobs")
    assert listed.status_code == 200
    assert listed.json()["items"] == []  # nothing was submitted


async def test_a_deep_body_with_a_nul_on_a_route_without_a_body(client: httpx.AsyncClient) -> None:
    """The NUL check reads the body of every route; one it cannot parse is left to the route, which has no body."""
    await deploy_workflow(client, "greeter", GREETER)
    job = await submit(client, "greeter", {"name": "Ada"})
    response = await client.post("/v1/workflows/greeter/validate", content=TOO_DEEP_WITH_NUL, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["valid"] is True
    canceled = await client.post(f"/v1/jobs/{job['id']}/cancel", content=TOO_DEEP_WITH_NUL, headers=JSON)
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
