"""Compiling template strings and JSON values, and rendering them (engine/templates.py)."""

from __future__ import annotations

import asyncio
import contextvars
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.parser import Parser

from workflow_service.engine._template_budget import (
    DEFAULT_LIMITS,
    LimitExceeded,
    TemplateError,
    TemplateLimitError,
    TemplateLimits,
    bounded,
    check_value,
)
from workflow_service.engine._template_reads import required_reads, step_refs
from workflow_service.engine._template_sandbox import env, guarded, renders_inline

CONTEXT_NAMES = frozenset({"inputs", "vars", "env", "steps"})
# Jinja reads `{{-`, `{{+` and `-}}` as whitespace control, not as part of the expression.
_SINGLE_EXPR = re.compile(r"^\s*\{\{[-+]?(?P<expr>.*?)-?\}\}\s*$", re.DOTALL)

Renderer = Callable[[Mapping[str, Any]], Any]


def _parse_error(exc: Exception, path: str) -> TemplateError:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return TemplateError(f"template syntax error: {exc.message} (line {exc.lineno})", path)
    return TemplateError(f"template syntax error: {exc}", path)  # e.g. an integer literal too long


def _wrap_errors(exc: Exception, path: str) -> TemplateError:
    if isinstance(exc, LimitExceeded):
        return TemplateLimitError(str(exc), path)
    if isinstance(exc, jinja2.UndefinedError):
        return TemplateError(str(exc), path)
    return TemplateError(f"{type(exc).__name__}: {exc}", path)


class _Compiled:
    """A template found at `path`, with the step ids it reads through `steps.<id>` and the keys of
    `inputs` and `vars` it cannot do without (`required_reads`)."""

    __slots__ = ("inline", "path", "reads", "render", "step_refs")

    def __init__(
        self, path: str, render: Renderer, refs: set[str], reads: dict[str, frozenset[str]], inline: bool
    ) -> None:
        self.path, self.render, self.step_refs, self.reads, self.inline = path, render, refs, reads, inline


def _is_lookup(node: nodes.Node) -> bool:
    """`inputs.x`, `steps.a.output["k"]`, a constant: nothing is built, so nothing to measure."""
    if isinstance(node, nodes.Name | nodes.Const):
        return True
    if isinstance(node, nodes.Getattr):
        return _is_lookup(node.node)
    if isinstance(node, nodes.Getitem):
        return isinstance(node.arg, nodes.Const) and _is_lookup(node.node)
    return False


def compile_string(text: str, path: str, names: frozenset[str] = CONTEXT_NAMES) -> _Compiled:
    """A template string found at `path`, which may read the context `names` (a step's, by default)."""
    expr_source = _single_expression(text)
    ast = _parse(text if expr_source is None else "{{" + expr_source + "}}", path, names)
    # Read before `_text_renderer` rewrites the tree.
    refs, reads, inline = step_refs(ast), required_reads(ast), renders_inline(ast)
    render = _text_renderer(ast, path) if expr_source is None else _expression_renderer(expr_source, path)
    return _Compiled(path, render, refs, reads, inline)


def _single_expression(text: str) -> str | None:
    """The expression of a string that is exactly one `{{ expression }}` (which keeps its type), else None."""
    match = _SINGLE_EXPR.match(text)
    if match is None:
        return None
    expr_source = match["expr"]
    return expr_source if "{{" not in expr_source and "}}" not in expr_source else None


def _parse(source: str, path: str, names: frozenset[str]) -> nodes.Template:
    """The template's syntax tree, refused when it reads a name that is not in the context."""
    try:
        ast = env.parse(source)
        unknown = meta.find_undeclared_variables(ast) - names
    except Exception as exc:
        raise _parse_error(exc, path) from exc
    if unknown:
        usable = "inputs, vars, env and steps" if names == CONTEXT_NAMES else " and ".join(sorted(names))
        offered = ", ".join(sorted(env.globals))
        raise TemplateError(
            f"unknown name(s) {', '.join(sorted(unknown))}; templates can use {usable}, and the functions {offered}",
            path,
        )
    return ast


