"""A workflow definition as a person types it in the editor: YAML or JSON text, read into the JSON object the API
takes, written back from the object the API stores, and each problem's JSON path (`$.steps[1].type`) placed on
the line of the text where it is."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml

Format = Literal["yaml", "json"]
FORMATS: tuple[Format, ...] = ("yaml", "json")
MAX_VALUES = 100_000
"""How many values a definition may stand for once YAML aliases are expanded (nested anchors can otherwise name
billions of values in a few lines)."""

STARTER = {
    "description": "Greets someone by name",
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "variables": {"greeting": "Hello"},
    "steps": [{"id": "greet", "type": "transform", "output": {"text": "{{ vars.greeting }}, {{ inputs.name }}!"}}],
    "output": {"greeting": "{{ steps.greet.output.text }}"},
}
"""The definition a new workflow starts from: one transform step, deployable as it is."""

_SEGMENT = re.compile(r'\.([^.\[\]]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


@dataclass(frozen=True)
class TextProblem(Exception):
    """Text that is not a definition: where it stops making sense (1-based line and column, when known)."""

    message: str
    line: int | None = None
    column: int | None = None

    def as_error(self) -> dict[str, Any]:
        """The problem as the page lists errors: a path, a message and the line."""
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "") if self.line else "$"
        return {"path": where, "message": self.message, "line": self.line}


def format_of(value: str | None) -> Format:
    return "json" if value == "json" else "yaml"


class _Loader(yaml.SafeLoader):
    """YAML as JSON has it: a date stays the text it was written as (JSON has no dates)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse(text: str, fmt: Format) -> dict[str, Any]:
    """The definition `text` holds; TextProblem when it does not parse or is not one object."""
    if not text.strip():
        raise TextProblem("the definition is empty: write a JSON object (or its YAML)", 1, 1)
    if fmt == "json":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TextProblem(f"not valid JSON: {exc.msg}", exc.lineno, exc.colno) from None
    else:
        try:
            value = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
            raise TextProblem(f"not valid YAML: {exc.problem or exc.context}", line, column) from None
        except (yaml.YAMLError, RecursionError) as exc:
            raise TextProblem(f"not valid YAML: {exc}") from None
        _check_size(value)
        value = json.loads(json.dumps(value, default=str))
    if not isinstance(value, dict):
        raise TextProblem("the definition must be an object (keys such as `steps`), not a list or a single value", 1, 1)
    return value


def _check_size(value: Any) -> None:
    sizes: dict[int, int] = {}

    def size(item: Any) -> int:
        if not isinstance(item, dict | list):
            return 1
        known = sizes.get(id(item))
        if known is None:
            children = item.values() if isinstance(item, dict) else item
            known = sizes[id(item)] = 1 + sum(size(child) for child in children)
            if known > MAX_VALUES:
                raise TextProblem(f"the definition stands for more than {MAX_VALUES} values once its aliases expand")
        return known

    try:
        size(value)
    except RecursionError:
        raise TextProblem("the definition is nested too deeply") from None


class _Dumper(yaml.SafeDumper):
    """YAML people read: text of several lines as a block, keys in the order they were written."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.endswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


TOP_ORDER = ("description", "input_schema", "output_schema", "variables", "model", "timeout_s", "guardrails", "steps")
STEP_ORDER = ("id", "type")


def _first(value: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    return {**{k: value[k] for k in order if k in value}, **{k: v for k, v in value.items() if k not in order}}


def ordered(definition: Any) -> Any:
    """The definition with its keys in the order people write them (the database keeps its own order): the
    schemas and variables first, then the steps (each starting with its `id` and `type`), the output last."""
    if not isinstance(definition, dict):
        return definition
    top = _first(definition, TOP_ORDER)
    if "output" in top:
        top["output"] = top.pop("output")
    steps = top.get("steps")
    if isinstance(steps, list):
        top["steps"] = [_first(step, STEP_ORDER) if isinstance(step, dict) else step for step in steps]
    return top


def render(definition: Any, fmt: Format) -> str:
    """The definition as text of `fmt`, its keys in the order people write them."""
    definition = ordered(definition)
    if fmt == "json":
        return json.dumps(definition, indent=2, ensure_ascii=False) + "\n"
    if definition in ({}, None):
        return "{}\n"
    dumped: str = yaml.dump(definition, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return dumped


def path_segments(path: str) -> list[str | int] | None:
    """`$.steps[1]["a b"]` as ['steps', 1, 'a b']; None when `path` is not a JSON path."""
    if not path.startswith("$"):
        return None
    segments: list[str | int] = []
    rest = path[1:]
    while rest:
        found = _SEGMENT.match(rest)
        if found is None:
            return None
        key, index, quoted = found.groups()
        segments.append(key if key is not None else int(index) if index is not None else json.loads(quoted))
        rest = rest[found.end() :]
    return segments


def line_of(text: str, path: str) -> int | None:
    """The 1-based line of `text` (YAML, or JSON, which YAML reads) where the value at `path` starts; for a path
    that is not there (a missing key), the line of the nearest value that is; None when the text does not parse."""
    segments = path_segments(path)
    if segments is None:
        return None
    try:
        node = yaml.compose(text, Loader=_Loader)
    except (yaml.YAMLError, RecursionError):
        return None
    if node is None:
        return None
    for segment in segments:
        child = _child(node, segment)
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1


def _child(node: yaml.Node, segment: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(segment, str):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == segment:
                found: yaml.Node = value
                return found
    if isinstance(node, yaml.SequenceNode) and isinstance(segment, int) and 0 <= segment < len(node.value):
        item: yaml.Node = node.value[segment]
        return item
    return None


def located(problems: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """`problems` (each with its `path` and `message`) with the line of `text` each is on, when known."""
    return [
        {**problem, "line": problem.get("line") or line_of(text, str(problem.get("path", "")))} for problem in problems
    ]
