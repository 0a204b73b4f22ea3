"""The JSON path language of the `json.path` tool (tools/builtin.py): `$.a.b[0]`, `$['key']`, `[-1]`,
`[1:3]`, `[*]`, `.*`, parsed to segments and evaluated over a JSON value."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Segment = tuple[str, Any]
"""("key", name), ("index", n), ("slice", (start, stop)) or ("wild", None)."""

_NAME = re.compile(r"[A-Za-z0-9_$-]+")
_BRACKET = re.compile(
    r"""\[\s*(?:(?P<index>-?\d+)|(?P<wild>\*)|'(?P<sq>(?:[^'\\]|\\.)*)'|"(?P<dq>(?:[^"\\]|\\.)*)"|"""
    r"""(?P<start>-?\d*)\s*:\s*(?P<stop>-?\d*))\s*\]"""
)


def parse_path(path: str) -> list[Segment]:
    """Parse `$.a.b[0]`, `$['key with spaces'][*]`, `a.b[-1]`, `items[1:3]`, `$.*`; ValueError if invalid."""
    text = path.strip()
    i = 1 if text.startswith("$") else 0
    if i == 0 and text and text[0] not in ".[":
        text, i = "." + text, 0  # a bare `a.b` means `$.a.b`
    segments: list[Segment] = []
    while i < len(text):
        parse = _PARSERS.get(text[i])
        if parse is None:
            raise ValueError(f"unexpected {text[i]!r} at position {i} of {path!r}; use .name or [...]")
        segment, i = parse(text, i, path)
        segments.append(segment)
    return segments


def _dot(text: str, i: int, path: str) -> tuple[Segment, int]:
    """`.name` or `.*` at `i`: the segment and where the next one starts."""
    if text.startswith(".*", i):
        return ("wild", None), i + 2
    match = _NAME.match(text, i + 1)
    if match is None:
        raise ValueError(f"expected a name after '.' at position {i + 1} of {path!r}")
    return ("key", match.group()), match.end()


def _bracket(text: str, i: int, path: str) -> tuple[Segment, int]:
    """`[n]`, `[*]`, `['name']` or `[start:stop]` at `i`: the segment and where the next one starts."""
    match = _BRACKET.match(text, i)
    if match is None:
        raise ValueError(f"expected [n], [*], ['name'] or [start:stop] at position {i} of {path!r}")
    if match["index"] is not None:
        return ("index", int(match["index"])), match.end()
    if match["wild"] is not None:
        return ("wild", None), match.end()
    if match["sq"] is not None or match["dq"] is not None:
        quoted = match["sq"] if match["sq"] is not None else match["dq"]
        return ("key", re.sub(r"\\(.)", r"\1", quoted)), match.end()
    bounds = (int(match["start"]) if match["start"] else None, int(match["stop"]) if match["stop"] else None)
    return ("slice", bounds), match.end()


_PARSERS: dict[str, Callable[[str, int, str], tuple[Segment, int]]] = {".": _dot, "[": _bracket}


def evaluate_path(data: Any, segments: list[Segment]) -> tuple[list[Any], bool]:
    """Every value the path reaches, and whether the path can reach several (a wildcard or a slice)."""
    current = [data]
    many = False
    for kind, arg in segments:
        select = _SELECT[kind]
        found: list[Any] = []
        for value in current:
            select(value, arg, found)
        many = many or kind in ("wild", "slice")
        current = found
    return current, many


def _key(value: Any, name: Any, found: list[Any]) -> None:
    if isinstance(value, dict) and name in value:
        found.append(value[name])


def _index(value: Any, index: Any, found: list[Any]) -> None:
    if isinstance(value, list) and -len(value) <= index < len(value):
        found.append(value[index])


def _slice(value: Any, bounds: Any, found: list[Any]) -> None:
    if isinstance(value, list):
        found.extend(value[bounds[0] : bounds[1]])


def _wild(value: Any, _arg: Any, found: list[Any]) -> None:
    if isinstance(value, dict):
        found.extend(value.values())
    elif isinstance(value, list):
        found.extend(value)


_SELECT: dict[str, Callable[[Any, Any, list[Any]], None]] = {
    "key": _key,
    "index": _index,
    "slice": _slice,
    "wild": _wild,
}
"""What a segment of each kind takes from one value, added to what the segment has found."""
