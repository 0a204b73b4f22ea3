"""Templates: typed single expressions, StrictUndefined, the immutable sandbox, data never re-rendered."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow_service.engine.templates import CONTEXT_NAMES, CompiledValue, TemplateError


def ctx(**inputs: Any) -> dict[str, Any]:
    return {"inputs": inputs, "vars": {"greeting": "Hello"}, "env": {}, "steps": {}}


def render(value: Any, context: dict[str, Any] | None = None, path: str = "$.x") -> Any:
    return CompiledValue(value, path).render(context if context is not None else ctx())


def has_template_syntax(text: str) -> bool:
    return any(marker in text for marker in ("{{", "{%", "{#"))


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars, lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
)
plain_text = st.text().filter(lambda s: not has_template_syntax(s))
plain_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | plain_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(plain_text, children, max_size=4),
)


# --- a string that is exactly one expression keeps the expression's type ---------------------------


@pytest.mark.parametrize(
    "value",
    [0, 42, -7, 3.5, True, False, None, "text", [1, "two", None], {"a": 1, "b": [True, {"c": None}]}, {}, []],
    ids=repr,
)
def test_a_single_expression_keeps_the_type_of_its_value(value: Any) -> None:
    assert render("{{ inputs.v }}", ctx(v=value)) == value
    assert type(render("{{ inputs.v }}", ctx(v=value))) is type(value)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ 1 + 2 }}", 3),
        ("{{ inputs.n * 2 }}", 14),
        ("{{ inputs.n > 3 }}", True),
        ("{{ inputs.tags | length }}", 3),
        ("{{ inputs.tags[1:] }}", ["b", "c"]),
        ("{{ {'n': inputs.n} }}", {"n": 7}),
        ("{{ none }}", None),
        ("  {{ inputs.n }}\n", 7),
        ("{{- inputs.n -}}", 7),
        ("{{+ inputs.n }}", 7),
        ("{{ inputs.n -}}", 7),
        ("{{ -inputs.n }}", -7),
        ("{{inputs.n}}", 7),
    ],
)
def test_single_expression_forms(template: str, expected: Any) -> None:
    result = render(template, ctx(n=7, tags=["a", "b", "c"]))
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("n={{ inputs.n }}", "n=7"),
        ("{{ inputs.n }}{{ inputs.n }}", "77"),
        ("{{ inputs.n }} and {{ inputs.n }}", "7 and 7"),
        ("{{ vars.greeting }}, {{ inputs.name }}!", "Hello, Ada!"),
        ("{% if inputs.n > 3 %}big{% else %}small{% endif %}", "big"),
        ("{% for t in inputs.tags %}{{ t }};{% endfor %}", "a;b;c;"),
        ("{# a comment #}{{ inputs.n }}", "7"),
        ("{{ inputs.flag }}", True),  # the control: alone, it is not a string
        ("flag: {{ inputs.flag }}", "flag: True"),
        ("{{ inputs.obj }}!", "{'k': 1}!"),
    ],
)
def test_mixed_strings_render_to_str(template: str, expected: Any) -> None:
    result = render(template, ctx(n=7, tags=["a", "b", "c"], name="Ada", flag=True, obj={"k": 1}))
    assert result == expected
    assert type(result) is type(expected)


def test_templates_inside_structures_render_in_place() -> None:
    value = {"a": "{{ inputs.n }}", "b": ["x", "{{ inputs.n + 1 }}", {"c": "n={{ inputs.n }}"}], "d": 5, "e": None}
    compiled = CompiledValue(value, "$.steps[0].output")
    assert compiled.render(ctx(n=1)) == {"a": 1, "b": ["x", 2, {"c": "n=1"}], "d": 5, "e": None}
    assert [t.path for t in compiled.templates] == [
        "$.steps[0].output.a",
        "$.steps[0].output.b[1]",
        "$.steps[0].output.b[2].c",
    ]
    # The compiled value is reusable: a second render with another context does not see the first.
    assert compiled.render(ctx(n=10)) == {"a": 10, "b": ["x", 11, {"c": "n=10"}], "d": 5, "e": None}


# --- StrictUndefined: a missing key is an error that says where ---------------------------------


@pytest.mark.parametrize(
    "template",
    ["{{ inputs.missing }}", "hello {{ inputs.missing }}", "{{ inputs.missing.deeper }}", "{{ steps.a.output }}"],
)
def test_a_missing_key_is_a_template_error_with_the_path(template: str) -> None:
    compiled = CompiledValue({"list": ["ok", {"field": template}]}, "$.steps[2].output")
    with pytest.raises(TemplateError) as caught:
        compiled.render(ctx(present=1))
    assert caught.value.path == "$.steps[2].output.list[1].field"
    missing = "a" if "steps.a" in template else "missing"
    assert f"'{missing}'" in caught.value.message


def test_keys_that_are_not_identifiers_are_quoted_in_paths() -> None:
    compiled = CompiledValue({"a b": "{{ inputs.missing }}"}, "$.output")
    with pytest.raises(TemplateError) as caught:
        compiled.render(ctx())
    assert caught.value.path == '$.output["a b"]'


def test_undefined_is_an_error_even_when_only_tested_for_truth_in_text() -> None:
    with pytest.raises(TemplateError, match="missing"):
        render("{% if inputs.missing %}yes{% endif %}", ctx())


def test_defined_test_and_default_filter_allow_optional_values() -> None:
    assert render("{{ inputs.missing is defined }}", ctx()) is False
    assert render("{{ inputs.missing | default('none given') }}", ctx()) == "none given"


# --- compile-time problems ---------------------------------------------------------------------


@pytest.mark.parametrize("template", ["{{ inputs.a ", "{{ inputs. }}", "{% if %}", "x {% for %} y", "{{ 1 -}} {{"])
def test_a_syntax_error_is_a_template_error_at_compile_time(template: str) -> None:
    with pytest.raises(TemplateError) as caught:
        CompiledValue(template, "$.steps[1].output")
    assert caught.value.path == "$.steps[1].output"
    assert caught.value.message.startswith("template syntax error")
    assert "(line " in caught.value.message


@pytest.mark.parametrize("template", ["{{ 1 + -}}", "{{ inputs.a - }}", "{{- inputs.a * -}}"])
def test_whitespace_control_does_not_hide_a_syntax_error(template: str) -> None:
    """Regression: `{{ x -}}` used to escape as a raw jinja2 TemplateSyntaxError (a 500 on PUT /draft)."""
    with pytest.raises(TemplateError, match="syntax error"):
        CompiledValue(template, "$.o")


@pytest.mark.parametrize(
    ("template", "unknown"),
    [
        ("{{ input.name }}", "input"),
        ("{{ request }}", "request"),
        ("x {{ foo }} {{ bar }}", "bar, foo"),
        ("{{ now() }}", "now"),
        ("{% for i in items %}{{ i }}{% endfor %}", "items"),
    ],
)
def test_unknown_top_level_names_are_refused_at_compile_time(template: str, unknown: str) -> None:
    with pytest.raises(TemplateError) as caught:
        CompiledValue({"k": template}, "$.output")
    assert caught.value.path == "$.output.k"
    assert f"unknown name(s) {unknown};" in caught.value.message


def test_names_bound_inside_the_template_are_not_unknown() -> None:
    assert render("{% for t in inputs.tags %}{% set u = t | upper %}{{ u }}{% endfor %}", ctx(tags=["a", "b"])) == "AB"


@pytest.mark.parametrize("name", sorted(CONTEXT_NAMES))
def test_every_context_name_is_usable(name: str) -> None:
    context = {n: {"k": n} for n in CONTEXT_NAMES}
    assert render(f"{{{{ {name}.k }}}}", context) == name


def test_step_refs_lists_the_steps_a_value_reads() -> None:
    compiled = CompiledValue(
        {"a": "{{ steps.first.output }}", "b": ["{{ steps['second'].output.x }} and {{ inputs.n }}"], "c": "plain"},
        "$",
    )
    assert compiled.step_refs == {"first", "second"}
    assert CompiledValue("{{ inputs.n }}", "$").step_refs == set()
    assert CompiledValue({"no": "templates"}, "$").step_refs == set()


# --- the sandbox -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''.__class__ }}",
        "x {{ ''.__class__ }}",
        "{{ inputs.__class__.__init__.__globals__ }}",
        "{{ inputs.s.__class__.__base__ }}",
        "{{ (1).__class__ }}",
        "{{ vars.greeting.format.__globals__ }}",
        "{{ inputs.tags.__len__.__self__.__class__ }}",
    ],
)
def test_the_sandbox_refuses_introspection(template: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(template, ctx(s="text", tags=[1]), path="$.steps[0].output")
    assert caught.value.path == "$.steps[0].output"
    assert "unsafe" in caught.value.message or "SecurityError" in caught.value.message


@pytest.mark.parametrize(
    "template",
    [
        "{{ inputs.tags.append(4) }}",
        "{{ inputs.tags.append }}",
        "{{ inputs.tags.pop() }}",
        "{{ inputs.tags.clear() }}",
        "{{ inputs.tags.sort() }}",
        "{{ inputs.obj.update({'k': 2}) }}",
        "{{ inputs.obj.pop('k') }}",
        "{{ inputs.obj.setdefault('z', 1) }}",
        "{{ inputs.obj.clear() }}",
        "{% set _ = inputs.tags.append(4) %}done",
        "{% do inputs.tags.append(4) %}",
    ],
)
def test_the_immutable_sandbox_refuses_mutation(template: str) -> None:
    tags = [3, 1, 2]
    obj = {"k": 1}
    context = ctx(tags=tags, obj=obj)
    with pytest.raises(TemplateError):
        render(template, context)
    assert tags == [3, 1, 2]
    assert obj == {"k": 1}


def test_reading_is_still_allowed_in_the_sandbox() -> None:
    context = ctx(obj={"k": 1, "j": 2}, tags=["b", "a"])
    assert render("{{ inputs.obj['k'] }}", context) == 1
    assert render("{{ inputs.obj.get('j') }}", context) == 2
    assert render("{{ inputs.obj.keys() | list | sort }}", context) == ["j", "k"]
    assert render("{{ inputs.tags | sort }}", context) == ["a", "b"]
    assert render("{{ 'a-b'.split('-') }}", context) == ["a", "b"]
    assert render("{{ inputs.tags | join(',') | upper }}", context) == "B,A"


# --- data is never rendered again -------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    ["{{ 7 * 7 }}", "{{ ''.__class__.__mro__ }}", "{% for x in range(9) %}{{ x }}{% endfor %}", "{# hidden #}", "{{"],
)
def test_data_containing_template_syntax_is_output_literally(data: str) -> None:
    context = ctx(text=data)
    context["steps"] = {"prev": {"output": {"text": data}, "status": "completed"}}
    assert render("{{ inputs.text }}", context) == data
    assert render("said: {{ inputs.text }}", context) == f"said: {data}"
    assert render("{{ steps.prev.output }}", context) == {"text": data}
    assert render("{{ steps.prev.output.text }}!", context) == f"{data}!"


@given(data=st.text())
def test_any_text_passed_as_data_comes_out_unchanged(data: str) -> None:
    assert render("{{ inputs.v }}", ctx(v=data)) == data
    assert render("<{{ inputs.v }}>", ctx(v=data)) == f"<{data}>"


@given(value=json_values)
def test_any_json_value_passed_through_a_single_expression_is_unchanged(value: Any) -> None:
    assert render({"out": "{{ inputs.v }}"}, ctx(v=value)) == {"out": value}


@given(value=plain_json_values)
def test_any_json_value_without_template_syntax_compiles_and_renders_to_itself(value: Any) -> None:
    compiled = CompiledValue(value, "$.output")
    assert compiled.templates == []
    assert compiled.render(ctx()) == value


_FRAGMENTS = ["{{", "}}", "{%", "%}", "{#", "#}", "-", "+", " ", "1", "inputs", ".", "a", "'", "(", ")", "|", "~", "x"]
_FRAGMENTS += ["steps", "vars", "[", "]", "if", "for", "in", "endif", "endfor", "__class__", "\n", "*", "length"]


@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map("".join))
def test_any_string_compiles_or_is_a_template_error_never_a_crash(text: str) -> None:
    outcome: Any
    try:
        compiled = CompiledValue(text, "$.t")
        outcome = compiled.render({"inputs": {"a": 1, "x": "y"}, "vars": {}, "env": {}, "steps": {}})
    except TemplateError as exc:
        outcome = exc
    if isinstance(outcome, TemplateError):
        assert outcome.path == "$.t"
        assert outcome.message
