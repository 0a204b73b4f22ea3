"""Definitions: every problem reported with its JSON path; valid ones compile to a Plan."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow_service.engine._step_plan import find_cycles
from workflow_service.engine.definition import (
    Plan,
    PlanCache,
    compile_definition,
    content_hash,
    input_problems,
)
from workflow_service.engine.steps import STEP_TYPES
from workflow_service.errors import ProblemItem, json_path

VALID: dict[str, Any] = {
    "description": "Greets",
    "input_schema": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "age": {"type": "integer", "minimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}},
            "address": {"type": "object", "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}}},
            "email": {"type": "string", "format": "email"},
        },
        "required": ["name"],
    },
    "output_schema": {"type": "object", "required": ["greeting"]},
    "variables": {"greeting": "Hello"},
    "timeout_s": 30,
    "steps": [
        {"id": "compose", "type": "transform", "output": {"text": "{{ vars.greeting }}, {{ inputs.name }}!"}},
        {"id": "call", "type": "http", "method": "POST", "url": "http://example.com", "json": "{{ steps.compose }}"},
    ],
    "output": {"greeting": "{{ steps.compose.output.text }}", "status": "{{ steps.call.output.status_code }}"},
}


def definition(**changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(VALID)
    result.update(changes)
    return result


def problems_of(raw: Any) -> list[ProblemItem]:
    plan, problems = compile_definition(raw)
    assert plan is None, "expected the definition to be refused"
    assert problems, "a refused definition must say why"
    return problems


def paths_of(raw: Any) -> list[str]:
    return [p.path for p in problems_of(raw)]


def only_problem(raw: Any) -> ProblemItem:
    problems = problems_of(raw)
    assert len(problems) == 1, problems
    return problems[0]


def transform(step_id: str, output: Any, **more: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "transform", "output": output, **more}


# --- valid definitions -------------------------------------------------------------------------


def test_a_valid_definition_compiles_to_a_plan() -> None:
    plan, problems = compile_definition(VALID)
    assert problems == []
    assert isinstance(plan, Plan)
    assert plan.content_hash == content_hash(VALID)
    assert plan.description == "Greets"
    assert plan.variables == {"greeting": "Hello"}
    assert plan.timeout_s == 30
    assert [(s.position, s.config.id, s.kind.name) for s in plan.steps] == [
        (0, "compose", "transform"),
        (1, "call", "http"),
    ]
    assert plan.steps[0].templates["output"].render(
        {"inputs": {"name": "Ada"}, "vars": {"greeting": "Hi"}, "env": {}, "steps": {}}
    ) == {"text": "Hi, Ada!"}
    assert set(plan.steps[1].templates) == {"url", "headers", "query", "json_body", "body"}
    assert plan.output is not None
    assert plan.output_validator is not None
    assert not plan.output_validator.is_valid({})


def test_the_minimal_definition_is_one_step() -> None:
    plan, problems = compile_definition({"steps": [transform("only", 1)]})
    assert problems == []
    assert plan is not None
    assert plan.output is None
    assert plan.output_validator is None
    assert plan.timeout_s == 180
    assert plan.input_validator.is_valid({})
    assert not plan.input_validator.is_valid([])


def test_compiling_does_not_change_the_definition() -> None:
    raw = definition()
    compile_definition(raw)
    assert raw == VALID


# --- what is wrong, and where ------------------------------------------------------------------


@pytest.mark.parametrize("raw", [[], "steps", None, 3])
def test_a_definition_must_be_an_object(raw: Any) -> None:
    assert only_problem(raw) == ProblemItem(path="$", message="a definition must be a JSON object")


def test_an_unknown_top_level_key_is_named() -> None:
    problem = only_problem(definition(stpes=[]))
    assert problem.path == "$.stpes"
    assert "Extra inputs are not permitted" in problem.message


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"steps": []}, "$.steps"),
        ({"steps": "compose"}, "$.steps"),
        ({"timeout_s": 0}, "$.timeout_s"),
        ({"timeout_s": 86401}, "$.timeout_s"),
        ({"variables": ["a"]}, "$.variables"),
        ({"input_schema": "object"}, "$.input_schema"),
        ({"description": 5}, "$.description"),
    ],
)
def test_top_level_type_problems_are_named(changes: dict[str, Any], path: str) -> None:
    assert paths_of(definition(**changes)) == [path]


def test_missing_steps_is_a_problem() -> None:
    raw = definition()
    del raw["steps"]
    raw.pop("output")
    problem = only_problem(raw)
    assert problem.path == "$.steps"
    assert problem.message == "Field required"


def test_an_unknown_step_type_is_named_with_the_known_types() -> None:
    problem = only_problem({"steps": [{"id": "a", "type": "teleport"}]})
    assert problem.path == "$.steps[0].type"
    assert "'teleport'" in problem.message
    assert f"known types: {', '.join(sorted(STEP_TYPES))}" in problem.message


def test_a_missing_step_type_is_a_problem_at_type() -> None:
    assert paths_of({"steps": [transform("a", 1), {"id": "b"}]}) == ["$.steps[1].type"]


def test_a_step_that_is_not_an_object_is_named() -> None:
    assert ProblemItem(path="$.steps[1]", message="a step must be an object") in problems_of(
        {"steps": [transform("a", 1), "b"]}
    )


@pytest.mark.parametrize(
    ("step", "paths"),
    [
        ({"id": "1st", "type": "transform", "output": 1}, ["$.steps[0].id"]),
        ({"id": "has-dash", "type": "transform", "output": 1}, ["$.steps[0].id"]),
        ({"id": "x" * 65, "type": "transform", "output": 1}, ["$.steps[0].id"]),
        ({"type": "transform", "output": 1}, ["$.steps[0].id"]),
        ({"id": "a", "type": "transform"}, ["$.steps[0].output"]),
        ({"id": "a", "type": "transform", "output": 1, "outptu": 2}, ["$.steps[0].outptu"]),
        ({"id": "a", "type": "transform", "output": 1, "timeout_s": -1}, ["$.steps[0].timeout_s"]),
        ({"id": "a", "type": "http"}, ["$.steps[0].url"]),
        ({"id": "a", "type": "http", "url": "http://x", "method": "FETCH"}, ["$.steps[0].method"]),
        ({"id": "a", "type": "http", "url": "http://x", "headers": {"a": 1}}, ["$.steps[0].headers.a"]),
        ({"id": "a", "type": "http", "url": "http://x", "json": {}, "body": "x"}, ["$.steps[0]"]),
    ],
)
def test_step_config_problems_are_named(step: dict[str, Any], paths: list[str]) -> None:
    assert paths_of({"steps": [step]}) == paths


def test_duplicate_step_ids_point_at_the_second() -> None:
    problem = only_problem({"steps": [transform("a", 1), transform("b", 2), transform("a", 3)]})
    assert problem == ProblemItem(path="$.steps[2].id", message="duplicate step id 'a'")


def test_a_step_referencing_a_later_step_is_a_problem() -> None:
    problem = only_problem({"steps": [transform("a", {"x": ["{{ steps.b.output }}"]}), transform("b", 1)]})
    assert problem.path == "$.steps[0].output.x[0]"
    assert problem.message == "refers to steps.b, which is a later step"


def test_a_step_referencing_an_unknown_step_is_a_problem() -> None:
    problem = only_problem({"steps": [transform("a", 1), transform("b", "{{ steps['nope'].output }}")]})
    assert problem.path == "$.steps[1].output"
    assert "steps.nope" in problem.message


def test_a_step_referencing_itself_is_a_problem() -> None:
    problem = only_problem({"steps": [transform("a", "{{ steps.a.output }}")]})
    assert problem.message == "refers to steps.a, which is itself"


def test_a_step_referencing_an_earlier_step_is_fine() -> None:
    plan, problems = compile_definition(
        {"steps": [transform("a", 1), transform("b", "{{ steps.a.output + 1 }}")], "output": "{{ steps.b.output }}"}
    )
    assert problems == []
    assert plan is not None


def test_a_template_syntax_error_names_the_field_inside_the_step() -> None:
    problem = only_problem({"steps": [transform("a", 1), transform("b", {"text": "{{ inputs.name "})]})
    assert problem.path == "$.steps[1].output.text"
    assert problem.message.startswith("template syntax error")


def test_http_template_problems_use_the_field_alias() -> None:
    step = {"id": "a", "type": "http", "url": "http://x/{{ input.id }}", "json": {"q": "{% if %}"}}
    problems = problems_of({"steps": [step]})
    assert [p.path for p in problems] == ["$.steps[0].url", "$.steps[0].json.q"]
    assert "unknown name(s) input" in problems[0].message


def test_unknown_names_in_templates_are_problems() -> None:
    problem = only_problem({"steps": [transform("a", "{{ secrets.key }}")]})
    assert problem.path == "$.steps[0].output"
    assert "unknown name(s) secrets" in problem.message


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ({"type": "nope"}, "$.input_schema.type"),
        ({"type": "object", "properties": {"a": {"type": 5}}}, "$.input_schema.properties.a.type"),
        ({"type": "object", "required": "name"}, "$.input_schema.required"),
        ({"type": "object", "properties": {"a": {"minLength": -1}}}, "$.input_schema.properties.a.minLength"),
    ],
)
def test_a_bad_input_schema_is_named(schema: dict[str, Any], path: str) -> None:
    problems = problems_of(definition(input_schema=schema))
    assert problems[0].path == path
    assert problems[0].message.startswith("not a valid JSON Schema")


def test_a_bad_output_schema_is_named() -> None:
    problem = only_problem(definition(output_schema={"type": "object", "properties": {"a": {"type": "text"}}}))
    assert problem.path == "$.output_schema.properties.a.type"


@pytest.mark.parametrize("kind", ["string", "array", ["object", "null"]])
def test_inputs_must_be_an_object(kind: Any) -> None:
    assert ProblemItem(path="$.input_schema.type", message="inputs must be an object") in problems_of(
        definition(input_schema={"type": kind})
    )


def test_the_output_may_only_reference_known_steps() -> None:
    problem = only_problem(definition(output={"a": ["{{ steps.compose.output }}", "{{ steps.missing.output }}"]}))
    assert problem == ProblemItem(path="$.output.a[1]", message="unknown step 'missing'")


def test_a_template_error_in_the_output_is_named() -> None:
    assert paths_of(definition(output={"a": "{{ oops }}"})) == ["$.output.a"]


def test_every_problem_is_reported_at_once() -> None:
    raw = {
        "input_schema": {"type": "nope"},
        "extra": True,
        "steps": [
            {"id": "a", "type": "unknown"},
            transform("b", "{{ inputs.x "),
            transform("c", "{{ steps.d.output }}"),
            transform("d", 1),
            transform("d", 2),
        ],
        "output": "{{ steps.zz.output }}",
    }
    assert paths_of(raw) == [
        "$.extra",
        "$.input_schema.type",
        "$.input_schema.type",
        "$.steps[0].type",
        "$.steps[1].output",
        "$.steps[2].output",
        "$.steps[4].id",
        "$.output",
    ]


def test_a_bad_top_level_field_does_not_hide_the_others() -> None:
    """Regression: a top-level error (here `timeout_s`) used to hide schema and output problems."""
    raw = definition(timeout_s=0, output_schema={"type": 3}, output="{{ steps.missing }}")
    assert paths_of(raw) == ["$.timeout_s", "$.output_schema.type", "$.output"]


def test_a_top_level_field_with_the_wrong_type_is_reported_once() -> None:
    assert paths_of(definition(input_schema=["not", "a", "schema"], steps="none", output="{{ steps.x }}")) == [
        "$.input_schema",
        "$.steps",
    ]


def test_a_repeated_id_is_reported_even_on_a_step_with_other_problems() -> None:
    problems = problems_of({"steps": [transform("a", 1), {"id": "a", "type": "transform"}, {"id": "a"}]})
    assert problems == [
        ProblemItem(path="$.steps[1].output", message="Field required"),
        ProblemItem(path="$.steps[1].id", message="duplicate step id 'a'"),
        ProblemItem(path="$.steps[2].type", message=problems[2].message),
        ProblemItem(path="$.steps[2].id", message="duplicate step id 'a'"),
    ]


def test_problems_are_listed_step_by_step() -> None:
    raw = {
        "steps": [
            {"id": "a", "type": "condition", "if": "true", "then": "a"},
            {"id": "b", "type": "teleport"},
            transform("c", "{{ steps.zz }}"),
        ]
    }
    assert paths_of(raw) == ["$.steps[0].then", "$.steps[1].type", "$.steps[2].output"]


# --- what templates read -----------------------------------------------------------------------


def test_reading_an_undeclared_variable_is_a_problem_naming_the_declared_ones() -> None:
    problem = only_problem(definition(steps=[transform("a", {"x": ["{{ vars.greting }}"]})], output=None))
    assert problem == ProblemItem(
        path="$.steps[0].output.x[0]",
        message="reads vars.greting, which is not declared in `variables` (declared: greeting)",
    )


def test_reading_a_variable_without_any_declared_is_a_problem_for_each_name() -> None:
    assert problems_of({"steps": [transform("a", "{{ vars['a b'] ~ vars.c ~ vars.c }}")]}) == [
        ProblemItem(
            path="$.steps[0].output",
            message="reads vars['a b'], which is not declared in `variables` (none is declared)",
        ),
        ProblemItem(
            path="$.steps[0].output", message="reads vars.c, which is not declared in `variables` (none is declared)"
        ),
    ]


@pytest.mark.parametrize(
    ("step", "path"),
    [
        ({"id": "s", "type": "transform", "output": 1, "when": "vars.on"}, "$.steps[0].when"),
        ({"id": "s", "type": "condition", "if": "vars.on", "then": "end"}, "$.steps[0].if"),
        ({"id": "s", "type": "http", "url": "http://x/{{ vars.on }}"}, "$.steps[0].url"),
        (
            {"id": "s", "type": "http", "url": "http://x", "headers": {"X-A": "{{ vars.on }}"}},
            '$.steps[0].headers["X-A"]',
        ),
        ({"id": "s", "type": "http", "url": "http://x", "query": {"q": "{{ vars.on }}"}}, "$.steps[0].query.q"),
        ({"id": "s", "type": "http", "url": "http://x", "json": {"a": ["{{ vars.on }}"]}}, "$.steps[0].json.a[0]"),
        (
            {
                "id": "s",
                "type": "llm",
                "prompt": "p",
                "system": "{{ vars.on }}",
                "model": {"provider": "openai", "name": "m"},
            },
            "$.steps[0].system",
        ),
        ({"id": "s", "type": "tool", "tool": "text.split", "args": {"text": "{{ vars.on }}"}}, "$.steps[0].args.text"),
    ],
)
def test_every_templated_field_is_checked_for_what_it_reads(step: dict[str, Any], path: str) -> None:
    assert only_problem({"variables": {"off": 1}, "steps": [step]}) == ProblemItem(
        path=path, message="reads vars.on, which is not declared in `variables` (declared: off)"
    )


def test_the_output_is_checked_for_what_it_reads() -> None:
    assert only_problem(definition(output={"a": "{{ vars.nope }}"})).path == "$.output.a"


CLOSED = {"type": "object", "properties": {"name": {}, "age": {}}, "additionalProperties": False}


@pytest.mark.parametrize(
    "schema",
    [
        CLOSED,
        {"type": "object", "properties": {"name": {}, "age": {}}, "unevaluatedProperties": False},
    ],
)
def test_reading_an_input_a_closed_schema_refuses_is_a_problem(schema: dict[str, Any]) -> None:
    problem = only_problem({"input_schema": schema, "steps": [transform("a", "{{ inputs.nmae }} {{ inputs.name }}")]})
    assert problem == ProblemItem(
        path="$.steps[0].output",
        message="reads inputs.nmae, which the closed input_schema does not allow (its properties: age, name)",
    )


def test_a_closed_schema_allows_the_names_its_patterns_match() -> None:
    schema = {**CLOSED, "patternProperties": {"^x_": {}, "_id$": {}}}
    problem = only_problem(
        {"input_schema": schema, "steps": [transform("a", "{{ [inputs.x_a, inputs.b_id, inputs.c] }}")]}
    )
    assert problem.message == (
        "reads inputs.c, which the closed input_schema does not allow (its properties: age, name, "
        "or a name matching '^x_' or '_id$')"
    )


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"name": {}}},
        {"type": "object", "properties": {"name": {}}, "additionalProperties": {"type": "string"}},
        {"type": "object", "allOf": [{"properties": {"other": {}}}], "unevaluatedProperties": False},
        {"type": "object", "patternProperties": {"(": {}}, "additionalProperties": False},
    ],
)
def test_an_open_schema_allows_reading_any_input(schema: dict[str, Any]) -> None:
    """A pattern that does not compile is the schema's problem, and allows any name."""
    _, problems = compile_definition({"input_schema": schema, "steps": [transform("a", "{{ inputs.other }}")]})
    assert [p.path for p in problems] == (["$.input_schema.patternProperties"] if "(" in str(schema) else [])


