"""The budget of one render (engine/templates.py): its limits, its errors, and how much a value weighs.

A render runs under one `Budget`, held in a context variable so that the sandbox's hooks (operators,
calls, filters, output) find it without being passed it.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from jinja2.utils import Namespace

TEMPLATE_ERROR = "template_error"
TEMPLATE_LIMIT = "template_limit"

MAX_INT_BITS = 1 << 16
"""Integers a template computes stay under 65,536 bits (about 19,700 digits)."""


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


class LimitExceeded(Exception):
    """Raised inside a render; becomes a TemplateLimitError with the template's path."""


class Budget:
    """What is left of one render's limits."""

    __slots__ = ("deadline", "iterations", "limits", "output")

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.iterations = limits.max_iterations
        self.deadline = time.monotonic() + limits.time_s
        self.output = 0

    def tick(self) -> None:
        self.iterations -= 1
        if self.iterations < 0:
            raise LimitExceeded(
                f"more than {self.limits.max_iterations} loop iterations and calls (limit WFS_TEMPLATE_MAX_ITERATIONS)"
            )
        if time.monotonic() > self.deadline:
            raise time_limit(self.limits)

    def size(self, size: int, what: str) -> None:
        if size > self.limits.max_size:
            raise LimitExceeded(
                f"{what} would be larger than {self.limits.max_size} characters or items (limit WFS_TEMPLATE_MAX_SIZE)"
            )


def time_limit(limits: TemplateLimits) -> LimitExceeded:
    return LimitExceeded(f"rendering took longer than {limits.time_s:g} s (limit WFS_TEMPLATE_TIME_LIMIT_S)")


_budget: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("template_budget", default=None)


def current() -> Budget:
    budget = _budget.get()
    return budget if budget is not None else Budget(DEFAULT_LIMITS)  # outside render(): bounded all the same


def bounded(limits: TemplateLimits, render: Callable[[], Any]) -> Any:
    """Run `render` under a budget (a fresh one, unless a render is already under way)."""
    if _budget.get() is not None:
        return render()
    token = _budget.set(Budget(limits))
    try:
        return render()
    finally:
        _budget.reset(token)


# --- measuring -----------------------------------------------------------------------------------

_CONTAINERS = (list, tuple, dict, set, frozenset, Namespace)


def measure(value: Any, cap: int) -> int:
    """Characters and items `value` stands for once serialised, counting a shared part each time it
    appears; the walk stops as soon as the count passes `cap`, so it costs at most O(cap)."""
    kind = type(value)
    if kind is str or kind is bytes:
        return len(value)
    if isinstance(value, _CONTAINERS):
        return _walk(value, cap)
    return _scalar_size(value)


def _walk(value: Any, cap: int) -> int:
    """`measure` of a container: the plain JSON kinds inline (the common case), the rest by `_other_size`."""
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
        else:
            total += _other_size(item, stack)
    return total


def _other_size(item: Any, stack: list[Any]) -> int:
    """A scalar's size; a namespace or another container is put on `stack` as a list, to be walked."""
    if isinstance(item, Namespace):
        stack.append(object.__getattribute__(item, "_Namespace__attrs"))
        return 0
    if isinstance(item, _CONTAINERS):
        stack.append(list(item.items()) if isinstance(item, Mapping) else list(item))
        return 0
    return _scalar_size(item)


def _scalar_size(value: Any) -> int:
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() * 3 // 10 + 1  # its decimal digits, about
    return 1


def depth(value: Any, limit: int) -> int:
    """How deeply `value` nests (lists and dicts), up to `limit`."""
    level_depth, level = 0, [value]
    while level and level_depth < limit:
        nxt: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                nxt.extend(item.values())
            elif isinstance(item, list | tuple):
                nxt.extend(item)
        if not nxt:
            break
        level_depth, level = level_depth + 1, nxt
    return level_depth


def check_value(value: _T, what: str) -> _T:
    budget = current()
    budget.size(measure(value, budget.limits.max_size), what)
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
