"""Size checks made before an operator, a builtin method or a filter builds its value
(engine/templates.py): `"x" * n` is refused before it allocates, not measured after."""

from __future__ import annotations

import functools
import operator
import re
import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jinja2
from jinja2.utils import Namespace

from workflow_service.engine._template_budget import MAX_INT_BITS, LimitExceeded, current, depth, is_int, measure

MAX_JSON_INDENT = 16

# --- operators -----------------------------------------------------------------------------------

_SEQUENCE = (str, bytes, list, tuple)
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.DOTALL)


def _check_multiply(left: Any, right: Any) -> None:
    budget = current()
    if is_int(left) and is_int(right):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise LimitExceeded(f"`*` would compute an integer of more than {MAX_INT_BITS} bits")
        return
    seq, times = (left, right) if isinstance(left, _SEQUENCE) else (right, left)
    if isinstance(seq, _SEQUENCE) and isinstance(times, int) and times > 0:
        cap = budget.limits.max_size
        budget.size(measure(seq, cap // times + 1) * times, "`*`")


def _check_power(left: Any, right: Any) -> None:
    if not (is_int(left) and is_int(right) and right > 0 and abs(left) > 1):
        return
    if right > MAX_INT_BITS or right * (abs(left).bit_length() - 1) > MAX_INT_BITS:
        raise LimitExceeded(f"`**` would compute an integer of more than {MAX_INT_BITS} bits")


def _check_add(left: Any, right: Any) -> None:
    if isinstance(left, _SEQUENCE) and isinstance(right, _SEQUENCE):
        budget = current()
        cap = budget.limits.max_size
        budget.size(measure(left, cap) + measure(right, cap), "`+`")


def _check_percent_format(fmt: str, args: Any) -> None:
    """`fmt % args`: every conversion at most as wide as the limit allows, the result bounded."""
    budget = current()
    cap = budget.limits.max_size
    specs, widest = 0, 0
    for match in _PERCENT_SPEC.finditer(fmt):
        if match[3] == "%":
            continue
        specs += 1
        for number in (match[1], match[2]):
            if number == "*":
                raise LimitExceeded("`%` formatting with a `*` width is not allowed in templates")
            if number:
                if len(number) > 12 or int(number) > cap:
                    budget.size(int(number) if len(number) <= 12 else cap + 1, "a `%` conversion")
                widest = max(widest, int(number))
    if not specs:
        return
    values = args.values() if isinstance(args, Mapping) else args if isinstance(args, tuple) else (args,)
    largest = max((measure(v, cap) for v in values), default=0)
    budget.size(len(fmt) + specs * (widest + largest), "`%` formatting")


def _check_modulo(left: Any, right: Any) -> None:
    if isinstance(left, str | bytes):
        _check_percent_format(left if isinstance(left, str) else left.decode("latin-1"), right)


def check_str_format(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """`fmt.format(...)`/`format_map`: no nested fields in specs, widths and the result bounded."""
    budget = current()
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
            raise LimitExceeded("format specs taken from arguments (nested `{}`) are not allowed in templates")
        for number in re.findall(r"\d+", spec or ""):
            if len(number) > 12 or int(number) > cap:
                budget.size(cap + 1, "a format field")
            widest = max(widest, int(number))
    if not fields:
        return
    values = [*args, *kwargs.values()]
    largest = max((measure(v, cap) for v in values), default=0)
    budget.size(len(fmt) + fields * (widest + largest), "`format`")


BINOP_CHECKS: dict[str, Callable[[Any, Any], None]] = {
    "*": _check_multiply,
    "**": _check_power,
    "+": _check_add,
    "%": _check_modulo,
}


# --- builtin methods -----------------------------------------------------------------------------

_SIZE_ARGUMENTS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs", "to_bytes", "indent", "batch", "slice"})
"""Methods and filters whose integer arguments are sizes of what they build (`"x".ljust(n)`)."""


def _check_int_args(args: Iterable[Any], what: str) -> None:
    budget = current()
    for arg in args:
        if is_int(arg) and abs(arg) > budget.limits.max_size:
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
    current().size(len(text) + found * growth, "`replace`")


def _checked_join(sep: Any, items: Iterable[Any], what: str) -> list[Any]:
    """The items of a join, read once and bounded, with the joined size checked before joining."""
    budget = current()
    cap = budget.limits.max_size
    listed = list(items)
    total = measure(sep, cap) * max(len(listed) - 1, 0) + measure(listed, cap)
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
    current().size(len(text) * widest, "`translate`")


def check_method(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
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
            current().size(len(owner) + tabs * max(size, 0), "`expandtabs`")
    elif name == "translate" and args:
        _check_translate(owner, args[0])
    return args


# --- filters -------------------------------------------------------------------------------------

_CHEAP_FILTERS = frozenset({"length", "count", "first", "last", "default", "d", "attr", "random"})
"""Filters that do not serialise their value, so a container given to them is not measured."""

_FilterCheck = Callable[[Any, tuple[Any, ...], dict[str, Any]], Any]
"""`(value, args, kwargs)`: raises past a limit; returns the value to call the filter with."""


def filter_checks(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Checks before the filter `name` runs on `value`; returns (value, *args) to call it with."""
    budget = current()
    if name in _SIZE_ARGUMENTS:
        _check_int_args((*args, *kwargs.values()), f"the `{name}` filter")
    if name not in _CHEAP_FILTERS and isinstance(value, list | tuple | dict | set | frozenset | Namespace):
        budget.size(measure(value, budget.limits.max_size), f"the value given to the `{name}` filter")
    check = _FILTER_CHECKS.get(name)
    if check is not None:
        value = check(value, args, kwargs)
    return (value, *args)


def _replace_filter(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if len(args) >= 2:
        _check_replace(str(value), args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count", -1))
    return value


def _join_filter(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    sep = args[0] if args else kwargs.get("d", "")
    return value if isinstance(value, str) else _checked_join(sep, value, "the `join` filter")


def _format_filter(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    _check_percent_format(str(value), kwargs or args)
    return value


def _indent_filter(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    width = args[0] if args else kwargs.get("width", 4)
    text = str(value)
    per_line = width if isinstance(width, int) else len(str(width))
    current().size(len(text) + (text.count("\n") + 1) * max(per_line, 0), "the `indent` filter")
    return value


def _wordwrap_filter(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    width = args[0] if args else kwargs.get("width", 79)
    wrap = args[2] if len(args) > 2 else kwargs.get("wrapstring")
    text = str(value)
    lines = len(text) // max(width if isinstance(width, int) else 1, 1) + text.count("\n") + 1
    current().size(len(text) + lines * len(str(wrap or "\n")), "the `wordwrap` filter")
    return value


def _dump_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`tojson` and `pprint`: a bounded indent, and every line counted with it."""
    budget = current()
    indent = args[0] if args else kwargs.get("indent")
    width = indent if isinstance(indent, int) else len(indent) if isinstance(indent, str) else 0
    if width > MAX_JSON_INDENT:
        raise LimitExceeded(f"the `{name}` filter's indent is limited to {MAX_JSON_INDENT}")
    size = measure(value, budget.limits.max_size)
    if width or name == "pprint":  # every line indented by its depth
        size *= 2 + max(width, 1) * depth(value, 64)
    budget.size(size, f"the `{name}` filter")
    return value


_FILTER_CHECKS: dict[str, _FilterCheck] = {
    "replace": _replace_filter,
    "join": _join_filter,
    "format": _format_filter,
    "indent": _indent_filter,
    "wordwrap": _wordwrap_filter,
    "tojson": functools.partial(_dump_filter, "tojson"),
    "pprint": functools.partial(_dump_filter, "pprint"),
}


def checked_sum(iterable: Iterable[Any], attribute: Any = None, start: Any = 0, *, environment: Any) -> Any:
    """The `sum` filter: lists are concatenated in linear time, every addition size-checked."""
    budget = current()
    items: Iterable[Any] = iterable
    if attribute is not None:
        getter = jinja2.filters.make_attrgetter(environment, attribute)
        items = map(getter, iterable)
    if isinstance(start, list):
        cap = budget.limits.max_size
        total, size = list(start), measure(start, cap)
        for item in items:
            budget.tick()
            if isinstance(item, list):
                size += measure(item, cap)
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
