"""The editor's text: YAML or JSON read into a definition, written back in the order people write it, and a
problem's JSON path placed on its line."""

from __future__ import annotations

import pytest

from workflow_service.ui.pages import definition_text as text_of

YAML = """\
description: x
steps:
  - id: a
    type: transform
    output:
      "odd key": 1
  - id: b
    type: llm
"""


def test_a_path_is_found_on_its_line_and_a_missing_key_on_its_nearest_parent() -> None:
    assert text_of.line_of(YAML, "$.steps[1].type") == 8
    assert text_of.line_of(YAML, '$.steps[0].output["odd key"]') == 6
    assert text_of.line_of(YAML, "$.steps[1].prompt") == 7  # not there: the step that lacks it
    assert text_of.line_of(YAML, "$.nothing") == 1
    assert text_of.line_of('{\n  "steps": [\n    {"id": 1}\n  ]\n}', "$.steps[0].id") == 3  # JSON too
    assert text_of.line_of(YAML, "not a path") is None
    assert text_of.line_of("a: [", "$.a") is None  # text that does not parse


def test_yaml_is_read_as_json_has_it_and_refused_when_it_is_not_one_object() -> None:
    assert text_of.parse("when: 2024-01-02\nn: 1", "yaml") == {"when": "2024-01-02", "n": 1}
    with pytest.raises(text_of.TextProblem) as not_an_object:
        text_of.parse("[1, 2]", "json")
    assert "must be an object" in not_an_object.value.message
    with pytest.raises(text_of.TextProblem) as empty:
        text_of.parse("  \n", "yaml")
    assert empty.value.line == 1
    with pytest.raises(text_of.TextProblem) as bad:
        text_of.parse("a: 1\nb: [\n", "yaml")
    assert bad.value.line is not None
    assert "not valid YAML" in bad.value.message


def test_aliases_that_expand_past_the_limit_are_refused() -> None:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    with pytest.raises(text_of.TextProblem) as bomb:
        text_of.parse("\n".join(lines), "yaml")
    assert "aliases" in bomb.value.message


def test_a_definition_is_written_in_the_order_people_write_it() -> None:
    stored = {"output": 1, "steps": [{"output": 2, "type": "transform", "id": "a"}], "input_schema": {}, "x": 0}
    assert list(text_of.ordered(stored)) == ["input_schema", "steps", "x", "output"]
    assert text_of.render(stored, "yaml").startswith("input_schema: {}\nsteps:\n- id: a\n  type: transform\n")
    assert text_of.parse(text_of.render({"p": "two\nlines"}, "yaml"), "yaml") == {"p": "two\nlines"}
    assert text_of.render({"p": "two\nlines"}, "yaml") == "p: |-\n  two\n  lines\n"
    assert text_of.parse(text_of.render(stored, "json"), "json") == stored
