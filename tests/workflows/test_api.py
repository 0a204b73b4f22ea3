"""The workflows API against real PostgreSQL: create, drafts, validation, deploys, versions, auth, problems."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import BASE_URL, TOKEN, make_settings, serving
from tests.workflows.conftest import GREETER, assert_problem, create_workflow, deploy
from workflow_service.app import create_app
from workflow_service.config import Settings
from workflow_service.workflows.schemas import SLUG_PATTERN
from workflow_service.workflows.service import slugify

GREETER_YAML = """\
# The same definition as GREETER, written by hand.
input_schema:
  type: object
  properties:
    name: {type: string}
  required: [name]
variables:
  greeting: Hello
steps:
  - id: compose
    type: transform
    output:
      text: "{{ vars.greeting }}, {{ inputs.name }}!"
output:
  greeting: "{{ steps.compose.output.text }}"
"""

INVALID: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"n": {"type": "integer", "minimum": "zero"}}},
    "colour": "blue",
    "steps": [
        {"id": "a", "type": "teleport"},
        {"id": "b", "type": "transform", "output": {"text": "{{ inputs.n "}},
        {"id": "c", "type": "transform", "output": "{{ steps.d.output }}"},
        {"id": "d", "type": "transform", "output": 1},
        {"id": "d", "type": "transform", "output": 2},
    ],
}
INVALID_PATHS = [
    "$.colour",
    "$.input_schema.properties.n.minimum",
    "$.steps[0].type",
    "$.steps[1].output.text",
    "$.steps[2].output",
    "$.steps[4].id",
]


def canonical_hash(definition: dict[str, Any]) -> str:
    """The documented content hash: SHA-256 of the definition as compact JSON with sorted keys."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --- create and read -------------------------------------------------------------------------


async def test_create_returns_201_with_location_and_the_draft(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/workflows", json={"name": "My First  Workflow!", "description": "hi", "definition": GREETER}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["slug"] == "my-first-workflow"
    assert response.headers["Location"] == f"{BASE_URL}/v1/workflows/my-first-workflow"
    assert body["name"] == "My First  Workflow!"
    assert body["description"] == "hi"
    assert body["draft"] == GREETER
    assert body["draft_problems"] == []
    assert body["current_version"] is None
    assert body["endpoints"] is None
    assert uuid.UUID(body["id"]).version == 7
    assert body["created_at"] == body["updated_at"]
    assert (await client.get(response.headers["Location"])).json() == body


async def test_create_with_an_explicit_slug(client: httpx.AsyncClient) -> None:
    body = await create_workflow(client, name="Anything", slug="custom-slug-2")
    assert body["slug"] == "custom-slug-2"
    assert (await client.get("/v1/workflows/custom-slug-2")).json()["id"] == body["id"]


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Greeter", "greeter"),
        ("  Hello, World  ", "hello-world"),
        ("ÄÖÜ", "aou"),
        ("Résumé writer", "resume-writer"),
        ("中文", "workflow"),
        ("A" * 80, "a" * 64),
    ],
)
async def test_the_slug_is_generated_from_the_name(client: httpx.AsyncClient, name: str, slug: str) -> None:
    assert (await create_workflow(client, name=name))["slug"] == slug


@given(st.text(min_size=1, max_size=200))
def test_a_generated_slug_is_always_a_valid_slug(name: str) -> None:
    slug = slugify(name)
    assert re.fullmatch(SLUG_PATTERN, slug), slug


