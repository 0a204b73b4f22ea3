"""Jinja2 templates in an immutable sandbox, compiled once per workflow version.

A string that is exactly one `{{ expression }}` keeps the expression's type (a number stays a
number, a dict stays a dict); any other string containing template syntax renders to a string.
Data produced by steps or models is only ever passed in the context, never compiled.

Rendering is bounded (`TemplateLimits`): a render may take so long, run so many loop iterations and
calls, and build values (strings, lists, output) of so many characters or items; past any of them it
fails with `TemplateLimitError` (code `template_limit`). Sizes are checked before a value is built
(`"x" * n` never allocates past the limit), time and iterations as the render goes. Compiling never
evaluates an expression (no constant folding), so a definition is validated in its own time.

Templates that can loop or call (`{% for %}`, function and method calls, most filters) render in a
worker thread (`render_async`) so that the event loop, and with it the heartbeats and the other
jobs, keeps running; plain lookups such as `{{ inputs.x }}` render inline.

This module is the templates' public surface; the work is done in private modules: the budget of a
render and the measuring of values (`_template_budget`), the size checks made before an operator,
method or filter runs (`_template_checks`), the sandboxed environment and the rewrite of a parsed
template (`_template_sandbox`), what a template reads from its context, found in its syntax tree
(`_template_reads`), and compiling and rendering (`_template_compile`).
"""

from __future__ import annotations

from workflow_service.engine._template_budget import (
    DEFAULT_LIMITS,
    MAX_INT_BITS,
    TEMPLATE_ERROR,
    TEMPLATE_LIMIT,
    TemplateError,
    TemplateLimitError,
    TemplateLimits,
)
from workflow_service.engine._template_checks import MAX_JSON_INDENT
from workflow_service.engine._template_compile import (
    CONTEXT_NAMES,
    CompiledValue,
    Renderer,
    compile_expression,
    compile_string,
    render_all,
)

__all__ = [
    "CONTEXT_NAMES",
    "DEFAULT_LIMITS",
    "MAX_INT_BITS",
    "MAX_JSON_INDENT",
    "TEMPLATE_ERROR",
    "TEMPLATE_LIMIT",
    "CompiledValue",
    "Renderer",
    "TemplateError",
    "TemplateLimitError",
    "TemplateLimits",
    "compile_expression",
    "compile_string",
    "render_all",
]
