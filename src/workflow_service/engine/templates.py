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
"""

from __future__ import annotations

import asyncio
import contextvars
import operator
import re
import string
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import update_wrapper
from typing import Any, TypeVar

import jinja2
from jinja2 import meta, nodes
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, pass_context
from jinja2.visitor import NodeTransformer

CONTEXT_NAMES = frozenset({"inputs", "vars", "env", "steps"})
# Jinja reads `{{-`, `{{+` and `-}}` as whitespace control, not as part of the expression.
_SINGLE_EXPR = re.compile(r"^\s*\{\{[-+]?(?P<expr>.*?)-?\}\}\s*$", re.DOTALL)

TEMPLATE_ERROR = "template_error"
TEMPLATE_LIMIT = "template_limit"

MAX_INT_BITS = 1 << 16
"""Integers a template computes stay under 65,536 bits (about 19,700 digits)."""
MAX_JSON_INDENT = 16


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """What one render may use. Settings: WFS_TEMPLATE_TIME_LIMIT_S, WFS_TEMPLATE_MAX_ITERATIONS,
    WFS_TEMPLATE_MAX_SIZE."""

    time_s: float = 2.0
    max_iterations: int = 100_000
    """Loop iterations, function/method/macro calls and filter applications, together."""
    max_size: int = 1_000_000
    """Characters of a string, items of a list (nested values counted in full), and the text a render outputs."""


DEFAULT_LIMITS = TemplateLimits()

Renderer = Callable[[Mapping[str, Any]], Any]
_T = TypeVar("_T")


class TemplateError(Exception):
    """A template failed to compile or to render; `path` is where it sits in the definition."""

    code = TEMPLATE_ERROR

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(message)
        self.message, self.path = message, path


class TemplateLimitError(TemplateError):
    """A render went past one of its `TemplateLimits`."""

    code = TEMPLATE_LIMIT


class _LimitExceeded(Exception):
    """Raised inside a render; becomes a TemplateLimitError with the template's path."""


# --- the budget of one render ------------------------------------------------------------------


class _Budget:
    __slots__ = ("deadline", "iterations", "limits", "output")

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.iterations = limits.max_iterations
        self.deadline = time.monotonic() + limits.time_s
        self.output = 0

    def tick(self) -> None:
        self.iterations -= 1
        if self.iterations < 0:
            raise _LimitExceeded(
                f"more than {self.limits.max_iterations} loop iterations and calls (limit WFS_TEMPLATE_MAX_ITERATIONS)"
            )
        if time.monotonic() > self.deadline:
            raise _time_limit(self.limits)

    def size(self, size: int, what: str) -> None:
        if size > self.limits.max_size:
            raise _LimitExceeded(
                f"{what} would be larger than {self.limits.max_size} characters or items (limit WFS_TEMPLATE_MAX_SIZE)"
            )


def _time_limit(limits: TemplateLimits) -> _LimitExceeded:
    return _LimitExceeded(f"rendering took longer than {limits.time_s:g} s (limit WFS_TEMPLATE_TIME_LIMIT_S)")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("template_budget", default=None)


def _current() -> _Budget:
    budget = _budget.get()
    return budget if budget is not None else _Budget(DEFAULT_LIMITS)  # outside render(): bounded all the same


def _measure(value: Any, cap: int) -> int:
    """Characters and items `value` stands for once serialised, counting a shared part each time it
    appears; the walk stops as soon as the count passes `cap`, so it costs at most O(cap)."""
    kind = type(value)
    if kind is str or kind is bytes:
        return len(value)
    if kind is not list and kind is not dict and kind is not tuple and not isinstance(value, _CONTAINERS):
        return _scalar_size(value)
    total = 0
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str:
            total += len(item)
        elif kind is list or kind is tuple:
            total += 1 + len(item)
            if total > cap:
                return total
            push(item)
        elif kind is dict:
            total += 1 + 2 * len(item)
            if total > cap:
                return total
            push(item.keys())
            push(item.values())
        elif kind is int:
            total += item.bit_length() * 3 // 10 + 1
        elif kind is float or kind is bool or item is None:
            total += 1
        elif isinstance(item, Namespace):
            stack.append(object.__getattribute__(item, "_Namespace__attrs"))
        elif isinstance(item, _CONTAINERS):
            stack.append(list(item.items()) if isinstance(item, Mapping) else list(item))
        else:
            total += _scalar_size(item)
    return total


