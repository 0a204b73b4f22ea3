"""What a definition's templates read is checked when it is validated, not when a job renders it: an
undeclared variable, an input a closed schema refuses, a step that is not there yet, a name that is not
offered, a dependency cycle and a repeated step id are each a problem with its JSON path, and block a deploy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.workflows.conftest import assert_problem, create_workflow, deploy

CLOSED_INPUTS = {"type": "object", "properties": {"url": {"type": "string"}}, "additionalProperties": False}


def transform(step_id: str, output: Any, **more: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "transform", "output": output, **more}


async def refused(client: httpx.AsyncClient, definition: dict[str, Any]) -> list[dict[str, str]]:
    """The problems of a definition: listed by validate, and the errors of its refused deploy."""
    created = await create_workflow(client, name="checked", definition=definition)
    validated = (await client.post("/v1/workflows/checked/validate")).json()
    assert validated["valid"] is False
    assert created["draft_problems"] == validated["problems"]
    problem = assert_problem(await client.post("/v1/workflows/checked/deploy"), 422, "invalid_definition")
    assert problem["errors"] == validated["problems"]
    assert (await client.get("/v1/workflows/checked/versions")).json() == {"items": []}
    errors: list[dict[str, str]] = problem["errors"]
    return errors


@pytest.mark.parametrize(
    ("definition", "error"),
    [
        (
            {
                "variables": {"greeting": "Hello", "tone": "warm"},
                "steps": [
                    transform("a", 1),
                    transform("b", 2),
                    {
                        "id": "ask",
                        "type": "llm",
                        "prompt": "{{ vars.greting }}",
                        "model": {"provider": "openai", "name": "m"},
                    },
                ],
            },
            {
                "path": "$.steps[2].prompt",
                "message": "reads vars.greting, which is not declared in `variables` (declared: greeting, tone)",
            },
        ),
        (
            {"steps": [transform("a", 1, when="vars['the mode'] == 'x'")]},
            {
                "path": "$.steps[0].when",
                "message": "reads vars['the mode'], which is not declared in `variables` (none is declared)",
            },
        ),
        (
            {
                "input_schema": CLOSED_INPUTS,
                "steps": [transform("a", 1), {"id": "get", "type": "http", "url": "{{ inputs.uri }}"}],
            },
            {
                "path": "$.steps[1].url",
                "message": "reads inputs.uri, which the closed input_schema does not allow (its properties: url)",
            },
        ),
        (
            {
                "input_schema": {**CLOSED_INPUTS, "patternProperties": {"^x_": {}}},
                "steps": [transform("a", {"text": "{{ inputs.x_name }} {{ inputs.name }}"})],
            },
            {
                "path": "$.steps[0].output.text",
                "message": "reads inputs.name, which the closed input_schema does not allow "
                "(its properties: url, or a name matching '^x_')",
            },
        ),
        (
            {"input_schema": CLOSED_INPUTS, "steps": [transform("a", 1)], "output": {"u": "{{ inputs.path }}"}},
            {
                "path": "$.output.u",
                "message": "reads inputs.path, which the closed input_schema does not allow (its properties: url)",
            },
        ),
        (
            {"steps": [transform("a", 1), transform("b", "{{ steps.fetch.output }}")]},
            {"path": "$.steps[1].output", "message": "refers to steps.fetch, which is an unknown step"},
        ),
        (
            {"steps": [transform("a", 1), transform("b", 2, needs=[]), transform("c", "{{ steps.a.output }}")]},
            {
                "path": "$.steps[2].output",
                "message": "refers to steps.a, which is not among the steps it waits for (add it to `needs`)",
            },
        ),
        (
            {"steps": [transform("a", "{{ lipsum(2) }}")]},
            {
                "path": "$.steps[0].output",
                "message": "unknown name(s) lipsum; templates can use inputs, vars, env and steps, "
                "and the functions cycler, dict, joiner, namespace, range",
            },
        ),
    ],
)
async def test_a_template_reading_what_is_never_there_blocks_the_deploy(
    client: httpx.AsyncClient, definition: dict[str, Any], error: dict[str, str]
) -> None:
    assert await refused(client, definition) == [error]


async def test_a_dependency_cycle_is_named_in_order(client: httpx.AsyncClient) -> None:
    definition = {
        "steps": [
            transform("fetch", 1, needs=["publish"]),
            transform("shape", 2),
            transform("publish", 3),
            transform("left", 4, needs=["right"]),
            transform("right", 5, needs=["left"]),
        ]
    }
    assert await refused(client, definition) == [
        {
            "path": "$.steps[0].needs[0]",
            "message": "dependency cycle: fetch -> publish -> shape -> fetch (each step waits for the next, "
            "so none can start)",
        },
        {
            "path": "$.steps[3].needs[0]",
            "message": "dependency cycle: left -> right -> left (each step waits for the next, so none can start)",
        },
    ]


async def test_a_repeated_step_id_is_reported_beside_the_steps_other_problems(client: httpx.AsyncClient) -> None:
    definition = {
        "steps": [
            transform("a", 1),
            {"id": "a", "type": "transform"},
            {"id": "a", "type": "teleport"},
            transform("b", "{{ vars.missing }}"),
        ]
    }
    errors = await refused(client, definition)
    assert [(e["path"], e["message"]) for e in errors] == [
        ("$.steps[1].output", "Field required"),
        ("$.steps[1].id", "duplicate step id 'a'"),
        ("$.steps[2].type", errors[2]["message"]),
        ("$.steps[2].id", "duplicate step id 'a'"),
        ("$.steps[3].output", "reads vars.missing, which is not declared in `variables` (none is declared)"),
    ]
    assert errors[2]["message"].startswith("unknown step type 'teleport'")


async def test_reads_that_may_be_missing_or_cannot_be_judged_still_deploy(client: httpx.AsyncClient) -> None:
    """A read with a default or a test, a dict method, a dynamic key and an open schema all render."""
    definition = {
        "input_schema": CLOSED_INPUTS,
        "variables": {"field": "url"},
        "steps": [
            transform(
                "a",
                {
                    "defaulted": "{{ vars.tone | default('plain') }} {{ inputs.retries | d(3) }}",
                    "tested": "{{ inputs.depth if inputs.depth is defined else 1 }}",
                    "method": "{{ inputs.get('extra') }} {{ vars.items() | list | length }}",
                    "dynamic": "{{ inputs[vars.field] }}",
                    "bound": "{% for vars in [{'own': 1}] %}{{ vars.own }}{% endfor %}",
                },
            )
        ],
    }
    created = await create_workflow(client, name="lenient", definition=definition)
    assert created["draft_problems"] == []
    await deploy(client, "lenient")
    open_schema = {
        "input_schema": {"type": "object", "properties": {"url": {}}},
        "steps": [transform("a", "{{ inputs.other }}")],
    }
    await client.put("/v1/workflows/lenient/draft", json={"definition": open_schema})
    await deploy(client, "lenient")
