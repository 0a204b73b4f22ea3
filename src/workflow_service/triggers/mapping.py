"""A trigger's mapping: templates that make a job's inputs, variables and name from an event.

The templates are the engine's (engine/templates.py): Jinja2 in an immutable sandbox, bounded by the same limits
as a step's (WFS_TEMPLATE_*), over a context of `event` (the event's JSON body) and `headers` (the request's
headers by lowercase name, without the credentials). A string that is exactly one `{{ expression }}` keeps the
expression's type. They are compiled when the trigger is saved (a template that does not compile is a 422 naming
its path, `$.mapping.inputs.customer`) and again, from a cache, for the events.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from workflow_service.engine.definition import Plan
from workflow_service.engine.templates import CompiledValue, TemplateError, TemplateLimits
from workflow_service.errors import InvalidInput, ProblemItem
from workflow_service.triggers.schemas import TriggerMapping

NAMES = frozenset({"event", "headers"})
"""What a mapping's templates read."""
HIDDEN_HEADERS = frozenset({"authorization", "cookie", "webhook-signature", "proxy-authorization"})
"""Request headers a template never sees: the credentials."""
NAME_LENGTH = 200
"""A job's name is cut to this many characters."""
_NUL = "\x00"


@dataclass(frozen=True, slots=True)
class Compiled:
    inputs: CompiledValue
    variables: CompiledValue
    name: CompiledValue | None


@dataclass(frozen=True, slots=True)
class Rendered:
    """What the mapping made of one event."""

    inputs: dict[str, Any]
    variables: dict[str, Any]
    name: str | None


def compile_mapping(mapping: TriggerMapping) -> Compiled:
    """The mapping's templates, compiled; 422 naming the path of every one that does not compile."""
    problems: list[ProblemItem] = []

    def compiled(value: Any, path: str) -> CompiledValue:
        try:
            return CompiledValue(value, path, NAMES)
        except TemplateError as exc:
            problems.append(ProblemItem(path=exc.path, message=exc.message))
            return CompiledValue(None, path, NAMES)

    inputs = compiled(mapping.inputs, "$.mapping.inputs")
    if isinstance(mapping.inputs, str) and "{{" not in mapping.inputs and "{%" not in mapping.inputs:
        message = "a string here must be a template that makes an object of the event, such as {{ event.data }}"
        problems.append(ProblemItem(path="$.mapping.inputs", message=message))
    variables = compiled(mapping.variables, "$.mapping.variables")
    name = None if mapping.name is None else compiled(mapping.name, "$.mapping.name")
    _raise("the trigger's mapping does not compile", problems)
    return Compiled(inputs, variables, name)


@functools.lru_cache(maxsize=256)
def _cached(canonical: str) -> Compiled:
    return compile_mapping(TriggerMapping.model_validate_json(canonical))


def compiled_of(stored: Mapping[str, Any]) -> Compiled:
    """The compiled mapping of a stored trigger (compiled once per distinct mapping in this process)."""
    return _cached(orjson.dumps(stored, option=orjson.OPT_SORT_KEYS).decode())


def check_variables(plan: Plan, mapping: TriggerMapping) -> None:
    """422 unless every variable the mapping sets is one the workflow's version defines."""
    defined = ", ".join(sorted(plan.variables)) or "none"
    _raise(
        "the trigger's mapping sets variables the workflow does not define",
        [
            ProblemItem(
                path=f"$.mapping.variables.{name}",
                message=f"unknown variable {name!r}; the workflow defines: {defined}",
            )
            for name in sorted(set(mapping.variables) - set(plan.variables))
        ],
    )


def context_of(event: Any, headers: Mapping[str, str]) -> dict[str, Any]:
    """What the templates read of an event."""
    shown = {name.lower(): value for name, value in headers.items() if name.lower() not in HIDDEN_HEADERS}
    return {"event": event, "headers": shown}


async def render(compiled: Compiled, context: Mapping[str, Any], limits: TemplateLimits) -> Rendered:
    """The job the mapping makes of an event: 422 naming the template that fails on it, or what it made that a
    job cannot hold (inputs that are not an object, a NUL character)."""
    try:
        inputs = await compiled.inputs.render_async(context, limits)
        variables = await compiled.variables.render_async(context, limits)
        name = None if compiled.name is None else await compiled.name.render_async(context, limits)
    except TemplateError as exc:
        raise _failed([ProblemItem(path=exc.path, message=exc.message)]) from exc
    if not isinstance(inputs, dict):
        kind = type(inputs).__name__ if inputs is not None else "null"
        raise _failed([ProblemItem(path="$.mapping.inputs", message=f"must make an object of the event, not {kind}")])
    text = None if name is None else str(name)[:NAME_LENGTH]
    found = [*_nul_paths(inputs, "$.inputs"), *_nul_paths(variables, "$.variables"), *_nul_paths(text, "$.name")]
    if found:
        message = "must not contain the NUL character (U+0000)"
        raise _failed([ProblemItem(path=path, message=message) for path in found])
    return Rendered(inputs, variables, text or None)


def _failed(problems: list[ProblemItem]) -> InvalidInput:
    listed = "; ".join(f"{p.path}: {p.message}" for p in problems[:5])
    return InvalidInput(
        f"the trigger's mapping failed on this event: {listed}", errors=[p.model_dump() for p in problems]
    )


def _raise(what: str, problems: list[ProblemItem]) -> None:
    if problems:
        listed = "; ".join(f"{p.path}: {p.message}" for p in problems[:5])
        raise InvalidInput(f"{what}: {listed}", errors=[p.model_dump() for p in problems])


def _nul_paths(value: Any, root: str) -> list[str]:
    """Where strings (keys included) inside `value` hold a NUL, which the database cannot store."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [(root, value)]
    while stack and len(found) < 20:
        path, item = stack.pop()
        if isinstance(item, str):
            if _NUL in item:
                found.append(path)
        elif isinstance(item, dict):
            for key, child in item.items():
                at = f"{path}.{key}" if key.isidentifier() else f"{path}[{orjson.dumps(key).decode()}]"
                if _NUL in key:
                    found.append(at)
                stack.append((at, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", child) for i, child in enumerate(item))
    return found
