"""The sandboxed Jinja environment of engine/templates.py, and the rewrite that makes a parsed template
check what the sandbox cannot see (loops, `~`, literals, literal text)."""

from __future__ import annotations

import time
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import update_wrapper
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context
from jinja2.visitor import NodeTransformer

from workflow_service.engine._template_budget import (
    Budget,
    LimitExceeded,
    check_value,
    current,
    measure,
    time_limit,
)
from workflow_service.engine._template_checks import (
    BINOP_CHECKS,
    check_method,
    check_str_format,
    checked_sum,
    filter_checks,
)

# --- the helpers a guarded template calls ----------------------------------------------------------


def _range(*args: Any) -> range:
    budget = current()
    numbers = range(*args)
    if len(numbers) > budget.limits.max_iterations:
        raise LimitExceeded(
            f"range() of {len(numbers)} items is more than the {budget.limits.max_iterations} iterations "
            "allowed (limit WFS_TEMPLATE_MAX_ITERATIONS)"
        )
    return numbers


class _Counted:
    """A `for` loop's iterable: every item taken is charged to the budget (and checks the deadline)."""

    __slots__ = ("_budget", "_iterable")

    def __init__(self, iterable: Any, budget: Budget) -> None:
        self._iterable, self._budget = iterable, budget

    def __iter__(self) -> Iterator[Any]:
        tick = self._budget.tick
        for item in self._iterable:
            tick()
            yield item

    def __len__(self) -> int:
        return len(self._iterable)


def _loop_iter(iterable: Any) -> _Counted:
    return _Counted(iterable, current())


def _concat(*parts: Any) -> str:
    """`a ~ b`: the joined length checked first."""
    budget = current()
    cap = budget.limits.max_size
    total = 0
    for part in parts:
        total += measure(part, cap)
        if total > cap:
            budget.size(total, "`~`")
    return "".join(str(part) for part in parts)


def _list(*items: Any) -> list[Any]:
    return check_value(list(items), "a list")


def _tuple(*items: Any) -> tuple[Any, ...]:
    return check_value(items, "a tuple")


def _dict(*pairs: Any) -> dict[Any, Any]:
    return check_value(dict(zip(pairs[::2], pairs[1::2], strict=True)), "a dict")


_INTERNAL: frozenset[Callable[..., Any]] = frozenset({_loop_iter, _concat, _list, _tuple, _dict})
_HERE = __name__


# --- the environment -----------------------------------------------------------------------------


def _wrap_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    pass_arg = getattr(getattr(func, "jinja_pass_arg", None), "name", None)

    @pass_context
    def checked(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        current().tick()
        value, *args_ = filter_checks(name, value, args, kwargs)
        if name == "sum":
            result = checked_sum(value, *args_, environment=context.environment, **kwargs)
        elif pass_arg == "context":
            result = func(context, value, *args_, **kwargs)
        elif pass_arg == "eval_context":
            result = func(context.eval_ctx, value, *args_, **kwargs)
        elif pass_arg == "environment":
            result = func(context.environment, value, *args_, **kwargs)
        else:
            result = func(value, *args_, **kwargs)
        return check_value(result, f"the result of the `{name}` filter")

    checked.__name__ = f"checked_{name}"
    return checked


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    """Every piece of output (literal text included) counts against the size limit, and checks the clock."""
    budget = current()
    budget.output += measure(value, budget.limits.max_size)
    budget.size(budget.output, "the rendered text")
    if time.monotonic() > budget.deadline:
        raise time_limit(budget.limits)
    return value


class _LimitedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with the operators that can build big values intercepted (which also
    keeps them from being folded at compile time) and every call counted and checked."""

    intercepted_binops = frozenset(BINOP_CHECKS)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        BINOP_CHECKS[operator](left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.tick()
        if isinstance(__obj, types.FunctionType) and __obj in _INTERNAL:  # our own checked helpers
            kwargs.pop("_loop_vars", None)  # what Jinja passes to every call made in a loop or block
            kwargs.pop("_block_vars", None)
            return __obj(*args, **kwargs)
        if isinstance(__obj, types.BuiltinMethodType):
            args = check_method(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        return check_value(result, "the result of a call")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format`/`format_map` as the sandbox wraps them, with widths and the result bounded."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt: str = value.__self__
        is_map = value.__name__ == "format_map"

        def checked(*args: Any, **kwargs: Any) -> str:
            if is_map:
                check_str_format(fmt, (), args[0] if len(args) == 1 and isinstance(args[0], Mapping) else {})
            else:
                check_str_format(fmt, args, kwargs)
            return wrapped(*args, **kwargs)

        return update_wrapper(checked, value)


env = _LimitedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    optimized=False,  # no constant folding: compiling never evaluates what the user wrote
    finalize=_finalize,
)
env.globals.pop("lipsum", None)
env.globals["range"] = _range
env.filters = {name: _wrap_filter(name, func) for name, func in env.filters.items()}


# --- guarding a parsed template ------------------------------------------------------------------


def _helper(name: str, args: Sequence[nodes.Node], lineno: int) -> nodes.Call:
    return nodes.Call(nodes.ImportedName(f"{_HERE}.{name}", lineno=lineno), list(args), [], None, None, lineno=lineno)


class _Guard(NodeTransformer):
    """Rewrites a parsed template so that what the sandbox cannot see is checked: every `for` loop
    counts its iterations, `~` and list/tuple/dict literals check the size of what they build, and
    literal text goes through `finalize` like any other output (so it counts towards its size)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _helper("_loop_iter", [node.iter], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _helper("_concat", list(node.nodes), node.lineno)

    def visit_List(self, node: nodes.List) -> nodes.Node:
        self.generic_visit(node)
        return _helper("_list", list(node.items), node.lineno)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        self.generic_visit(node)
        return _helper("_tuple", list(node.items), node.lineno) if node.ctx == "load" else node

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        flat: list[nodes.Expr] = [part for pair in node.items for part in (pair.key, pair.value)]
        return _helper("_dict", flat, node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            nodes.Const(child.data, lineno=child.lineno) if isinstance(child, nodes.TemplateData) else child
            for child in node.nodes
        ]
        return node


def guarded(node: nodes.Node) -> Any:
    """`node` rewritten by `_Guard`, bound to the limited environment."""
    result = _Guard().visit(node)
    result.set_environment(env)
    return result


_LOOPING = (nodes.For, nodes.Call, nodes.Macro, nodes.CallBlock, nodes.FilterBlock)
_INLINE_FILTERS = frozenset(
    {
        *("length", "count", "default", "d", "first", "last", "int", "float", "string", "abs", "round", "bool"),
        *("lower", "upper", "trim", "capitalize", "title", "e", "escape", "safe"),
    }
)
"""Filters cheap enough (linear in a value that is already there) to keep a template inline."""


def renders_inline(ast: nodes.Node) -> bool:
    """No loop, call or costly filter: the render is a few lookups and operators on values that are
    already there (each size-checked), so it is cheaper than a thread hop."""
    if any(True for _ in ast.find_all(_LOOPING)):
        return False
    return all(f.name in _INLINE_FILTERS for f in ast.find_all(nodes.Filter))
