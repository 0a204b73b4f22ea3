"""Jinja2 templates in an immutable sandbox, compiled once per workflow version.

A string that is exactly one `{{ expression }}` keeps the expression's type (a number stays a
number, a dict stays a dict); any other string containing template syntax renders to a string.
Data produced by steps or models is only ever passed in the context, never compiled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

CONTEXT_NAMES = frozenset({"inputs", "vars", "env", "steps"})
# Jinja reads `{{-`, `{{+` and `-}}` as whitespace control, not as part of the expression.
_SINGLE_EXPR = re.compile(r"^\s*\{\{[-+]?(?P<expr>.*?)-?\}\}\s*$", re.DOTALL)

_env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)

Renderer = Callable[[Mapping[str, Any]], Any]


class TemplateError(Exception):
    """A template failed to compile or to render; `path` is where it sits in the definition."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(message)
        self.message, self.path = message, path


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


class _Compiled:
    """A template found at `path`, with the step ids it reads through `steps.<id>`."""

    __slots__ = ("path", "render", "step_refs")

    def __init__(self, path: str, render: Renderer, step_refs: set[str]) -> None:
        self.path, self.render, self.step_refs = path, render, step_refs


def _step_refs(ast: nodes.Template) -> set[str]:
    refs = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node  # type: ignore[attr-defined]
        if not (isinstance(target, nodes.Name) and target.name == "steps"):
            continue
        if isinstance(node, nodes.Getattr):
            refs.add(node.attr)
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            refs.add(node.arg.value)
    return refs


def compile_string(text: str, path: str) -> _Compiled:
    match = _SINGLE_EXPR.match(text)
    single = match is not None and "{{" not in match["expr"] and "}}" not in match["expr"]
    source = text if not single else "{{" + match["expr"] + "}}"  # type: ignore[index]
    try:
        ast = _env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {exc.message} (line {exc.lineno})", path) from exc
    unknown = meta.find_undeclared_variables(ast) - CONTEXT_NAMES
    if unknown:
        names = ", ".join(sorted(unknown))
        raise TemplateError(f"unknown name(s) {names}; templates can use inputs, vars, env and steps", path)
    refs = _step_refs(ast)
    if single:
        try:
            expr = _env.compile_expression(match["expr"], undefined_to_none=False)  # type: ignore[index]
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template syntax error: {exc.message} (line {exc.lineno})", path) from exc

        def render_expr(ctx: Mapping[str, Any]) -> Any:
            try:
                value = expr(**ctx)
            except jinja2.UndefinedError as exc:
                raise TemplateError(str(exc), path) from exc
            except Exception as exc:  # a sandbox violation, a type error in the expression, ...
                raise TemplateError(f"{type(exc).__name__}: {exc}", path) from exc
            if isinstance(value, jinja2.Undefined):
                try:
                    str(value)
                except jinja2.UndefinedError as exc:
                    raise TemplateError(str(exc), path) from exc
                except jinja2.TemplateError as exc:  # a sandbox refusal (SecurityError) kept in an Undefined
                    raise TemplateError(f"{type(exc).__name__}: {exc}", path) from exc
                return None
            return value

        return _Compiled(path, render_expr, refs)

    template = _env.from_string(ast)

    def render_text(ctx: Mapping[str, Any]) -> Any:
        try:
            return template.render(ctx)
        except jinja2.UndefinedError as exc:
            raise TemplateError(str(exc), path) from exc
        except Exception as exc:
            raise TemplateError(f"{type(exc).__name__}: {exc}", path) from exc

    return _Compiled(path, render_text, refs)


class CompiledValue:
    """A JSON value whose strings may be templates; `render(ctx)` returns the rendered copy."""

    def __init__(self, value: Any, path: str) -> None:
        self.templates: list[_Compiled] = []
        self._render = self._compile(value, path)

    @property
    def step_refs(self) -> set[str]:
        return set().union(*(t.step_refs for t in self.templates)) if self.templates else set()

    def _compile(self, value: Any, path: str) -> Renderer:
        if isinstance(value, str):
            if not _is_template(value):
                return lambda _ctx: value
            compiled = compile_string(value, path)
            self.templates.append(compiled)
            return compiled.render
        if isinstance(value, dict):
            parts = [
                (k, self._compile(v, f"{path}.{k}" if k.isidentifier() else f'{path}["{k}"]')) for k, v in value.items()
            ]
            return lambda ctx: {k: r(ctx) for k, r in parts}
        if isinstance(value, list):
            items = [self._compile(v, f"{path}[{i}]") for i, v in enumerate(value)]
            return lambda ctx: [r(ctx) for r in items]
        return lambda _ctx: value

    def render(self, ctx: Mapping[str, Any]) -> Any:
        return self._render(ctx)


def compile_expression(expression: str, path: str) -> CompiledValue:
    """A bare Jinja expression (`inputs.n > 5`, or already wrapped in `{{ }}`), evaluated to its value."""
    text = expression.strip()
    if not (text.startswith("{{") and text.endswith("}}")):
        text = "{{ " + text + " }}"
    return CompiledValue(text, path)
