"""Templates: typed single expressions, StrictUndefined, the immutable sandbox, data never re-rendered."""

from __future__ import annotations

import asyncio
import threading
import time
import tracemalloc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow_service.engine.templates import (
    CONTEXT_NAMES,
    TEMPLATE_LIMIT,
    CompiledValue,
    TemplateError,
    TemplateLimitError,
    TemplateLimits,
    render_all,
)


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


@pytest.mark.parametrize(
    ("template", "reads"),
    [
        (
            "{{ inputs.name }} {{ vars['a b'] }} {{ env.KEY }} {{ steps.s.output }}",
            {"inputs": {"name"}, "vars": {"a b"}},
        ),
        ("{% for t in inputs.tags %}{{ vars.sep ~ t }}{% endfor %}", {"inputs": {"tags"}, "vars": {"sep"}}),
        ("{{ inputs.a.b.c }} {{ inputs['x'].y }}", {"inputs": {"a", "x"}}),
        ("{{ inputs.n | default(1) }} {{ vars.v | d('x') }} {{ inputs.m is defined }}", {}),
        ("{{ inputs.n if inputs.n is number else 0 }}", {}),
        ("{{ inputs.a.b | default(1) }}", {"inputs": {"a"}}),
        ("{{ inputs.get('x') }} {{ vars.items() | list }} {{ inputs['get'] }}", {"inputs": {"get"}}),
        ("{{ inputs[vars.key] }} {{ inputs[0] }}", {"vars": {"key"}}),
        ("{% set vars = inputs %}{{ vars.anything }}", {}),
        ("{% for inputs in [1] %}{{ inputs.x }}{% endfor %}{{ vars.y }}", {"vars": {"y"}}),
        ("{% set x = inputs.a %}{{ x.b }}", {"inputs": {"a"}}),
    ],
)
def test_reads_are_the_keys_of_inputs_and_vars_a_render_cannot_do_without(
    template: str, reads: dict[str, set[str]]
) -> None:
    (compiled,) = CompiledValue(template, "$").templates
    assert compiled.reads == reads


def test_an_unknown_name_is_refused_naming_what_templates_can_use() -> None:
    with pytest.raises(TemplateError) as caught:
        CompiledValue("{{ lipsum(3) }}", "$.steps[0].output")
    assert caught.value.message == (
        "unknown name(s) lipsum; templates can use inputs, vars, env and steps, "
        "and the functions cycler, dict, joiner, namespace, range"
    )


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


# --- limits: time, iterations and the size of what a template builds ------------------------------

LIMIT_WAIT_S = 20.0
"""How long a bounded render may take on a loaded machine; an unbounded one takes minutes or hours."""


