"""Request bodies: authenticated before they are read, and refused with 413 once past WFS_MAX_BODY_BYTES
(from Content-Length up front, by counting for chunked bodies), never read further than the limit.

The app runs over ASGI here; httpx's ASGI transport hands the app one chunk of the body each time it
asks, so counting the chunks the body generator gave out shows how much of the body the app read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from tests.api.conftest import BODY_LIMIT
from tests.conftest import TOKEN
from tests.jobs.conftest import GREETER, deploy_workflow
from workflow_service.packages.reader import UPLOAD_BODY_BYTES

CHUNK = 8 * 1024
JSON = "application/json"
PACKAGE_PART = b'--x\r\nContent-Disposition: form-data; name="package"; filename="p.zip"\r\n\r\nPK'
"""The start of a multipart body whose file part then goes on and on."""
PACKAGE_LIMIT = "a package of at most 5 MiB, and the upload's fields"
SUBMIT = "/v1/workflows/greeter/versions/current/async"


class Body:
    """A chunked request body of `total` bytes that counts how much of it was read."""

    def __init__(self, total: int, prefix: bytes = b"") -> None:
        self.total, self.prefix, self.read = total, prefix, 0

    async def stream(self) -> AsyncIterator[bytes]:
        data = self.prefix
        while self.read < self.total:
            chunk = (data or b"") + b" " * (CHUNK - len(data or b""))
            data = b""
            self.read += len(chunk)
            yield chunk


def assert_too_large(
    response: httpx.Response, path: str, limit: int = BODY_LIMIT, why: str = "WFS_MAX_BODY_BYTES"
) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["connection"] == "close"
    problem = response.json()
    assert problem == {
        "type": "urn:workflow-service:problem:payload_too_large",
        "title": "Payload too large",
        "status": 413,
        "detail": f"request bodies are limited to {limit} bytes ({why})",
        "code": "payload_too_large",
        "instance": path,
        "limit": limit,
    }


def big_submission(size: int) -> bytes:
    return orjson.dumps({"inputs": {"name": "x" * size}})


@pytest.fixture
async def greeter(client: httpx.AsyncClient) -> None:
    await deploy_workflow(client, "greeter", GREETER)


async def test_a_body_over_the_limit_by_content_length_is_refused_unread(
    client: httpx.AsyncClient, greeter: None
) -> None:
    body = Body(BODY_LIMIT * 4)
    response = await client.post(
        SUBMIT,
        content=body.stream(),
        headers={"Content-Length": str(BODY_LIMIT * 4), "Content-Type": "application/json"},
    )
    assert_too_large(response, SUBMIT)
    assert body.read == 0
    assert (await client.get("/v1/jobs")).json()["items"] == []


async def test_a_chunked_body_is_read_no_further_than_the_limit(client: httpx.AsyncClient, greeter: None) -> None:
    body = Body(BODY_LIMIT * 50, prefix=b'{"inputs": {"name": "')
    response = await client.post(SUBMIT, content=body.stream(), headers={"Content-Type": "application/json"})
    assert_too_large(response, SUBMIT)
    assert BODY_LIMIT < body.read <= BODY_LIMIT + CHUNK
    assert (await client.get("/v1/jobs")).json()["items"] == []


async def test_a_yaml_body_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    body = Body(BODY_LIMIT * 50, prefix=b"name: big\nslug: big\ndefinition: {steps: []}\ndescription: ")
    response = await client.post("/v1/workflows", content=body.stream(), headers={"Content-Type": "application/yaml"})
    assert_too_large(response, "/v1/workflows")
    assert body.read <= BODY_LIMIT + CHUNK


async def test_a_yaml_body_whose_aliases_expand_past_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    # Ten levels of nine aliases each: a few hundred bytes that stand for 9**10 (3.5 billion) values.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 11)]
    body = "name: bomb\ndefinition: {steps: []}\ndescription: x\nextra:\n" + "\n".join("  " + line for line in lines)
    response = await client.post("/v1/workflows", content=body, headers={"Content-Type": "application/yaml"})
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("payload_too_large")
    assert "aliases" in response.json()["detail"]
    assert (await client.get("/v1/workflows")).json()["items"] == []


async def test_every_body_route_is_limited(client: httpx.AsyncClient, greeter: None) -> None:
    spec = (await client.get("/openapi.json")).json()
    routes = [
        (method.upper(), path.replace("{workflow}", "greeter").replace("{version}", "current"))
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if "requestBody" in operation
    ]
    assert len(routes) >= 10
    for method, path in routes:
        # A package import takes a package of up to UPLOAD_BODY_BYTES, whatever WFS_MAX_BODY_BYTES says.
        multipart = path.endswith("/import")
        limit, media = (UPLOAD_BODY_BYTES, "multipart/form-data; boundary=x") if multipart else (BODY_LIMIT, JSON)
        size, prefix = (limit + 4 * CHUNK, PACKAGE_PART) if multipart else (limit * 4, b"{")
        body = Body(size, prefix=prefix)
        response = await client.request(method, path, content=body.stream(), headers={"Content-Type": media})
        if path.startswith("/v1/hooks/"):  # no such trigger: answered before a byte of the body is read
            assert (response.status_code, body.read) == (404, 0), response.text
            continue
        assert_too_large(response, path, limit, PACKAGE_LIMIT if multipart else "WFS_MAX_BODY_BYTES")
        assert body.read <= limit + CHUNK, (path, body.read)


async def test_a_body_within_the_limit_is_accepted(client: httpx.AsyncClient, greeter: None) -> None:
    content = big_submission(BODY_LIMIT - 100)
    assert len(content) <= BODY_LIMIT
    response = await client.post(SUBMIT, content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    job = (await client.get(f"/v1/jobs/{response.json()['id']}")).json()
    assert len(job["inputs"]["name"]) == BODY_LIMIT - 100


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz", f"Token {TOKEN}", "Bearer wfs_key_notakey"],
)
async def test_without_valid_credentials_the_body_is_never_read(
    client: httpx.AsyncClient, greeter: None, authorization: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    for total in (BODY_LIMIT // 2, BODY_LIMIT * 50):  # within the limit and far past it
        body = Body(total, prefix=b'{"inputs": {"name": "')
        anonymous = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
        response = await anonymous.post(SUBMIT, content=body.stream(), headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
        problem: dict[str, Any] = response.json()
        assert problem["code"] == "unauthorized"
        assert problem["instance"] == SUBMIT
        assert body.read == 0


async def test_an_api_key_is_resolved_before_the_body_is_read(client: httpx.AsyncClient, greeter: None) -> None:
    created = await client.post("/v1/workflows/greeter/api-keys", json={"name": "k"})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    keyed = httpx.AsyncClient(
        transport=client._transport, base_url="http://testserver", headers={"Authorization": f"Bearer {key}"}
    )
    response = await keyed.post(SUBMIT, json={"inputs": {"name": "Ada"}})
    assert response.status_code == 202, response.text
    assert (await keyed.get(f"/v1/jobs/{response.json()['id']}")).status_code == 200
    assert (await keyed.get("/v1/jobs?scope=all")).status_code == 403  # still the key's own rights
    body = Body(BODY_LIMIT * 50, prefix=b'{"inputs": {"name": "')
    too_big = await keyed.post(SUBMIT, content=body.stream(), headers={"Content-Type": "application/json"})
    assert_too_large(too_big, SUBMIT)
    assert body.read <= BODY_LIMIT + CHUNK
    revoked = await client.delete(f"/v1/workflows/greeter/api-keys/{created.json()['id']}")
    assert revoked.status_code == 204, revoked.text
    body = Body(BODY_LIMIT // 2, prefix=b'{"inputs": {"name": "')
    refused = await keyed.post(SUBMIT, content=body.stream(), headers={"Content-Type": "application/json"})
    assert refused.status_code == 401
    assert body.read == 0


async def test_unauthenticated_routes_outside_v1_are_unaffected(client: httpx.AsyncClient) -> None:
    anonymous = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    assert (await anonymous.get("/healthz")).status_code == 200
    assert (await anonymous.get("/openapi.json")).status_code == 200


async def test_behind_a_root_path_the_body_is_not_read_either(client: httpx.AsyncClient, greeter: None) -> None:
    app = client._transport.app  # type: ignore[attr-defined]  # the ASGITransport of the conftest client
    transport = httpx.ASGITransport(app=app, root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anonymous:
        body = Body(BODY_LIMIT * 50, prefix=b'{"inputs": {"name": "')
        response = await anonymous.post(
            f"/api{SUBMIT}", content=body.stream(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 401, response.text
        assert body.read == 0
