"""A job's output as plain text (`txt`) and as Markdown (`md`).

Strings are written as they are: model answers are often Markdown already, and a text file of a text answer
should be that answer. Structured output is written for people, not parsers (that is `format=json`):
- text: `key: value` lines, nested objects and arrays indented by two spaces under their key, array items as
  `- item` lines (arrays of scalars too: one item a line reads and diffs better than inline JSON), strings that
  span lines indented under their key, empty objects and arrays as `(empty)`.
- Markdown: the same shape as nested bullet lists with the keys in bold, except an array of flat objects (every
  value a scalar), which reads best as a table: one column per key.
Keys are in sorted order: PostgreSQL keeps a JSON object's keys in an order of its own (shortest first), SQLite
as they came; sorted, a job's file is the same on either database.
"""

from __future__ import annotations

from typing import Any

import orjson

from workflow_service.outputs.document import Document, StepPart

INDENT = "  "
EMPTY = "(empty)"


def scalar(value: Any) -> str:
    """A scalar as text: strings as they are, true/false/null, numbers as JSON writes them."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _indented(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


# --- text -------------------------------------------------------------------------------------------------------


def plain(value: Any) -> str:
    """A value as text: a string as it is, structured values as indented `key: value` lines."""
    if _is_scalar(value):
        return scalar(value)
    return "\n".join(_plain_lines(value)) + "\n"


def _plain_lines(value: Any) -> list[str]:
    if isinstance(value, dict):
        if not value:
            return [EMPTY]
        lines: list[str] = []
        for key, item in sorted(value.items()):
            lines.extend(_plain_entry(f"{key}:", item))
        return lines
    if isinstance(value, list):
        if not value:
            return [EMPTY]
        lines = []
        for item in value:
            lines.extend(_plain_entry("-", item, hang=True))
        return lines
    return scalar(value).split("\n")


def _plain_entry(label: str, value: Any, *, hang: bool = False) -> list[str]:
    """`label value` on one line when the value fits on one; else the label, then the value indented (a list
    item's object starts on the dash's line, as YAML writes it)."""
    inner = _plain_lines(value)
    if len(inner) == 1 and (_is_scalar(value) or not value):
        return [f"{label} {inner[0]}".rstrip()]
    if hang and isinstance(value, dict):
        return [f"{label} {inner[0]}", *(INDENT + line if line else line for line in inner[1:])]
    return [label, *(INDENT + line if line else line for line in inner)]


def text_document(doc: Document) -> str:
    """The `txt` file: the output as `plain` writes it; with steps, each step's output after it, under a line
    naming the step."""
    body = plain(doc.output) if doc.output is not None or doc.error is None else f"(no output: {doc.error})\n"
    if not doc.steps:
        return body
    parts = [body.rstrip("\n"), ""]
    for number, step in enumerate(doc.steps, 1):
        said = f"{step.type}, {step.status}" + (f", {step.model}" if step.model else "")
        parts += ["", f"---- Step {number}: {step.id} ({said}) ----", step.timing()]
        if step.error:
            parts.append(f"Error: {step.error}")
        if step.has_output:
            parts += ["", plain(step.output).rstrip("\n")]
    return "\n".join(parts) + "\n"


# --- Markdown ---------------------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    return scalar(value).replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")


def _flat_rows(value: Any) -> bool:
    """Whether `value` is an array of objects whose values are all scalars (a table)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(row, dict) and row and all(_is_scalar(v) for v in row.values()) for row in value)
    )


def _table(rows: list[dict[str, Any]]) -> list[str]:
    columns = sorted({key for row in rows for key in row})
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[c]) if c in row else "" for c in columns) + " |")
    return lines


def _md_lines(value: Any) -> list[str]:
    if _flat_rows(value):
        return _table(value)
    if isinstance(value, dict):
        return [line for key, item in sorted(value.items()) for line in _md_item(f"**{key}:**", item)] or [EMPTY]
    if isinstance(value, list):
        lines = []
        for number, item in enumerate(value, 1):  # an object or array in an array is labelled by its place
            lines.extend(_md_item("" if _is_scalar(item) or not item else f"**Item {number}**", item))
        return lines or [EMPTY]
    return scalar(value).split("\n")


def _md_item(label: str, value: Any) -> list[str]:
    head = f"- {label}".rstrip()
    if _is_scalar(value) or not value:
        text = scalar(value) if _is_scalar(value) else EMPTY
        if "\n" not in text:
            return [f"{head} {text}".rstrip()]
        # Text of several lines (often Markdown itself) follows as a block of the item, so it keeps its own shape.
        return [head, "", *(INDENT + line if line else line for line in text.split("\n")), ""]
    inner = _md_lines(value)
    if _flat_rows(value):  # a table cannot sit inside a list item's line: it follows, indented, after a blank
        return [head, "", *(INDENT + line for line in inner), ""]
    return [head, *(INDENT + line if line else line for line in inner)]


def markdown(value: Any) -> str:
    """A value as Markdown: a string as it is, structured values as nested lists or a table."""
    if isinstance(value, str):
        return value
    return "\n".join(_md_lines(value)).rstrip("\n")


def _facts(facts: list[tuple[str, str]]) -> list[str]:
    return [f"- **{label}:** {value}" for label, value in facts]


def _md_step(number: int, step: StepPart) -> list[str]:
    lines = ["", f"### {number}. {step.id}", "", *_facts(step.facts())]
    if step.has_output:
        lines += ["", markdown(step.output)]
    return lines


def markdown_document(doc: Document) -> str:
    """The `md` file: a heading with the job's name, its facts, its inputs when the reader may see them, the
    output, and with steps each step's facts and output."""
    lines = [f"# {doc.title}", "", *_facts(doc.facts)]
    if doc.inputs is not None:
        lines += ["", "## Inputs", "", markdown(doc.inputs) if doc.inputs else EMPTY]
    elif doc.inputs_withheld:
        lines += ["", "## Inputs", "", "_Withheld: only the job's creator sees them._"]
    lines += ["", "## Output", ""]
    if doc.output is None and doc.error is not None:
        lines.append(f"_No output: {doc.error}_")
    else:
        lines.append(markdown(doc.output))
    if doc.steps:
        lines += ["", "## Steps"]
        for number, step in enumerate(doc.steps, 1):
            lines += _md_step(number, step)
    return "\n".join(lines).rstrip("\n") + "\n"