def _expression_renderer(expr_source: str, path: str) -> Renderer:
    """Renders the expression to its value (of any type), not to text."""
    try:
        parser = Parser(env, expr_source, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            raise jinja2.TemplateSyntaxError("chunk after expression", parser.stream.current.lineno)
        lookup = _is_lookup(expr)
        body = nodes.Template([nodes.Assign(nodes.Name("result", "store"), guarded(expr), lineno=1)], lineno=1)
        body.set_environment(env)
        template = env.from_string(body)
    except Exception as exc:
        raise _parse_error(exc, path) from exc

    def render_expr(ctx: Mapping[str, Any]) -> Any:
        try:
            context = template.new_context(dict(ctx))
            for _ in template.root_render_func(context):
                pass
            value = context.vars["result"]
            if not lookup:
                check_value(value, "the expression's value")
        except Exception as exc:  # a limit, an undefined name, a sandbox violation, a type error, ...
            raise _wrap_errors(exc, path) from exc
        return _undefined(value, path) if isinstance(value, jinja2.Undefined) else value

    return render_expr


def _undefined(value: jinja2.Undefined, path: str) -> None:
    """An expression that evaluated to an undefined value: its error if it carries one, else None."""
    try:
        str(value)
    except jinja2.UndefinedError as exc:
        raise TemplateError(str(exc), path) from exc
    except jinja2.TemplateError as exc:  # a sandbox refusal (SecurityError) kept in an Undefined
        raise TemplateError(f"{type(exc).__name__}: {exc}", path) from exc


def _text_renderer(ast: nodes.Template, path: str) -> Renderer:
    try:
        text_template = env.from_string(guarded(ast))
    except Exception as exc:
        raise _parse_error(exc, path) from exc

    def render_text(ctx: Mapping[str, Any]) -> Any:
        try:
            return text_template.render(ctx)
        except Exception as exc:
            raise _wrap_errors(exc, path) from exc

    return render_text


# --- rendering ---------------------------------------------------------------------------------

_threads: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _threads
    if _threads is None:
        _threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="template")
    return _threads


async def _off_loop(limits: TemplateLimits, render: Callable[[], Any]) -> Any:
    """`render` in a template thread, under a budget of its own that starts when the thread takes it
    up (so time spent queued behind other renders never counts). The render checks its deadline as
    it goes and ends by itself; no single step of it is unbounded, since sizes are capped."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), contextvars.Context().run, bounded, limits, render)


def _snapshot(ctx: Mapping[str, Any]) -> Mapping[str, Any]:
    """The context as a render in a thread sees it (steps still running add to `steps` meanwhile)."""
    steps = ctx.get("steps")
    return {**ctx, "steps": dict(steps)} if isinstance(steps, dict) else ctx


class CompiledValue:
    """A JSON value whose strings may be templates; `render(ctx)` returns the rendered copy. Its templates may
    read the context `names` (a step's, by default)."""

    def __init__(self, value: Any, path: str, names: frozenset[str] = CONTEXT_NAMES) -> None:
        self.path = path
        self.names = names
        self.templates: list[_Compiled] = []
        self._render = self._compile(value, path)
        self.inline = all(t.inline for t in self.templates)
        """Whether `render_async` renders on the event loop (no template in it loops or calls)."""

    @property
    def step_refs(self) -> set[str]:
        return set().union(*(t.step_refs for t in self.templates)) if self.templates else set()

    def _compile(self, value: Any, path: str) -> Renderer:
        if isinstance(value, str):
            if not _is_template(value):
                return lambda _ctx: value
            compiled = compile_string(value, path, self.names)
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

    def render(self, ctx: Mapping[str, Any], limits: TemplateLimits = DEFAULT_LIMITS) -> Any:
        """Render here and now (bounded by `limits`, but on the calling thread)."""
        return bounded(limits, lambda: self._render(ctx))

    async def render_async(self, ctx: Mapping[str, Any], limits: TemplateLimits = DEFAULT_LIMITS) -> Any:
        """Render without holding up the event loop: inline when trivial, else in a template thread."""
        if self.inline:
            return self.render(ctx, limits)
        snapshot = _snapshot(ctx)
        return await _off_loop(limits, lambda: self._render(snapshot))


async def render_all(
    compiled: Mapping[str, CompiledValue], ctx: Mapping[str, Any], limits: TemplateLimits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """Render a step's templates under one budget: inline when all are trivial, else in one thread hop."""

    def render(context: Mapping[str, Any]) -> dict[str, Any]:
        return {name: value.render(context, limits) for name, value in compiled.items()}

    rendered: dict[str, Any]
    if all(value.inline for value in compiled.values()):
        rendered = bounded(limits, lambda: render(ctx))
    else:
        snapshot = _snapshot(ctx)
        rendered = await _off_loop(limits, lambda: render(snapshot))
    return rendered


def _is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def compile_expression(expression: str, path: str) -> CompiledValue:
    """A bare Jinja expression (`inputs.n > 5`, or already wrapped in `{{ }}`), evaluated to its value."""
    text = expression.strip()
    if not (text.startswith("{{") and text.endswith("}}")):
        text = "{{ " + text + " }}"
    return CompiledValue(text, path)
