"""What the templates of a definition may read (engine/definition.py): the variables it declares, and
the inputs its input schema allows when the schema is closed. A template that reads anything else
cannot render (the value is never there), so it is a problem at validation rather than a
`template_error` in every job that reaches it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from workflow_service.engine.templates import CompiledValue
from workflow_service.errors import ProblemItem

_APPLICATORS = frozenset(
    {"allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "$ref", "$dynamicRef"}
)
"""Keywords that let `unevaluatedProperties` see properties declared elsewhere than beside it."""


@dataclass(frozen=True, slots=True)
class Readable:
    """The keys templates may read; None where the definition does not say (any key is allowed)."""

    variables: frozenset[str] | None = None
    """The names in `variables` (a job may override only those)."""
    inputs: frozenset[str] | None = None
    """The `properties` of a closed input schema (`additionalProperties: false`)."""
    input_patterns: tuple[str, ...] = ()
    """The `patternProperties` of a closed input schema: names matching one are allowed too."""

    @classmethod
    def of(cls, input_schema: Any, variables: Any) -> Readable:
        """What a definition with this input schema and these variables (either unreadable: None) declares."""
        closed = _closed_properties(input_schema)
        return cls(
            variables=frozenset(variables) if isinstance(variables, dict) else None,
            inputs=closed[0] if closed else None,
            input_patterns=closed[1] if closed else (),
        )

    def problems(self, value: CompiledValue) -> list[ProblemItem]:
        """A problem at each template of `value` for each key it reads that is never there."""
        return [
            ProblemItem(path=template.path, message=message)
            for template in value.templates
            for message in (
                *self._variable_problems(template.reads.get("vars", frozenset())),
                *self._input_problems(template.reads.get("inputs", frozenset())),
            )
        ]

    def _variable_problems(self, keys: frozenset[str]) -> list[str]:
        if self.variables is None:
            return []
        declared = f"declared: {', '.join(sorted(self.variables))}" if self.variables else "none is declared"
        return [
            f"reads {_ref('vars', key)}, which is not declared in `variables` ({declared})"
            for key in sorted(keys - self.variables)
        ]

    def _input_problems(self, keys: frozenset[str]) -> list[str]:
        if self.inputs is None:
            return []
        allowed = ", ".join(sorted(self.inputs)) or "none"
        if self.input_patterns:
            allowed += ", or a name matching " + " or ".join(repr(p) for p in self.input_patterns)
        return [
            f"reads {_ref('inputs', key)}, which the closed input_schema does not allow (its properties: {allowed})"
            for key in sorted(keys - self.inputs)
            if not any(_matches(pattern, key) for pattern in self.input_patterns)
        ]


ANY = Readable()
"""No check: every key may be read."""


def _closed_properties(schema: Any) -> tuple[frozenset[str], tuple[str, ...]] | None:
    """The property names and patterns of a schema that refuses any other property, else None."""
    if not isinstance(schema, dict):
        return None
    closed = schema.get("additionalProperties") is False or (
        schema.get("unevaluatedProperties") is False and not _APPLICATORS & schema.keys()
    )
    properties, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
    if not closed or not isinstance(properties, dict) or not isinstance(patterns, dict):
        return None
    return frozenset(properties), tuple(patterns)


def _matches(pattern: str, key: str) -> bool:
    """Whether `key` matches a `patternProperties` pattern (as jsonschema does: `re.search`); a
    pattern that does not compile is reported with the schema, so here it allows anything."""
    try:
        return re.search(pattern, key) is not None
    except re.error:
        return True


def _ref(name: str, key: str) -> str:
    return f"{name}.{key}" if key.isidentifier() else f"{name}[{key!r}]"