@pytest.mark.parametrize(
    "template",
    [
        "{{ vars.tone | default('plain') }} {{ inputs.age | d(3) }}",
        "{{ inputs.depth if inputs.depth is defined else 1 }}",
        "{% if vars.tone is undefined %}none{% endif %}",
        "{{ inputs.get('extra') }} {{ vars.keys() | list }} {{ inputs.items() | list }}",
        "{{ inputs[vars.greeting] }} {{ vars[inputs.name] }}",
        "{% set vars = {'own': 1} %}{{ vars.own }}",
        "{% for inputs in [{'x': 1}] %}{{ inputs.x }}{% endfor %}",
        "{% macro m(vars) %}{{ vars.q }}{% endmacro %}{{ m({'q': 1}) }}",
    ],
)
def test_reads_that_may_be_missing_or_cannot_be_judged_are_allowed(template: str) -> None:
    raw = definition(input_schema=CLOSED, steps=[transform("a", template)], output=None)
    plan, problems = compile_definition(raw)
    assert problems == []
    assert plan is not None


def test_a_read_through_a_missing_key_is_a_problem_even_with_a_default_further_on() -> None:
    """`inputs.nope.x | default(1)` still fails: the default applies to `.x`, not to `inputs.nope`."""
    raw = definition(input_schema=CLOSED, steps=[transform("a", "{{ inputs.nope.x | default(1) }}")], output=None)
    assert only_problem(raw).message.startswith("reads inputs.nope,")


