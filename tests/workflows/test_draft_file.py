"""One workflow file (a create's fields: name, slug, description, definition) both creates a workflow and updates
its draft, so a repository can hold the file and deploy it from CI (`wfs workflows deploy FILE`)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.workflows.conftest import GREETER, assert_problem

FILE = """\
name: Greeter
slug: greeter
description: Says hello
definition:
  steps:
    - id: compose
      type: transform
      output: "Hello, {{ inputs.name }}!"
  output: "{{ steps.compose.output }}"
"""
YAML = {"Content-Type": "application/yaml"}


async def _workflow(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/v1/workflows/greeter")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_file_that_created_a_workflow_updates_its_draft_name_and_description(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/v1/workflows", content=FILE.encode(), headers=YAML)
    assert created.status_code == 201, created.text
    again = await client.post("/v1/workflows", content=FILE.encode(), headers=YAML)
    assert assert_problem(again, 409, "conflict")["slug"] == "greeter"

    edited = FILE.replace("name: Greeter", "name: Greeter v2").replace("Says hello", "Says hello twice")
    edited = edited.replace("Hello, ", "Hello again, ")
    updated = await client.put("/v1/workflows/greeter/draft", content=edited.encode(), headers=YAML)
    assert updated.status_code == 200, updated.text
    workflow = await _workflow(client)
    assert (workflow["name"], workflow["description"]) == ("Greeter v2", "Says hello twice")
    assert workflow["draft"]["steps"][0]["output"] == "Hello again, {{ inputs.name }}!"
    entries = (await client.get("/v1/audit-log?action=workflow.draft_updated")).json()["items"]
    assert entries[0]["changes"]["name"] == {"before": "Greeter", "after": "Greeter v2"}
    assert entries[0]["changes"]["description"] == {"before": "Says hello", "after": "Says hello twice"}


async def test_absent_fields_are_kept_and_a_null_description_clears_it(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/workflows", content=FILE.encode(), headers=YAML)).status_code == 201
    kept = await client.put("/v1/workflows/greeter/draft", json={"definition": GREETER})
    assert kept.status_code == 200, kept.text
    workflow = await _workflow(client)
    assert (workflow["name"], workflow["description"], workflow["draft"]) == ("Greeter", "Says hello", GREETER)
    cleared = await client.put("/v1/workflows/greeter/draft", json={"definition": GREETER, "description": None})
    assert cleared.status_code == 200, cleared.text
    assert (await _workflow(client))["description"] is None


async def test_another_slug_or_a_null_name_is_422_and_changes_nothing(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/workflows", content=FILE.encode(), headers=YAML)).status_code == 201
    before = await _workflow(client)
    renamed = await client.put("/v1/workflows/greeter/draft", json={"definition": GREETER, "slug": "other"})
    problem = assert_problem(renamed, 422, "invalid_input")
    assert problem["errors"][0]["path"] == "$.slug"
    assert "'greeter'" in problem["errors"][0]["message"]
    nameless = await client.put("/v1/workflows/greeter/draft", json={"definition": GREETER, "name": None})
    assert assert_problem(nameless, 422, "invalid_input")["errors"][0]["path"] == "$.name"
    bad_slug = await client.put("/v1/workflows/greeter/draft", json={"definition": GREETER, "slug": "Not A Slug"})
    assert assert_problem(bad_slug, 422, "invalid_request")["errors"][0]["path"] == "$.slug"
    assert await _workflow(client) == before