def bounded(template: Any, context: dict[str, Any], limits: TemplateLimits | None = None) -> tuple[Any, int]:
    """Compile and render in a helper thread, failing the test if it has not ended within LIMIT_WAIT_S
    (a runaway render is left behind in its daemon thread). Returns the value or the TemplateError, and
    the peak of memory allocated meanwhile (traced, which slows Python down: tests expecting another
    limit than time give a generous time limit)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            compiled = CompiledValue(template, "$.steps[0].output")
            box["value"] = compiled.render(context) if limits is None else compiled.render(context, limits)
        except BaseException as exc:  # the test inspects it
            box["value"] = exc

    tracemalloc.start()
    try:
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(LIMIT_WAIT_S)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not thread.is_alive(), f"the render of {template!r} did not end within {LIMIT_WAIT_S} s"
    return box["value"], peak


def assert_limit(outcome: Any, *words: str) -> TemplateLimitError:
    assert isinstance(outcome, TemplateLimitError), outcome
    assert outcome.code == TEMPLATE_LIMIT == "template_limit"
    assert outcome.path == "$.steps[0].output"
    for word in words:
        assert word in outcome.message
    return outcome


MB = 1024 * 1024
SLOW_OK = TemplateLimits(time_s=LIMIT_WAIT_S / 2)


def test_nested_ranges_stop_at_the_iteration_limit() -> None:
    template = "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}"
    outcome, _ = bounded(template, ctx(), SLOW_OK)
    assert_limit(outcome, "100000 loop iterations and calls", "WFS_TEMPLATE_MAX_ITERATIONS")


def test_a_loop_over_the_inputs_counts_too() -> None:
    limits = TemplateLimits(time_s=LIMIT_WAIT_S / 2, max_iterations=10_000)
    template = "{% for a in inputs.xs %}{% for b in inputs.xs %}.{% endfor %}{% endfor %}"
    outcome, _ = bounded(template, ctx(xs=list(range(5000))), limits)
    assert_limit(outcome, "10000 loop iterations", "WFS_TEMPLATE_MAX_ITERATIONS")


def test_a_slow_render_stops_at_the_time_limit() -> None:
    template = (
        "{% set ns = namespace(n=0) %}{% for i in range(100000) %}{% for j in range(100000) %}"
        "{% set ns.n = ns.n + i * j %}{% endfor %}{% endfor %}{{ ns.n }}"
    )
    started = time.monotonic()
    outcome, _ = bounded(template, ctx(), TemplateLimits(time_s=0.3, max_iterations=10**12))
    assert_limit(outcome, "longer than 0.3 s", "WFS_TEMPLATE_TIME_LIMIT_S")
    assert time.monotonic() - started < LIMIT_WAIT_S


@pytest.mark.parametrize(
    ("template", "inputs"),
    [
        ('{{ ("x" * inputs.n) | length }}', {"n": 2_000_000_000}),
        ("{{ inputs.n * 'x' }}", {"n": 2_000_000_000}),
        ("size: {{ ('x' * inputs.n) | length }}", {"n": 2_000_000_000}),
        ("{{ [inputs.s] * inputs.n }}", {"s": "y" * 1000, "n": 2_000_000_000}),
        ("{{ inputs.s * 100 }}", {"s": "y" * 100_000}),
        ("{{ (inputs.xs * 100) | length }}", {"xs": list(range(100_000))}),
        ("{{ (inputs.s + inputs.s) | length }}", {"s": "y" * 600_000}),
        ('{{ "x".ljust(inputs.n) }}', {"n": 2_000_000_000}),
        ('{{ "x" | center(inputs.n) }}', {"n": 2_000_000_000}),
        ('{{ "%" ~ inputs.n ~ "s" }}{{ ("%" ~ inputs.n ~ "s") % 1 }}', {"n": 2_000_000_000}),
        ('{{ "%2000000000s" | format(1) }}', {}),
        ('{{ "{:>2000000000}".format(1) }}', {}),
        ('{{ inputs.s.replace("", inputs.s) }}', {"s": "y" * 100_000}),
        ('{{ inputs.s | replace("", inputs.s) }}', {"s": "y" * 100_000}),
        ("{{ inputs.s | indent(100000) }}", {"s": "y\n" * 10_000}),
        ('{{ (1).to_bytes(inputs.n, "big") }}', {"n": 2_000_000_000}),
        ("{{ [1] | batch(inputs.n, 0) | list | length }}", {"n": 2_000_000_000}),
        ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}ok", {}),
        (
            "{% set ns = namespace(x=[1]) %}{% for i in range(64) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}"
            "{{ ns.x | string | length }}",
            {},
        ),
        ("{{ [inputs.s, inputs.s, inputs.s, inputs.s, inputs.s] }}", {"s": "y" * 300_000}),
    ],
)
def test_values_are_refused_before_they_are_built(template: str, inputs: dict[str, Any]) -> None:
    outcome, peak = bounded(template, ctx(**inputs), SLOW_OK)
    assert_limit(outcome, "1000000 characters or items", "WFS_TEMPLATE_MAX_SIZE")
    assert peak < 64 * MB, f"{peak / MB:.0f} MB allocated"


@pytest.mark.parametrize(
    "template",
    [
        "{{ 9 ** (9 ** 7) }}",
        "{{ 9 ** (9 ** (9 ** 9)) }}",
        "{{ inputs.n ** inputs.n }}",
        "x = {{ 2 ** inputs.n }}",
        "{{ (2 ** 60000) * (2 ** 60000) }}",
    ],
)
def test_power_towers_are_refused_before_they_are_computed(template: str) -> None:
    started = time.monotonic()
    outcome, peak = bounded(template, ctx(n=10**7), SLOW_OK)
    assert_limit(outcome, "65536 bits")
    assert time.monotonic() - started < LIMIT_WAIT_S
    assert peak < 64 * MB


def test_a_huge_range_is_refused_at_once() -> None:
    outcome, peak = bounded("{{ range(inputs.n) | list | length }}", ctx(n=10**9), SLOW_OK)
    assert_limit(outcome, "range() of 1000000000 items", "100000 iterations", "WFS_TEMPLATE_MAX_ITERATIONS")
    assert peak < 64 * MB


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(100000) %}{{ inputs.s }}{% endfor %}",
        "{% for i in range(100000) %}literal text of some length, repeated{% endfor %}",
        "{% set s %}{% for i in range(100000) %}{{ inputs.s }}{% endfor %}{% endset %}{{ s | length }}",
        "{% macro m() %}{% for i in range(100000) %}{{ inputs.s }}{% endfor %}{% endmacro %}{{ m() | length }}",
    ],
)
def test_long_output_is_cut_off_at_the_size_limit(template: str) -> None:
    outcome, peak = bounded(template, ctx(s="y" * 100), SLOW_OK)
    assert_limit(outcome, "rendered text", "1000000 characters or items", "WFS_TEMPLATE_MAX_SIZE")
    assert peak < 64 * MB


@pytest.mark.parametrize(
    "template",
    [
        "{{ range(100000) | join(inputs.sep) }}",
        "{{ inputs.sep.join(range(100000) | map('string')) }}",
        "{% for i in range(100000) %}{{ range(100000) | join(',') }}{% endfor %}",
        "{{ range(100000) | join(',') }}{{ range(100000) | join(',') }}",
    ],
)
def test_join_over_big_ranges_ends_with_a_limit(template: str) -> None:
    outcome, peak = bounded(template, ctx(sep="-" * 100), SLOW_OK)
    assert_limit(outcome, "WFS_TEMPLATE_")
    assert peak < 64 * MB


def test_a_quadratic_sum_of_lists_is_bounded() -> None:
    outcome, _ = bounded("{{ inputs.xs | sum(start=[]) | length }}", ctx(xs=[[1]] * 200_000), SLOW_OK)
    assert_limit(outcome, "WFS_TEMPLATE_MAX_ITERATIONS")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ range(3) | list }}", [0, 1, 2]),
        ("{{ 'ab' * 3 }}", "ababab"),
        ("{{ [1, 2] + [3] }}", [1, 2, 3]),
        ("{{ [0] * 3 }}", [0, 0, 0]),
        ("{{ 2 ** 64 }}", 2**64),
        ("{{ inputs.n * inputs.n }}", 49),
        ("{{ '%5s|%-3d|%.2f' % ('a', 7, 1.5) }}", "    a|7  |1.50"),
        ("{{ '{:>4}-{}'.format(1, 'x') }}", "   1-x"),
        ("{{ 'a' ~ inputs.n ~ 'b' }}", "a7b"),
        ("{{ {'a': inputs.n, 'b': [inputs.n]} }}", {"a": 7, "b": [7]}),
        ("{{ (1, 'x') }}", (1, "x")),
        ("{{ inputs.tags | join('-') }}", "a-b-c"),
        ("{{ [[1], [2]] | sum(start=[]) }}", [1, 2]),
        ("{{ [1, 2, 3] | sum }}", 6),
        ("{{ 'a-b'.replace('-', '+') }}", "a+b"),
        ("{{ {'k': [1]} | tojson(indent=2) }}", '{\n  "k": [\n    1\n  ]\n}'),
        ("{% for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{{ loop.length }};{% endfor %}", "32;72;"),
        ("{% for t in inputs.tags %}{{ loop.index }}{{ t }}{% endfor %}", "1a2b3c"),
        ("{% set ns = namespace(n=0) %}{% for i in range(10) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", "45"),
        ("{% macro hi(n) %}hi {{ n }}{% endmacro %}{{ hi(inputs.n) }}", "hi 7"),
        ("{{ inputs.obj.get('timeout_ms', 3600000) }}", 3600000),
        ("{{ inputs.missing | default(5000000) }}", 5000000),
        ("{{ 'x'.ljust(3) ~ '|' }}", "x  |"),
        ("{{ inputs.tags | batch(2, '-') | list }}", [["a", "b"], ["c", "-"]]),
    ],
)
def test_ordinary_templates_are_unaffected_by_the_limits(template: str, expected: Any) -> None:
    assert render(template, ctx(n=7, tags=["a", "b", "c"], obj={"k": 1})) == expected


def test_a_value_read_as_is_is_not_limited() -> None:
    document = "y" * 3_000_000
    assert render("{{ inputs.doc }}", ctx(doc=document)) is document
    rendered = render({"a": "{{ inputs.doc }}", "b": "{{ inputs.doc | length }}"}, ctx(doc=document))
    assert rendered == {"a": document, "b": 3_000_000}


@pytest.mark.parametrize(
    "template",
    [
        "{{ 9 ** (9 ** 7) }}",
        "n = {{ 9 ** (9 ** 7) }}",
        "{{ 'x' | center(200000000) }}",
        "{{ 'x' * 200000000 }}",
        "{{ ('x' ~ 'y') * 200000000 }}",
        "{% for i in range(10) %}{{ 'x' | center(200000000) }}{% endfor %}",
        "{{ [1] * 200000000 }}",
    ],
)
def test_compiling_never_evaluates_an_expression(template: str) -> None:
    box: dict[str, Any] = {}
    tracemalloc.start()
    try:
        thread = threading.Thread(target=lambda: box.update(c=CompiledValue(template, "$.x")), daemon=True)
        thread.start()
        thread.join(LIMIT_WAIT_S)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not thread.is_alive(), "compiling did not end"
    assert peak < 16 * MB, f"compiling allocated {peak / MB:.0f} MB"
    with pytest.raises(TemplateLimitError):
        box["c"].render(ctx())


def test_an_integer_literal_too_long_is_a_template_error_at_compile_time() -> None:
    with pytest.raises(TemplateError, match="template syntax error") as caught:
        CompiledValue("{{ " + "9" * 5000 + " }}", "$.x")
    assert caught.value.path == "$.x"


def test_lookups_render_inline_and_loops_in_a_thread() -> None:
    assert CompiledValue({"a": "{{ inputs.x }}", "b": "n={{ steps.s.output['k'] | length }}"}, "$").inline
    assert CompiledValue("{{ inputs.n * 2 > 3 and vars.greeting }}", "$").inline
    for template in ("{% for i in inputs.xs %}{{ i }}{% endfor %}", "{{ inputs.s.upper() }}", "{{ inputs.xs | join }}"):
        assert not CompiledValue(template, "$").inline


async def test_a_runaway_render_does_not_hold_up_the_event_loop() -> None:
    template = "{% for i in range(100000) %}{% for j in range(100000) %}{{ i * j }}{% endfor %}{% endfor %}"
    compiled = CompiledValue({"x": template}, "$.steps[0].output")
    limits = TemplateLimits(time_s=1.0, max_iterations=10**12, max_size=10**12)
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = loop.time()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    started = loop.time()
    try:
        with pytest.raises(TemplateLimitError) as caught:
            await asyncio.wait_for(render_all({"output": compiled}, ctx(), limits), LIMIT_WAIT_S)
    finally:
        done.set()
        await ticking
    assert caught.value.path == "$.steps[0].output.x"
    assert "WFS_TEMPLATE_TIME_LIMIT_S" in caught.value.message
    assert loop.time() - started >= 1.0
    assert len(gaps) > 10
    assert max(gaps) < 0.5, f"the event loop stalled for {max(gaps):.2f} s"


async def test_render_all_renders_every_field() -> None:
    fields = {"a": CompiledValue("{{ inputs.n }}", "$.a"), "b": CompiledValue("{{ range(inputs.n) | list }}", "$.b")}
    assert await render_all(fields, ctx(n=3)) == {"a": 3, "b": [0, 1, 2]}
    assert await render_all({"a": fields["a"]}, ctx(n=3)) == {"a": 3}
    assert await fields["b"].render_async(ctx(n=2)) == [0, 1]