def test_reads_are_checked_when_the_top_level_has_other_problems() -> None:
    raw = {"timeout_s": 0, "input_schema": CLOSED, "steps": [transform("a", "{{ inputs.x }} {{ vars.y }}")]}
    assert [p.message.split(",")[0] for p in problems_of(raw)] == [
        "Input should be greater than 0",
        "reads vars.y",
        "reads inputs.x",
    ]


def test_a_stored_version_compiles_without_checking_what_it_reads() -> None:
    """Versions deployed before reads were checked keep running (the render fails only if it reaches the read)."""
    stored = {"steps": [transform("a", "{% if inputs.legacy %}{{ vars.gone }}{% endif %}")]}
    assert paths_of(stored) == ["$.steps[0].output"]
    plan, problems = compile_definition(stored, check_reads=False)
    assert problems == []
    assert plan is not None
    assert PlanCache().put(uuid.uuid4(), stored).steps[0].config.id == "a"


# --- dependency cycles -------------------------------------------------------------------------


def test_a_cycle_is_named_in_order_at_the_need_that_closes_it() -> None:
    problem = only_problem({"steps": [transform("a", 1, needs=["b"]), transform("b", 2)]})
    assert problem == ProblemItem(
        path="$.steps[0].needs[0]",
        message="dependency cycle: a -> b -> a (each step waits for the next, so none can start)",
    )