async def test_a_slug_conflict_is_409(client: httpx.AsyncClient) -> None:
    await create_workflow(client, name="Greeter")
    problem = assert_problem(
        await client.post("/v1/workflows", json={"name": "Greeter", "definition": {}}), 409, "conflict"
    )
    assert "greeter" in problem["detail"]
    assert problem["slug"] == "greeter"
    problem = assert_problem(
        await client.post("/v1/workflows", json={"name": "Other", "slug": "greeter", "definition": {}}), 409, "conflict"
    )
    assert problem["instance"] == "/v1/workflows"
    listed = (await client.get("/v1/workflows")).json()["items"]
    assert [w["name"] for w in listed] == ["Greeter"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "slug": "123e4567-e89b-12d3-a456-426614174000", "definition": {}},
        {"name": "x", "slug": "0123456789abcdef0123456789abcdef", "definition": {}},
        {"name": "123e4567-e89b-12d3-a456-426614174000", "definition": {}},
    ],
)
async def test_a_slug_that_looks_like_an_id_is_422(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    problem = assert_problem(await client.post("/v1/workflows", json=body), 422, "invalid_input")
    assert problem["errors"] == [{"path": "$.slug", "message": "looks like a UUID"}]
    assert (await client.get("/v1/workflows")).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({"definition": GREETER}, ["$.name"]),
        ({"name": "", "definition": GREETER}, ["$.name"]),
        ({"name": "x"}, ["$.definition"]),
        ({"name": "x", "definition": []}, ["$.definition"]),
        ({"name": "x", "slug": "Not A Slug", "definition": {}}, ["$.slug"]),
        ({"name": "x", "slug": "-dash", "definition": {}}, ["$.slug"]),
        ({"name": "x", "definition": {}, "draft": {}}, ["$.draft"]),
        ({}, ["$.name", "$.definition"]),
    ],
)
async def test_an_invalid_create_body_is_422_with_json_paths(
    client: httpx.AsyncClient, body: dict[str, Any], paths: list[str]
) -> None:
    problem = assert_problem(await client.post("/v1/workflows", json=body), 422, "invalid_request")
    assert [e["path"] for e in problem["errors"]] == paths
    assert all(e["message"] for e in problem["errors"])
    assert paths[0] in problem["detail"]


async def test_a_body_that_is_not_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/workflows", content=b'{"name": "x",', headers={"Content-Type": "application/json"}
    )
    problem = assert_problem(response, 400, "malformed_body")
    assert [(e["path"], e["line"], e["column"], e["offset"]) for e in problem["errors"]] == [("$", 1, 14, 13)]


async def test_get_by_id_and_by_slug(client: httpx.AsyncClient) -> None:
    created = await create_workflow(client)
    by_id = await client.get(f"/v1/workflows/{created['id']}")
    by_slug = await client.get("/v1/workflows/greeter")
    assert by_id.status_code == by_slug.status_code == 200
    assert by_id.json() == by_slug.json() == created


@pytest.mark.parametrize("ref", ["nope", "Greeter", str(uuid.UUID(int=1)), "00000000000000000000000000000001"])
async def test_an_unknown_workflow_is_404(client: httpx.AsyncClient, ref: str) -> None:
    await create_workflow(client)
    for response in [
        await client.get(f"/v1/workflows/{ref}"),
        await client.put(f"/v1/workflows/{ref}/draft", json={"definition": GREETER}),
        await client.post(f"/v1/workflows/{ref}/validate"),
        await client.post(f"/v1/workflows/{ref}/deploy"),
        await client.get(f"/v1/workflows/{ref}/versions"),
        await client.get(f"/v1/workflows/{ref}/versions/current"),
        await client.get(f"/v1/workflows/{ref}/versions/1"),
    ]:
        problem = assert_problem(response, 404, "not_found")
        assert ref in problem["detail"]


