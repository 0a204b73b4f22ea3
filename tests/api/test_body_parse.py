"""A body the API cannot parse is a 400 `malformed_body` at `$` on every route that reads one, saying where it
stops parsing: a JSON syntax error (at a line, column and character offset), bytes that are not UTF-8, nesting
deeper than the parser goes (which FastAPI would answer with an undocumented 400, or, read by the NUL check on a
route without a body, a 500). Each operation with a body documents the 400."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.jobs.conftest import GREETER, deploy_workflow, submit

JSON = {"Content-Type": "application/json"}
NOT_UTF8 = b'{"inputs": {"name": "\xff\xfe"}}'
DEPTH = 5000
TOO_DEEP = b'{"inputs": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"
TOO_DEEP_WITH_NUL = b"[" * DEPTH + b'"\\u0000"' + b"]" * DEPTH
BROKEN = b'{\n  "inputs": {\n    "name" "Ada"\n  }\n}'
"""A colon missing on line 3: the parser stops at its 12th character (27 into the body)."""


def _assert_invalid_body(response: httpx.Response, words: str, **where: int) -> dict[str, Any]:
    assert response.status_code == 400, (response.request.url, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["code"] == "malformed_body"
    assert problem["type"] == "urn:workflow-service:problem:malformed_body"
    assert problem["errors"] == [{"path": "$", "message": problem["errors"][0]["message"], **where}]
    assert words in problem["errors"][0]["message"], problem
    assert words in problem["detail"], problem
    return problem


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
async def test_a_body_that_is_not_utf8_is_a_400(client: httpx.AsyncClient, method: str, path: str) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    response = await client.request(method, path, content=NOT_UTF8, headers=JSON)
    _assert_invalid_body(response, "not UTF-8", line=1, column=22, offset=21)
    assert "byte 21" in response.json()["detail"]
    assert "at line 1, column 22 (character 21)" in response.json()["detail"]


async def test_a_body_nested_too_deeply_is_a_400(client: httpx.AsyncClient) -> None:
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


async def test_a_json_syntax_error_is_a_400_at_its_line_and_column(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    response = await client.post("/v1/workflows/greeter/versions/current/async", content=BROKEN, headers=JSON)
    problem = _assert_invalid_body(response, "not valid JSON", line=3, column=12, offset=27)
    assert problem["errors"][0]["message"] == "the body is not valid JSON: Expecting ':' delimiter"
    assert problem["detail"] == (
        "the body is not valid JSON: Expecting ':' delimiter at line 3, column 12 (character 27)"
    )
    assert problem["instance"] == "/v1/workflows/greeter/versions/current/async"
    assert (await client.get("/v1/jobs")).json()["items"] == []  # nothing was submitted


async def test_every_operation_with_a_body_answers_and_documents_the_400(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    job = await submit(client, "greeter", {"name": "Ada"})
    values = {
        "workflow": "greeter",
        "version": "current",
        "job_id": job["id"],
        "name": "NAME",
        "user_id": str(uuid.uuid4()),
    }
    trigger = {"type": "webhook", "name": "events", "auth": "bearer"}
    made = (await client.post("/v1/workflows/greeter/triggers", json=trigger)).json()
    values["trigger_id"] = made["id"]
    schedule = {"interval": 3600, "inputs": {"name": "Ada"}}
    values["schedule_id"] = (await client.post("/v1/workflows/greeter/schedules", json=schedule)).json()["id"]
    as_sender = {**JSON, "Authorization": f"Bearer {made['secret']}"}  # an event authenticates by its trigger's token
    schema = (await client.get("/openapi.json")).json()
    with_body = [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]
    assert len(with_body) >= 11
    for method, path, operation in with_body:
        assert operation["responses"]["400"]["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }, path
        concrete = re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], path)
        if "multipart/form-data" in operation["requestBody"]["content"]:  # a package upload
            form = {"Content-Type": "multipart/form-data; boundary=x"}
            response = await client.request(
                method, concrete, content=b"--x\r\nX-Part: no disposition\r\n\r\nhi\r\n--x--\r\n", headers=form
            )
            _assert_invalid_body(response, "not valid multipart/form-data")
            continue
        headers = as_sender if path.startswith("/v1/hooks/") else JSON
        response = await client.request(method, concrete, content=b'{"inputs": ', headers=headers)
        _assert_invalid_body(response, "not valid JSON", line=1, column=12, offset=11)
    without_body = [op for item in schema["paths"].values() for op in item.values() if "requestBody" not in op]
    assert without_body
    assert all("400" not in op["responses"] for op in without_body)


async def test_the_problem_schema_documents_where(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    items = schema["components"]["schemas"]["Problem"]["properties"]["errors"]
    item = schema["components"]["schemas"][items["anyOf"][0]["items"]["$ref"].rsplit("/", 1)[1]]
    assert {"path", "message", "line", "column", "offset"} <= set(item["properties"])
    assert item["required"] == ["path", "message"]