def test_each_cycle_is_one_problem() -> None:
    raw = {
        "steps": [
            transform("a", 1),
            transform("b", 2, needs=["a", "d"]),
            transform("c", 3),
            transform("d", 4),
            transform("e", 5, needs=["f"]),
            transform("f", 6, needs=["e", "d"]),
            transform("g", 7, needs=["f"]),
        ]
    }
    assert [(p.path, p.message.split(" (")[0]) for p in problems_of(raw)] == [
        ("$.steps[1].needs[1]", "dependency cycle: b -> d -> c -> b"),
        ("$.steps[4].needs[0]", "dependency cycle: e -> f -> e"),
    ]


def test_a_cycle_through_a_condition_branch_is_named() -> None:
    raw = {
        "steps": [
            transform("a", 1, needs=["y"]),
            {"id": "x", "type": "condition", "if": "true", "then": "y"},
            transform("y", 2),
        ]
    }
    assert only_problem(raw).message.startswith("dependency cycle: a -> y -> x -> a ")


def test_a_later_need_that_closes_no_cycle_is_still_not_an_earlier_step() -> None:
    problem = only_problem({"steps": [transform("a", 1, needs=["b"]), transform("b", 2, needs=[])]})
    assert problem == ProblemItem(path="$.steps[0].needs[0]", message="'b' is not an earlier step")