async def test_the_list_pages_newest_first_without_duplicates(client: httpx.AsyncClient) -> None:
    created = [(await create_workflow(client, name=f"wf {i}"))["id"] for i in range(7)]
    seen: list[str] = []
    pages: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get("/v1/workflows", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(len(page["items"]))
        seen += [item["id"] for item in page["items"]]
        assert set(page["items"][0]) == {
            "id",
            "slug",
            "name",
            "description",
            "current_version",
            "created_at",
            "updated_at",
        }
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [3, 3, 1]
    assert len(set(seen)) == len(seen) == 7
    # Newest first. (Ids are UUIDv7; see the report on same-millisecond ordering.)
    assert seen == sorted(created, reverse=True)
    default = (await client.get("/v1/workflows")).json()
    assert [w["id"] for w in default["items"]] == seen
    assert default["next_cursor"] is None


async def test_an_exact_page_has_no_next_cursor(client: httpx.AsyncClient) -> None:
    for i in range(2):
        await create_workflow(client, name=f"wf {i}")
    page = (await client.get("/v1/workflows", params={"limit": 2})).json()
    assert len(page["items"]) == 2
    assert page["next_cursor"] is None


@pytest.mark.parametrize("cursor", ["not-a-cursor", "AAAA", "é", "a"])
async def test_an_invalid_cursor_is_422(client: httpx.AsyncClient, cursor: str) -> None:
    problem = assert_problem(await client.get("/v1/workflows", params={"cursor": cursor}), 422, "invalid_input")
    assert problem["errors"] == [{"path": "query:cursor", "message": "invalid cursor"}]


@pytest.mark.parametrize("limit", ["0", "201", "ten"])
async def test_an_invalid_limit_is_422(client: httpx.AsyncClient, limit: str) -> None:
    problem = assert_problem(await client.get("/v1/workflows", params={"limit": limit}), 422, "invalid_request")
    assert [e["path"] for e in problem["errors"]] == ["query:limit"]


# --- YAML ------------------------------------------------------------------------------------


def indent(text: str, by: str = "  ") -> str:
    return "".join(by + line if line.strip() else line for line in text.splitlines(keepends=True))


@pytest.mark.parametrize("content_type", ["application/yaml", "application/x-yaml", "text/yaml; charset=utf-8"])
async def test_yaml_create_is_the_same_as_json(client: httpx.AsyncClient, content_type: str) -> None:
    from_json = await create_workflow(client, name="Greeter", slug="from-json", description="d")
    yaml_body = f"name: Greeter\nslug: from-yaml\ndescription: d\ndefinition:\n{indent(GREETER_YAML)}"
    response = await client.post("/v1/workflows", content=yaml_body.encode(), headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text
    from_yaml = response.json()
    assert response.headers["Location"] == f"{BASE_URL}/v1/workflows/from-yaml"
    assert from_yaml["draft"] == from_json["draft"] == GREETER
    for key in ("name", "description", "draft_problems", "current_version", "endpoints"):
        assert from_yaml[key] == from_json[key]


async def test_yaml_draft_update_is_the_same_as_json(client: httpx.AsyncClient) -> None:
    await create_workflow(client, name="a", definition={"steps": []})
    await create_workflow(client, name="b", definition={"steps": []})
    by_json = await client.put("/v1/workflows/a/draft", json={"definition": GREETER})
    by_yaml = await client.put(
        "/v1/workflows/b/draft",
        content=f"definition:\n{indent(GREETER_YAML)}".encode(),
        headers={"Content-Type": "application/yaml"},
    )
    assert by_json.status_code == by_yaml.status_code == 200, by_yaml.text
    assert by_yaml.json()["draft"] == by_json.json()["draft"] == GREETER
    assert by_yaml.json()["draft_problems"] == by_json.json()["draft_problems"] == []
    assert (await deploy(client, "b"))["content_hash"] == (await deploy(client, "a"))["content_hash"]


async def test_an_invalid_yaml_draft_reports_the_same_problems_as_json(client: httpx.AsyncClient) -> None:
    await create_workflow(client, name="a", definition={"steps": []})
    yaml_text = "definition:\n  colour: blue\n  steps:\n    - id: a\n      type: teleport\n"
    response = await client.put(
        "/v1/workflows/a/draft", content=yaml_text.encode(), headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 200, response.text
    assert [p["path"] for p in response.json()["draft_problems"]] == ["$.colour", "$.steps[0].type"]


async def test_malformed_yaml_is_400_naming_the_line(client: httpx.AsyncClient) -> None:
    """Like a JSON body that does not parse: 400 `malformed_body` at the line, column and character offset."""
    broken = "name: Broken\ndefinition:\n  steps:\n    - id: a\n\ttype: transform\n"
    for response in [
        await client.post("/v1/workflows", content=broken.encode(), headers={"Content-Type": "application/yaml"}),
        await client.put(
            "/v1/workflows/broken/draft", content=broken.encode(), headers={"Content-Type": "application/yaml"}
        ),
    ]:
        problem = assert_problem(response, 400, "malformed_body")
        assert "line 5, column 1" in problem["detail"]
        message = "the body is not valid YAML: found character '\\t' that cannot start any token"
        assert problem["errors"] == [{"path": "$", "message": message, "line": 5, "column": 1, "offset": 46}]
    assert (await client.get("/v1/workflows")).json()["items"] == []


async def test_yaml_that_is_not_a_mapping_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/workflows", content=b"- just\n- a list\n", headers={"Content-Type": "text/yaml"})
    assert_problem(response, 422, "invalid_request")


# --- drafts and validation -------------------------------------------------------------------


async def test_an_invalid_draft_is_stored_with_its_problems(client: httpx.AsyncClient) -> None:
    created = await create_workflow(client, definition=INVALID)
    assert [p["path"] for p in created["draft_problems"]] == INVALID_PATHS
    response = await client.put("/v1/workflows/greeter/draft", json={"definition": INVALID})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["draft"] == INVALID
    assert [p["path"] for p in body["draft_problems"]] == INVALID_PATHS
    assert body["updated_at"] > created["updated_at"]
    assert body["created_at"] == created["created_at"]


async def test_validate_lists_every_problem_with_its_path(client: httpx.AsyncClient) -> None:
    await create_workflow(client, definition=INVALID)
    response = await client.post("/v1/workflows/greeter/validate")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["valid"] is False
    problems = report["problems"]
    assert [p["path"] for p in problems] == INVALID_PATHS
    messages = {p["path"]: p["message"] for p in problems}
    assert "Extra inputs are not permitted" in messages["$.colour"]
    assert messages["$.input_schema.properties.n.minimum"].startswith("not a valid JSON Schema")
    assert "'teleport'" in messages["$.steps[0].type"]
    assert messages["$.steps[1].output.text"].startswith("template syntax error")
    assert messages["$.steps[2].output"] == "refers to steps.d, which is a later step"
    assert messages["$.steps[4].id"] == "duplicate step id 'd'"

    await client.put("/v1/workflows/greeter/draft", json={"definition": GREETER})
    assert (await client.post("/v1/workflows/greeter/validate")).json() == {"valid": True, "problems": []}


async def test_deploying_an_invalid_draft_is_422_listing_each_problem(client: httpx.AsyncClient) -> None:
    await create_workflow(client, definition=INVALID)
    problem = assert_problem(await client.post("/v1/workflows/greeter/deploy"), 422, "invalid_definition")
    validated = (await client.post("/v1/workflows/greeter/validate")).json()["problems"]
    assert problem["errors"] == validated
    assert [e["path"] for e in problem["errors"]] == INVALID_PATHS
    assert "6 problem(s)" in problem["detail"]
    workflow = (await client.get("/v1/workflows/greeter")).json()
    assert workflow["current_version"] is None
    assert (await client.get("/v1/workflows/greeter/versions")).json() == {"items": []}


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        ({"steps": [{"id": "a", "type": "nope"}]}, "$.steps[0].type"),
        (
            {
                "steps": [
                    {"id": "a", "type": "transform", "output": 1},
                    {"id": "b", "type": "transform", "output": "{{"},
                ]
            },
            "$.steps[1].output",
        ),
        (
            {
                "input_schema": {"type": "object", "properties": {"a": {"type": "word"}}},
                "steps": [{"id": "a", "type": "transform", "output": 1}],
            },
            "$.input_schema.properties.a.type",
        ),
        (
            {
                "steps": [
                    {"id": "a", "type": "transform", "output": "{{ steps.b.output }}"},
                    {"id": "b", "type": "transform", "output": 1},
                ]
            },
            "$.steps[0].output",
        ),
        (
            {"steps": [{"id": "a", "type": "transform", "output": 1}, {"id": "a", "type": "transform", "output": 2}]},
            "$.steps[1].id",
        ),
        ({"step": [], "steps": [{"id": "a", "type": "transform", "output": 1}]}, "$.step"),
        ({"steps": [{"id": "a", "type": "transform", "output": "{{ input.x }}"}]}, "$.steps[0].output"),
        ({"steps": [{"id": "a", "type": "transform", "output": 1}], "output": "{{ steps.z }}"}, "$.output"),
        ({"steps": [{"id": "a", "type": "transform", "output": "{{- inputs.x -}} {{ -}}"}]}, "$.steps[0].output"),
    ],
)
async def test_each_kind_of_problem_blocks_a_deploy(
    client: httpx.AsyncClient, definition: dict[str, Any], path: str
) -> None:
    await create_workflow(client, name="w", definition=definition)
    problem = assert_problem(await client.post("/v1/workflows/w/deploy"), 422, "invalid_definition")
    assert [e["path"] for e in problem["errors"]] == [path]


async def test_a_whitespace_controlled_template_is_not_a_server_error(client: httpx.AsyncClient) -> None:
    """Regression: `{{ x -}}` made every read of the workflow a 500 (an uncaught jinja2 syntax error)."""
    definition = {"steps": [{"id": "a", "type": "transform", "output": "{{- inputs.n * 2 -}}"}]}
    created = await create_workflow(client, name="w", definition=definition)
    assert created["draft_problems"] == []
    await client.put(
        "/v1/workflows/w/draft",
        json={"definition": {"steps": [{"id": "a", "type": "transform", "output": "{{ 1 + -}}"}]}},
    )
    response = await client.get("/v1/workflows/w")
    assert response.status_code == 200, response.text
    assert [p["path"] for p in response.json()["draft_problems"]] == ["$.steps[0].output"]


async def test_a_definition_that_cannot_be_stored_is_422_not_500(client: httpx.AsyncClient) -> None:
    """Regression: an integer beyond 64 bits failed at INSERT (orjson), a bare 500."""
    definition = {"variables": {"big": 2**64}, "steps": [{"id": "a", "type": "transform", "output": 1}]}
    problem = assert_problem(
        await client.post("/v1/workflows", json={"name": "w", "definition": definition}), 422, "invalid_request"
    )
    assert [e["path"] for e in problem["errors"]] == ["$.definition"]
    assert "64-bit" in problem["errors"][0]["message"]
    await create_workflow(client, name="w")
    problem = assert_problem(
        await client.put("/v1/workflows/w/draft", json={"definition": definition}), 422, "invalid_request"
    )
    assert [e["path"] for e in problem["errors"]] == ["$.definition"]
    assert (await client.get("/v1/workflows/w")).json()["draft"] == GREETER


# --- deploys and versions --------------------------------------------------------------------


async def test_deploy_creates_version_1_with_endpoints(client: httpx.AsyncClient) -> None:
    created = await create_workflow(client)
    response = await client.post("/v1/workflows/greeter/deploy")
    assert response.status_code == 201, response.text
    version = response.json()
    assert response.headers["Location"] == f"{BASE_URL}/v1/workflows/greeter/versions/1"
    assert version["number"] == 1
    assert version["content_hash"] == canonical_hash(GREETER)
    assert version["definition"] == GREETER
    assert version["workflow"] == {"id": created["id"], "slug": "greeter"}
    assert version["endpoints"] == {
        mode: f"{BASE_URL}/v1/workflows/greeter/versions/1/{mode}" for mode in ("sync", "async", "push", "estimate")
    }
    workflow = (await client.get("/v1/workflows/greeter")).json()
    assert workflow["current_version"] == 1
    assert workflow["endpoints"] == version["endpoints"]
    assert (await client.get(response.headers["Location"])).json() == version


async def test_endpoints_and_locations_use_the_configured_public_url(settings: Settings) -> None:
    async with serving(settings.model_copy(update={"public_url": "https://wfs.example.com/"})) as c:
        created = await c.post("/v1/workflows", json={"name": "Greeter", "definition": GREETER})
        deployed = await c.post("/v1/workflows/greeter/deploy")
        version = deployed.json()
        workflow = (await c.get("/v1/workflows/greeter")).json()
        submitted = await c.post(version["endpoints"]["async"], json={"inputs": {"name": "Ada"}})
    assert created.headers["Location"] == "https://wfs.example.com/v1/workflows/greeter"
    assert deployed.headers["Location"] == "https://wfs.example.com/v1/workflows/greeter/versions/1"
    assert version["endpoints"] == {
        "sync": "https://wfs.example.com/v1/workflows/greeter/versions/1/sync",
        "async": "https://wfs.example.com/v1/workflows/greeter/versions/1/async",
        "push": "https://wfs.example.com/v1/workflows/greeter/versions/1/push",
        "estimate": "https://wfs.example.com/v1/workflows/greeter/versions/1/estimate",
    }
    assert workflow["endpoints"] == version["endpoints"]
    assert submitted.status_code == 202, submitted.text
    assert submitted.headers["Location"] == f"https://wfs.example.com/v1/jobs/{submitted.json()['id']}"
    assert submitted.headers["Retry-After"] == "1"


async def test_deploying_twice_gives_versions_1_and_2_newest_first(client: httpx.AsyncClient) -> None:
    await create_workflow(client)
    first = await deploy(client, "greeter")
    second = await deploy(client, "greeter")
    assert (first["number"], second["number"]) == (1, 2)
    assert first["content_hash"] == second["content_hash"]
    changed = copy.deepcopy(GREETER)
    changed["variables"]["greeting"] = "Hi"
    await client.put("/v1/workflows/greeter/draft", json={"definition": changed})
    third = await deploy(client, "greeter")
    assert third["number"] == 3
    assert third["content_hash"] == canonical_hash(changed) != first["content_hash"]
    listed = (await client.get("/v1/workflows/greeter/versions")).json()["items"]
    assert [v["number"] for v in listed] == [3, 2, 1]
    assert listed[0] == {k: third[k] for k in ("number", "content_hash", "created_at")}
    current = (await client.get("/v1/workflows/greeter/versions/current")).json()
    assert current == third
    assert (await client.get("/v1/workflows/greeter")).json()["current_version"] == 3


async def test_a_version_is_immutable(client: httpx.AsyncClient) -> None:
    created = await create_workflow(client)
    v1 = await deploy(client, "greeter")
    changed = copy.deepcopy(GREETER)
    changed["steps"][0]["output"] = {"text": "changed"}
    updated = await client.put(f"/v1/workflows/{created['id']}/draft", json={"definition": changed})
    assert updated.json()["draft"] == changed
    assert updated.json()["current_version"] == 1
    again = (await client.get("/v1/workflows/greeter/versions/1")).json()
    assert again == v1
    assert again["definition"] == GREETER
    assert (await client.get("/v1/workflows/greeter/versions/current")).json()["definition"] == GREETER
    v2 = await deploy(client, "greeter")
    assert v2["definition"] == changed
    assert (await client.get("/v1/workflows/greeter/versions/1")).json()["definition"] == GREETER


async def test_an_invalid_draft_does_not_disturb_the_deployed_version(client: httpx.AsyncClient) -> None:
    await create_workflow(client)
    v1 = await deploy(client, "greeter")
    await client.put("/v1/workflows/greeter/draft", json={"definition": INVALID})
    assert_problem(await client.post("/v1/workflows/greeter/deploy"), 422, "invalid_definition")
    assert (await client.get("/v1/workflows/greeter/versions/current")).json() == v1
    assert [v["number"] for v in (await client.get("/v1/workflows/greeter/versions")).json()["items"]] == [1]


async def test_versions_by_workflow_id(client: httpx.AsyncClient) -> None:
    created = await create_workflow(client)
    await deploy(client, "greeter")
    response = await client.get(f"/v1/workflows/{created['id']}/versions/1")
    assert response.status_code == 200
    assert response.json()["workflow"]["slug"] == "greeter"


async def test_an_unknown_version_number_is_404(client: httpx.AsyncClient) -> None:
    await create_workflow(client)
    await deploy(client, "greeter")
    problem = assert_problem(await client.get("/v1/workflows/greeter/versions/2"), 404, "not_found")
    assert "version 2" in problem["detail"]
    assert_problem(await client.get("/v1/workflows/greeter/versions/2147483647"), 404, "not_found")


@pytest.mark.parametrize(
    "version",
    ["abc", "0", "-1", "1.0", "CURRENT", "latest", "%C2%B2", "2147483648", pytest.param("9" * 5000, id="5000-digits")],
)
async def test_a_version_that_is_not_a_number_or_current_is_422(client: httpx.AsyncClient, version: str) -> None:
    await create_workflow(client)
    await deploy(client, "greeter")
    problem = assert_problem(await client.get(f"/v1/workflows/greeter/versions/{version}"), 422, "invalid_input")
    assert problem["errors"][0]["path"] == "path:version"


async def test_current_of_a_never_deployed_workflow_is_409_not_deployed(client: httpx.AsyncClient) -> None:
    await create_workflow(client)
    problem = assert_problem(await client.get("/v1/workflows/greeter/versions/current"), 409, "not_deployed")
    assert "greeter" in problem["detail"]
    assert (await client.get("/v1/workflows/greeter/versions")).json() == {"items": []}
    assert_problem(await client.get("/v1/workflows/greeter/versions/1"), 404, "not_found")


# --- auth, health, problems ------------------------------------------------------------------


def v1_requests() -> list[tuple[str, str]]:
    """Every /v1 operation in the app's OpenAPI schema, with made-up path parameters."""
    schema = create_app(make_settings()).openapi()
    found = []
    for path, operations in schema["paths"].items():
        # An event trigger's URL authenticates by the trigger's secret instead (tests/triggers/test_hook_auth.py).
        if path.startswith("/v1") and path != "/v1/hooks/{trigger_id}":
            concrete = re.sub(r"\{[^}]+\}", "1", path)
            found += [(method.upper(), concrete) for method in sorted(operations)]
    return found


V1_REQUESTS = v1_requests()


def test_the_route_list_covers_the_api() -> None:
    paths = {path for _, path in V1_REQUESTS}
    assert {
        "/v1/workflows",
        "/v1/workflows/1/deploy",
        "/v1/workflows/1/versions/1",
        "/v1/workflows/1/versions/1/async",
        "/v1/jobs/1",
        "/v1/agents",
    } <= paths


@pytest.fixture(scope="module")
async def shared_client(database: str) -> AsyncIterator[httpx.AsyncClient]:
    """One app for the many token checks below, started once: a request without a valid token is refused
    before anything is written, so they need no freshly emptied database and app each (which is what makes
    `client` cost most of a second a test)."""
    async with serving(make_settings()) as c:
        yield c


@pytest.mark.parametrize(("method", "path"), V1_REQUESTS)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x", f"bearer {TOKEN[:-1]}"],
)
async def test_every_v1_route_needs_the_token(
    shared_client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    client = shared_client
    request = client.build_request(method, path, json={} if method in ("POST", "PUT", "PATCH") else None)
    del request.headers["Authorization"]
    if authorization is not None:
        request.headers["Authorization"] = authorization
    response = await client.send(request)
    problem = assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert problem["instance"] == path


async def test_the_token_scheme_is_case_insensitive(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/workflows", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200, response.text


async def test_a_401_does_not_leak_whether_a_workflow_exists(client: httpx.AsyncClient) -> None:
    await create_workflow(client)
    for ref in ("greeter", "nope"):
        request = client.build_request("GET", f"/v1/workflows/{ref}")
        del request.headers["Authorization"]
        assert (await client.send(request)).status_code == 401


async def test_health_endpoints_are_open(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz"):
        request = client.build_request("GET", path)
        del request.headers["Authorization"]
        response = await client.send(request)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ok"
        if path == "/readyz":
            assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/nothing-here", 404, "not_found"),
        ("DELETE", "/v1/workflows", 405, "method_not_allowed"),
        ("PATCH", "/v1/workflows/greeter/deploy", 405, "method_not_allowed"),
    ],
)
async def test_framework_errors_are_problems_too(
    client: httpx.AsyncClient, method: str, path: str, status: int, code: str
) -> None:
    response = await client.request(method, path)
    assert_problem(response, status, code)
    if status == 405:
        assert response.headers["Allow"]
