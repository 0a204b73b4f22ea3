"""A body sent without a JSON Content-Type (curl's `-d` sends `application/x-www-form-urlencoded`) is a 415 that
says what to send, on every operation with a body, instead of "Input should be a valid dictionary"; routes
without a body do not look at it."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from tests.conftest import TOKEN, connections
from tests.jobs.conftest import GREETER, deploy_workflow, submit
from workflow_service.config import Settings

FORM = "application/x-www-form-urlencoded"
BODY = b'{"inputs": {"name": "Ada"}}'


def _assert_unsupported(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 415, (response.request.method, response.request.url, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["code"] == "unsupported_media_type"
    assert problem["type"] == "urn:workflow-service:problem:unsupported_media_type"
    expected = "application/json or application/yaml"
    assert f"send the body as {expected}" in problem["detail"], problem
    assert problem["errors"] == [{"path": "header:content-type", "message": f"expected {expected}"}]
    return problem


TRIGGER = {"type": "webhook", "name": "events", "auth": "bearer"}


async def _body_operations(client: httpx.AsyncClient) -> list[tuple[str, str, dict[str, Any]]]:
    """Every operation with a request body, its path filled with objects that exist (the client is given the token
    of the trigger it fills in, for the hook)."""
    await deploy_workflow(client, "greeter", GREETER)
    job = await submit(client, "greeter", {"name": "Ada"})
    trigger = (await client.post("/v1/workflows/greeter/triggers", json=TRIGGER)).json()
    client.headers["X-Trigger-Token"] = f"Bearer {trigger['secret']}"
    schedule = {"interval": 3600, "inputs": {"name": "Ada"}}
    schedule = (await client.post("/v1/workflows/greeter/schedules", json=schedule)).json()
    values = {
        "workflow": "greeter",
        "version": "current",
        "job_id": job["id"],
        "name": "NAME",
        "user_id": str(uuid.uuid4()),
        "trigger_id": trigger["id"],
        "schedule_id": schedule["id"],
    }
    schema = (await client.get("/openapi.json")).json()
    return [
        (method.upper(), re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], path), operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]


async def test_a_form_encoded_body_is_a_415_saying_to_send_json(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    response = await client.post(
        "/v1/workflows/greeter/versions/current/async", content=BODY, headers={"Content-Type": FORM}
    )
    problem = _assert_unsupported(response)
    assert problem["detail"].endswith(f"this one was sent as {FORM}")
    assert problem["instance"] == "/v1/workflows/greeter/versions/current/async"
    assert (await client.get("/v1/jobs")).json()["items"] == []  # nothing was submitted


async def test_a_body_without_content_type_is_a_415(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    response = await client.post("/v1/workflows/greeter/versions/current/sync", content=BODY)
    assert "content-type" not in response.request.headers
    problem = _assert_unsupported(response)
    assert problem["detail"].endswith("this one had no Content-Type")


async def test_every_operation_with_a_body_answers_and_documents_the_415(client: httpx.AsyncClient) -> None:
    operations = await _body_operations(client)
    assert len(operations) >= 11
    for method, path, operation in operations:
        assert operation["responses"]["415"]["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }, path
        if "multipart/form-data" in operation["requestBody"]["content"]:  # a package upload: a form only
            response = await client.request(method, path, content=BODY, headers={"Content-Type": "text/plain"})
            assert response.status_code == 415, (path, response.text)
            assert response.json()["errors"] == [
                {"path": "header:content-type", "message": "expected multipart/form-data"}
            ]
            continue
        assert "application/json" in operation["requestBody"]["content"], path
        if path.startswith("/v1/hooks/"):  # an event, sent with its trigger's token: JSON only (not YAML)
            token = client.headers["X-Trigger-Token"]
            headers = {"Content-Type": "text/plain", "Authorization": token}
            problem = (await client.request(method, path, content=BODY, headers=headers)).json()
            assert (problem["status"], problem["code"]) == (415, "unsupported_media_type"), problem
            assert problem["errors"] == [{"path": "header:content-type", "message": "expected application/json"}]
            continue
        response = await client.request(method, path, content=BODY, headers={"Content-Type": "text/plain"})
        _assert_unsupported(response)


async def test_the_yaml_it_names_is_read(client: httpx.AsyncClient) -> None:
    """Where YAML is the form a reader would write (a workflow and its definition), the 415's alternative works."""
    yaml_body = b"name: Greeter\ndefinition:\n  steps: []\n"
    _assert_unsupported(await client.post("/v1/workflows", content=yaml_body, headers={"Content-Type": FORM}))
    created = await client.post("/v1/workflows", content=yaml_body, headers={"Content-Type": "application/yaml"})
    assert created.status_code == 201, created.text
    assert created.json()["slug"] == "greeter"


async def test_json_types_and_empty_bodies_are_not_refused(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    url = "/v1/workflows/greeter/versions/current/async"
    for ctype in ("application/json; charset=utf-8", "application/vnd.example+json"):
        response = await client.post(url, content=BODY, headers={"Content-Type": ctype})
        assert response.status_code == 202, (ctype, response.text)
    # `curl -X POST -d ''`: no body at all is the body's absence, as with no Content-Type.
    empty = await client.post(url, content=b"", headers={"Content-Type": FORM})
    assert empty.status_code == 422, empty.text
    assert empty.json()["errors"] == [{"path": "$", "message": "Field required"}]


async def test_routes_without_a_body_ignore_its_type(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "greeter", GREETER)
    job = await submit(client, "greeter", {"name": "Ada"})
    headers = {"Content-Type": FORM}
    validated = await client.post("/v1/workflows/greeter/validate", content=b"x=1", headers=headers)
    assert validated.status_code == 200, validated.text
    canceled = await client.post(f"/v1/jobs/{job['id']}/cancel", content=b"x=1", headers=headers)
    assert canceled.status_code == 200, canceled.text


async def test_a_caller_refused_the_route_is_refused_before_its_body_is_read(settings: Settings) -> None:
    async with connections(settings) as connect:
        admin = connect(TOKEN)
        await deploy_workflow(admin, "greeter", GREETER)
        created = await admin.post("/v1/workflows/greeter/api-keys", json={"name": "k"})
        assert created.status_code == 201, created.text
        response = await connect(created.json()["key"]).post(
            "/v1/workflows", content=BODY, headers={"Content-Type": FORM}
        )
        assert response.status_code == 403, response.text