def test_needing_itself_is_named_as_such() -> None:
    problem = only_problem({"steps": [transform("a", 1, needs=["a"])]})
    assert problem == ProblemItem(path="$.steps[0].needs[0]", message="'a' is itself")


@pytest.mark.parametrize(
    ("edges", "cycles"),
    [
        ({0: [], 1: [0], 2: [1, 0]}, []),
        ({0: [1], 1: [0]}, [[0, 1]]),
        ({0: [2], 1: [0], 2: [1], 3: [2]}, [[0, 2, 1]]),
        ({0: [1], 1: [0], 2: [3], 3: [2], 4: [0, 2]}, [[0, 1], [2, 3]]),
        ({0: [1], 1: [0, 2], 2: [1]}, [[0, 1]]),
        ({0: [], 1: [2], 2: [3], 3: [1]}, [[1, 2, 3]]),
    ],
)
def test_find_cycles(edges: dict[int, list[int]], cycles: list[list[int]]) -> None:
    assert find_cycles(edges) == cycles


# --- content hash ------------------------------------------------------------------------------

json_keys = st.text(max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(json_keys, children, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(json_keys, json_values, max_size=6))
def test_the_content_hash_ignores_key_order(raw: dict[str, Any]) -> None:
    reordered = dict(reversed(list(raw.items())))
    assert content_hash(reordered) == content_hash(raw)
    assert len(content_hash(raw)) == 64


def test_the_content_hash_changes_with_the_content() -> None:
    assert content_hash(definition()) != content_hash(definition(timeout_s=31))
    assert content_hash({"a": 1}) != content_hash({"a": "1"})


# --- inputs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plan() -> Plan:
    compiled, problems = compile_definition(VALID)
    assert compiled is not None, problems
    return compiled


def test_valid_inputs_have_no_problems(plan: Plan) -> None:
    assert input_problems(plan, {"name": "Ada", "age": 36, "tags": ["x"], "address": {"zip": "12345"}}) == []


@pytest.mark.parametrize(
    ("inputs", "path"),
    [
        ({"name": 5}, "$.inputs.name"),
        ({"name": ""}, "$.inputs.name"),
        ({"name": "Ada", "age": -1}, "$.inputs.age"),
        ({"name": "Ada", "age": "36"}, "$.inputs.age"),
        ({"name": "Ada", "tags": ["ok", 2]}, "$.inputs.tags[1]"),
        ({"name": "Ada", "address": {"zip": "abc"}}, "$.inputs.address.zip"),
        ({"name": "Ada", "email": "not an email"}, "$.inputs.email"),
    ],
)
def test_input_problems_name_the_field(plan: Plan, inputs: dict[str, Any], path: str) -> None:
    problems = input_problems(plan, inputs)
    assert [p.path for p in problems] == [path]
    assert problems[0].message


def test_a_missing_required_input_is_named_at_its_own_path(plan: Plan) -> None:
    problems = input_problems(plan, {"age": 3})
    assert problems == [ProblemItem(path="$.inputs.name", message="'name' is a required property")]


def test_each_missing_required_input_is_listed_once() -> None:
    """Regression: with two required properties missing, each was listed twice."""
    compiled, _ = compile_definition(
        {
            "input_schema": {
                "type": "object",
                "required": ["b", "a"],
                "properties": {"inner": {"type": "object", "required": ["x", "y", "z"]}},
            },
            "steps": [transform("s", 1)],
        }
    )
    assert compiled is not None
    assert [p.path for p in input_problems(compiled, {"b": 1, "inner": {"y": 1}})] == [
        "$.inputs.a",
        "$.inputs.inner.x",
        "$.inputs.inner.z",
    ]
    assert [p.path for p in input_problems(compiled, {})] == ["$.inputs.b", "$.inputs.a"]


def test_inputs_that_are_not_an_object_are_a_problem_at_inputs(plan: Plan) -> None:
    assert [p.path for p in input_problems(plan, ["Ada"])] == ["$.inputs"]


def test_input_problems_are_sorted_by_path(plan: Plan) -> None:
    problems = input_problems(plan, {"name": 1, "age": "x", "tags": [1], "address": {"zip": 5}})
    assert [p.path for p in problems] == ["$.inputs.address.zip", "$.inputs.age", "$.inputs.name", "$.inputs.tags[0]"]


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        ((), "$"),
        (("inputs", "items", 0), "$.inputs.items[0]"),
        (("inputs", "a b"), '$.inputs["a b"]'),
        (("x", 'say "hi"'), '$.x["say \\"hi\\""]'),
        ((0, 1), "$[0][1]"),
    ],
)
def test_json_path_rendering(loc: tuple[int | str, ...], path: str) -> None:
    assert json_path(loc) == path


# --- the plan cache ----------------------------------------------------------------------------


def test_the_plan_cache_compiles_once_and_evicts_the_oldest() -> None:
    cache = PlanCache(size=2)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    plan = cache.put(first, VALID)
    assert cache.get(first) is plan
    cache.put(second, VALID)
    cache.put(third, VALID)
    assert cache.get(first) is None
    assert cache.get(second) is not None
    assert cache.get(third) is not None


def test_the_plan_cache_refuses_a_definition_that_does_not_compile() -> None:
    cache = PlanCache()
    version = uuid.uuid4()
    with pytest.raises(ValueError, match="does not compile"):
        cache.put(version, {"steps": []})
    assert cache.get(version) is None