_CONTAINERS = (list, tuple, dict, set, frozenset, Namespace)


def _scalar_size(value: Any) -> int:
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() * 3 // 10 + 1  # its decimal digits, about
    return 1


def _depth(value: Any, limit: int) -> int:
    """How deeply `value` nests (lists and dicts), up to `limit`."""
    depth, level = 0, [value]
    while level and depth < limit:
        nxt: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                nxt.extend(item.values())
            elif isinstance(item, list | tuple):
                nxt.extend(item)
        if not nxt:
            break
        depth, level = depth + 1, nxt
    return depth


def _check_value(value: _T, what: str) -> _T:
    budget = _current()
    budget.size(_measure(value, budget.limits.max_size), what)
    return value


# --- operators: sizes checked before the value is built ---------------------------------------

_SEQUENCE = (str, bytes, list, tuple)
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.DOTALL)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_multiply(left: Any, right: Any) -> None:
    budget = _current()
    if _is_int(left) and _is_int(right):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise _LimitExceeded(f"`*` would compute an integer of more than {MAX_INT_BITS} bits")
        return
    seq, times = (left, right) if isinstance(left, _SEQUENCE) else (right, left)
    if isinstance(seq, _SEQUENCE) and isinstance(times, int) and times > 0:
        cap = budget.limits.max_size
        budget.size(_measure(seq, cap // times + 1) * times, "`*`")


def _check_power(left: Any, right: Any) -> None:
    if not (_is_int(left) and _is_int(right) and right > 0 and abs(left) > 1):
        return
    if right > MAX_INT_BITS or right * (abs(left).bit_length() - 1) > MAX_INT_BITS:
        raise _LimitExceeded(f"`**` would compute an integer of more than {MAX_INT_BITS} bits")


def _check_add(left: Any, right: Any) -> None:
    if isinstance(left, _SEQUENCE) and isinstance(right, _SEQUENCE):
        budget = _current()
        cap = budget.limits.max_size
        budget.size(_measure(left, cap) + _measure(right, cap), "`+`")


def _check_percent_format(fmt: str, args: Any) -> None:
    """`fmt % args`: every conversion at most as wide as the limit allows, the result bounded."""
    budget = _current()
    cap = budget.limits.max_size
    specs, widest = 0, 0
    for match in _PERCENT_SPEC.finditer(fmt):
        if match[3] == "%":
            continue
        specs += 1
        for number in (match[1], match[2]):
            if number == "*":
                raise _LimitExceeded("`%` formatting with a `*` width is not allowed in templates")
            if number:
                if len(number) > 12 or int(number) > cap:
                    budget.size(int(number) if len(number) <= 12 else cap + 1, "a `%` conversion")
                widest = max(widest, int(number))
    if not specs:
        return
    values = args.values() if isinstance(args, Mapping) else args if isinstance(args, tuple) else (args,)
    largest = max((_measure(v, cap) for v in values), default=0)
    budget.size(len(fmt) + specs * (widest + largest), "`%` formatting")


def _check_modulo(left: Any, right: Any) -> None:
    if isinstance(left, str | bytes):
        _check_percent_format(left if isinstance(left, str) else left.decode("latin-1"), right)


def _check_str_format(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """`fmt.format(...)`/`format_map`: no nested fields in specs, widths and the result bounded."""
    budget = _current()
    cap = budget.limits.max_size
    fields, widest = 0, 0
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error
    for _literal, field, spec, _conversion in parsed:
        if field is None:
            continue
        fields += 1
        if spec and "{" in spec:
            raise _LimitExceeded("format specs taken from arguments (nested `{}`) are not allowed in templates")
        for number in re.findall(r"\d+", spec or ""):
            if len(number) > 12 or int(number) > cap:
                budget.size(cap + 1, "a format field")
            widest = max(widest, int(number))
    if not fields:
        return
    values = [*args, *kwargs.values()]
    largest = max((_measure(v, cap) for v in values), default=0)
    budget.size(len(fmt) + fields * (widest + largest), "`format`")


_BINOP_CHECKS: dict[str, Callable[[Any, Any], None]] = {
    "*": _check_multiply,
    "**": _check_power,
    "+": _check_add,
    "%": _check_modulo,
}


# --- calls and filters ---------------------------------------------------------------------------


_SIZE_ARGUMENTS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs", "to_bytes", "indent", "batch", "slice"})
"""Methods and filters whose integer arguments are sizes of what they build (`"x".ljust(n)`)."""


def _check_int_args(args: Iterable[Any], what: str) -> None:
    budget = _current()
    for arg in args:
        if _is_int(arg) and abs(arg) > budget.limits.max_size:
            budget.size(abs(arg), f"an argument of {what}")


def _check_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    if not (isinstance(text, str | bytes) and isinstance(old, str | bytes) and isinstance(new, str | bytes)):
        return
    growth = len(new) - len(old)
    if growth <= 0:
        return
    try:
        found = len(text) + 1 if not old else operator.methodcaller("count", old)(text)
    except TypeError:  # str with bytes: replace() raises the same
        return
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    _current().size(len(text) + found * growth, "`replace`")


def _checked_join(sep: Any, items: Iterable[Any], what: str) -> list[Any]:
    """The items of a join, read once and bounded, with the joined size checked before joining."""
    budget = _current()
    cap = budget.limits.max_size
    listed = list(items)
    total = _measure(sep, cap) * max(len(listed) - 1, 0) + _measure(listed, cap)
    budget.size(total, what)
    return listed


def _check_translate(text: Any, table: Any) -> None:
    if not isinstance(text, str | bytes):
        return
    if isinstance(table, Mapping):
        values: Iterable[Any] = table.values()
    elif isinstance(table, list | tuple):
        values = table
    else:
        values = ()
    widest = max((len(v) if isinstance(v, str | bytes) else 1 for v in values), default=1)
    _current().size(len(text) * widest, "`translate`")


def _check_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Checks before a builtin method of str/bytes runs; returns its (possibly materialised) args."""
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if name in _SIZE_ARGUMENTS:
        _check_int_args((*args, *kwargs.values()), f"`{name}`")
    if not isinstance(owner, str | bytes):
        return args
    if name == "replace" and len(args) >= 2:
        _check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count", -1))
    elif name == "join" and args:
        return (_checked_join(owner, args[0], "`join`"), *args[1:])
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int):
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            _current().size(len(owner) + tabs * max(size, 0), "`expandtabs`")
    elif name == "translate" and args:
        _check_translate(owner, args[0])
    return args


def _range(*args: Any) -> range:
    budget = _current()
    numbers = range(*args)
    if len(numbers) > budget.limits.max_iterations:
        raise _LimitExceeded(
            f"range() of {len(numbers)} items is more than the {budget.limits.max_iterations} iterations "
            "allowed (limit WFS_TEMPLATE_MAX_ITERATIONS)"
        )
    return numbers


class _Counted:
    """A `for` loop's iterable: every item taken is charged to the budget (and checks the deadline)."""

    __slots__ = ("_budget", "_iterable")

    def __init__(self, iterable: Any, budget: _Budget) -> None:
        self._iterable, self._budget = iterable, budget

    def __iter__(self) -> Iterator[Any]:
        tick = self._budget.tick
        for item in self._iterable:
            tick()
            yield item

    def __len__(self) -> int:
        return len(self._iterable)


def _loop_iter(iterable: Any) -> _Counted:
    return _Counted(iterable, _current())


def _concat(*parts: Any) -> str:
    """`a ~ b`: the joined length checked first."""
    budget = _current()
    cap = budget.limits.max_size
    total = 0
    for part in parts:
        total += _measure(part, cap)
        if total > cap:
            budget.size(total, "`~`")
    return "".join(str(part) for part in parts)


def _list(*items: Any) -> list[Any]:
    return _check_value(list(items), "a list")


def _tuple(*items: Any) -> tuple[Any, ...]:
    return _check_value(items, "a tuple")


def _dict(*pairs: Any) -> dict[Any, Any]:
    return _check_value(dict(zip(pairs[::2], pairs[1::2], strict=True)), "a dict")


_INTERNAL: frozenset[Callable[..., Any]] = frozenset({_loop_iter, _concat, _list, _tuple, _dict})
_HERE = __name__


def _filter_checks(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Checks before the filter `name` runs on `value`; returns (value, *args) to call it with."""
    budget = _current()
    cap = budget.limits.max_size
    if name in _SIZE_ARGUMENTS:
        _check_int_args((*args, *kwargs.values()), f"the `{name}` filter")
    if name not in _CHEAP_FILTERS and isinstance(value, list | tuple | dict | set | frozenset | Namespace):
        budget.size(_measure(value, cap), f"the value given to the `{name}` filter")
    if name == "replace" and len(args) >= 2:
        _check_replace(str(value), args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count", -1))
    elif name == "join":
        sep = args[0] if args else kwargs.get("d", "")
        if not isinstance(value, str):
            value = _checked_join(sep, value, "the `join` filter")
    elif name == "format":
        _check_percent_format(str(value), kwargs or args)
    elif name == "indent":
        width = args[0] if args else kwargs.get("width", 4)
        text = str(value)
        per_line = width if isinstance(width, int) else len(str(width))
        budget.size(len(text) + (text.count("\n") + 1) * max(per_line, 0), "the `indent` filter")
    elif name == "wordwrap":
        width = args[0] if args else kwargs.get("width", 79)
        wrap = args[2] if len(args) > 2 else kwargs.get("wrapstring")
        text = str(value)
        lines = len(text) // max(width if isinstance(width, int) else 1, 1) + text.count("\n") + 1
        budget.size(len(text) + lines * len(str(wrap or "\n")), "the `wordwrap` filter")
    elif name in ("tojson", "pprint"):
        indent = args[0] if args else kwargs.get("indent")
        width = indent if isinstance(indent, int) else len(indent) if isinstance(indent, str) else 0
        if width > MAX_JSON_INDENT:
            raise _LimitExceeded(f"the `{name}` filter's indent is limited to {MAX_JSON_INDENT}")
        size = _measure(value, cap)
        if width or name == "pprint":  # every line indented by its depth
            size *= 2 + max(width, 1) * _depth(value, 64)
        budget.size(size, f"the `{name}` filter")
    return (value, *args)


_CHEAP_FILTERS = frozenset({"length", "count", "first", "last", "default", "d", "attr", "random"})
"""Filters that do not serialise their value, so a container given to them is not measured."""
_INLINE_FILTERS = frozenset(
    {
        *("length", "count", "default", "d", "first", "last", "int", "float", "string", "abs", "round", "bool"),
        *("lower", "upper", "trim", "capitalize", "title", "e", "escape", "safe"),
    }
)
"""Filters cheap enough (linear in a value that is already there) to keep a template inline."""


def _checked_sum(iterable: Iterable[Any], attribute: Any = None, start: Any = 0, *, environment: Any) -> Any:
    """The `sum` filter: lists are concatenated in linear time, every addition size-checked."""
    budget = _current()
    items: Iterable[Any] = iterable
    if attribute is not None:
        getter = jinja2.filters.make_attrgetter(environment, attribute)
        items = map(getter, iterable)
    if isinstance(start, list):
        cap = budget.limits.max_size
        total, size = list(start), _measure(start, cap)
        for item in items:
            budget.tick()
            if isinstance(item, list):
                size += _measure(item, cap)
                budget.size(size, "`sum`")
                total.extend(item)
            else:
                total = total + item  # the same TypeError as sum() for a mix
        return total
    result = start
    for item in items:
        budget.tick()
        _check_add(result, item)
        result = result + item
    return result


def _wrap_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    pass_arg = getattr(getattr(func, "jinja_pass_arg", None), "name", None)

    @pass_context
    def checked(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        _current().tick()
        value, *args_ = _filter_checks(name, value, args, kwargs)
        if name == "sum":
            result = _checked_sum(value, *args_, environment=context.environment, **kwargs)
        elif pass_arg == "context":
            result = func(context, value, *args_, **kwargs)
        elif pass_arg == "eval_context":
            result = func(context.eval_ctx, value, *args_, **kwargs)
        elif pass_arg == "environment":
            result = func(context.environment, value, *args_, **kwargs)
        else:
            result = func(value, *args_, **kwargs)
        return _check_value(result, f"the result of the `{name}` filter")

    checked.__name__ = f"checked_{name}"
    return checked


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    """Every piece of output (literal text included) counts against the size limit, and checks the clock."""
    budget = _current()
    budget.output += _measure(value, budget.limits.max_size)
    budget.size(budget.output, "the rendered text")
    if time.monotonic() > budget.deadline:
        raise _time_limit(budget.limits)
    return value


class _LimitedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with the operators that can build big values intercepted (which also
    keeps them from being folded at compile time) and every call counted and checked."""

    intercepted_binops = frozenset(_BINOP_CHECKS)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _BINOP_CHECKS[operator](left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _current()
        budget.tick()
        if isinstance(__obj, types.FunctionType) and __obj in _INTERNAL:  # our own checked helpers
            kwargs.pop("_loop_vars", None)  # what Jinja passes to every call made in a loop or block
            kwargs.pop("_block_vars", None)
            return __obj(*args, **kwargs)
        if isinstance(__obj, types.BuiltinMethodType):
            args = _check_method(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        return _check_value(result, "the result of a call")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format`/`format_map` as the sandbox wraps them, with widths and the result bounded."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt: str = value.__self__
        is_map = value.__name__ == "format_map"

        def checked(*args: Any, **kwargs: Any) -> str:
            if is_map:
                _check_str_format(fmt, (), args[0] if len(args) == 1 and isinstance(args[0], Mapping) else {})
            else:
                _check_str_format(fmt, args, kwargs)
            return wrapped(*args, **kwargs)

        return update_wrapper(checked, value)


_env = _LimitedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    optimized=False,  # no constant folding: compiling never evaluates what the user wrote
    finalize=_finalize,
)
_env.globals.pop("lipsum", None)
_env.globals["range"] = _range
_env.filters = {name: _wrap_filter(name, func) for name, func in _env.filters.items()}


# --- compiling ---------------------------------------------------------------------------------


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


_LOOPING = (nodes.For, nodes.Call, nodes.Macro, nodes.CallBlock, nodes.FilterBlock)


def _renders_inline(ast: nodes.Node) -> bool:
    """No loop, call or costly filter: the render is a few lookups and operators on values that are
    already there (each size-checked), so it is cheaper than a thread hop."""
    if any(True for _ in ast.find_all(_LOOPING)):
        return False
    return all(f.name in _INLINE_FILTERS for f in ast.find_all(nodes.Filter))


def _guarded(node: nodes.Node) -> Any:
    guarded = _Guard().visit(node)
    guarded.set_environment(_env)
    return guarded


def _parse_error(exc: Exception, path: str) -> TemplateError:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return TemplateError(f"template syntax error: {exc.message} (line {exc.lineno})", path)
    return TemplateError(f"template syntax error: {exc}", path)  # e.g. an integer literal too long


def _wrap_errors(exc: Exception, path: str) -> TemplateError:
    if isinstance(exc, _LimitExceeded):
        return TemplateLimitError(str(exc), path)
    if isinstance(exc, jinja2.UndefinedError):
        return TemplateError(str(exc), path)
    return TemplateError(f"{type(exc).__name__}: {exc}", path)


class _Compiled:
    """A template found at `path`, with the step ids it reads through `steps.<id>`."""

    __slots__ = ("inline", "path", "render", "step_refs")

    def __init__(self, path: str, render: Renderer, step_refs: set[str], inline: bool) -> None:
        self.path, self.render, self.step_refs, self.inline = path, render, step_refs, inline


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


def _is_lookup(node: nodes.Node) -> bool:
    """`inputs.x`, `steps.a.output["k"]`, a constant: nothing is built, so nothing to measure."""
    if isinstance(node, nodes.Name | nodes.Const):
        return True
    if isinstance(node, nodes.Getattr):
        return _is_lookup(node.node)
    if isinstance(node, nodes.Getitem):
        return isinstance(node.arg, nodes.Const) and _is_lookup(node.node)
    return False


def compile_string(text: str, path: str) -> _Compiled:
    match = _SINGLE_EXPR.match(text)
    expr_source = match["expr"] if match is not None else ""
    single = match is not None and "{{" not in expr_source and "}}" not in expr_source
    source = text if not single else "{{" + expr_source + "}}"
    try:
        ast = _env.parse(source)
        unknown = meta.find_undeclared_variables(ast) - CONTEXT_NAMES
    except Exception as exc:
        raise _parse_error(exc, path) from exc
    if unknown:
        names = ", ".join(sorted(unknown))
        raise TemplateError(f"unknown name(s) {names}; templates can use inputs, vars, env and steps", path)
    refs = _step_refs(ast)
    inline = _renders_inline(ast)
    if single:
        try:
            parser = Parser(_env, expr_source, state="variable")
            expr = parser.parse_expression()
            if not parser.stream.eos:
                raise jinja2.TemplateSyntaxError("chunk after expression", parser.stream.current.lineno)
            lookup = _is_lookup(expr)
            body = nodes.Template([nodes.Assign(nodes.Name("result", "store"), _guarded(expr), lineno=1)], lineno=1)
            body.set_environment(_env)
            template = _env.from_string(body)
        except Exception as exc:
            raise _parse_error(exc, path) from exc

        def render_expr(ctx: Mapping[str, Any]) -> Any:
            try:
                context = template.new_context(dict(ctx))
                for _ in template.root_render_func(context):
                    pass
                value = context.vars["result"]
                if not lookup:
                    _check_value(value, "the expression's value")
            except Exception as exc:  # a limit, an undefined name, a sandbox violation, a type error, ...
                raise _wrap_errors(exc, path) from exc
            if isinstance(value, jinja2.Undefined):
                try:
                    str(value)
                except jinja2.UndefinedError as exc:
                    raise TemplateError(str(exc), path) from exc
                except jinja2.TemplateError as exc:  # a sandbox refusal (SecurityError) kept in an Undefined
                    raise TemplateError(f"{type(exc).__name__}: {exc}", path) from exc
                return None
            return value

        return _Compiled(path, render_expr, refs, inline)

    try:
        text_template = _env.from_string(_guarded(ast))
    except Exception as exc:
        raise _parse_error(exc, path) from exc

    def render_text(ctx: Mapping[str, Any]) -> Any:
        try:
            return text_template.render(ctx)
        except Exception as exc:
            raise _wrap_errors(exc, path) from exc

    return _Compiled(path, render_text, refs, inline)


# --- rendering ---------------------------------------------------------------------------------

_threads: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _threads
    if _threads is None:
        _threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="template")
    return _threads


def _bounded(limits: TemplateLimits, render: Callable[[], Any]) -> Any:
    """Run `render` under a budget (a fresh one, unless a render is already under way)."""
    if _budget.get() is not None:
        return render()
    token = _budget.set(_Budget(limits))
    try:
        return render()
    finally:
        _budget.reset(token)


async def _off_loop(limits: TemplateLimits, render: Callable[[], Any]) -> Any:
    """`render` in a template thread, under a budget of its own that starts when the thread takes it
    up (so time spent queued behind other renders never counts). The render checks its deadline as
    it goes and ends by itself; no single step of it is unbounded, since sizes are capped."""
    return await asyncio.get_running_loop().run_in_executor(
        _pool(), contextvars.Context().run, _bounded, limits, render
    )


def _snapshot(ctx: Mapping[str, Any]) -> Mapping[str, Any]:
    """The context as a render in a thread sees it (steps still running add to `steps` meanwhile)."""
    steps = ctx.get("steps")
    return {**ctx, "steps": dict(steps)} if isinstance(steps, dict) else ctx


class CompiledValue:
    """A JSON value whose strings may be templates; `render(ctx)` returns the rendered copy."""

    def __init__(self, value: Any, path: str) -> None:
        self.path = path
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

    def render(self, ctx: Mapping[str, Any], limits: TemplateLimits = DEFAULT_LIMITS) -> Any:
        """Render here and now (bounded by `limits`, but on the calling thread)."""
        return _bounded(limits, lambda: self._render(ctx))

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
        rendered = _bounded(limits, lambda: render(ctx))
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
