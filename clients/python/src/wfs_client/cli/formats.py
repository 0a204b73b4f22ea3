"""What `wfs` prints: JSON (indented), YAML (a small block-style emitter for JSON data, so the client needs no
YAML library) and text for people (a string as it is, lists of records as aligned tables, the rest as JSON)."""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any


class Format(enum.StrEnum):
    json = "json"
    yaml = "yaml"
    text = "text"


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


# A string YAML reads back as the same string when written bare: it starts with a letter, `_` or `/`, holds no
# indicator (`:`, `#`, quotes, brackets, ...) and no leading, trailing or doubled space.
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@+-]*(?: [A-Za-z0-9_./@+-]+)*")
# Words YAML 1.1 or 1.2 reads as booleans or null when bare.
_RESERVED = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null"})
# Characters written as escapes in a quoted string: not printable in YAML, or line breaks to YAML 1.1 readers.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def _string(text: str) -> str:
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    # A JSON string is a valid YAML double-quoted scalar: the same escapes mean the same characters.
    quoted = json.dumps(text, ensure_ascii=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _number(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"  # YAML 1.1 readers need the dot to see a float
    return text


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        return "{}"  # only an empty one comes here
    if isinstance(value, list | tuple):
        return "[]"
    raise TypeError(f"not JSON data: {type(value).__name__}")


def _nested(value: Any) -> bool:
    return isinstance(value, dict | list | tuple) and len(value) > 0


def _lines(value: Any) -> list[str]:
    if isinstance(value, dict) and value:
        lines: list[str] = []
        for key, item in value.items():
            if _nested(item):
                lines.append(f"{_string(str(key))}:")
                lines.extend(f"  {line}" for line in _lines(item))
            else:
                lines.append(f"{_string(str(key))}: {_scalar(item)}")
        return lines
    if isinstance(value, list | tuple) and value:
        lines = []
        for item in value:
            block = _lines(item) if _nested(item) else [_scalar(item)]
            lines.append(f"- {block[0]}")
            lines.extend(f"  {line}" for line in block[1:])
        return lines
    return [_scalar(value)]


def to_yaml(data: Any) -> str:
    """JSON data as a YAML document in block style; strings are quoted only where YAML would misread them."""
    return "\n".join(_lines(data))


def cell(value: Any) -> str:
    """A value in a table: `-` for none, text as it is, anything else as compact JSON."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def when(value: Any) -> str:
    """A timestamp for people: `2025-01-31 12:00:05` (UTC), to the second."""
    if not isinstance(value, str) or len(value) < 19:
        return cell(value)
    return value[:19].replace("T", " ")


def seconds(value: Any) -> str:
    """A duration in seconds for people: `0.21 s`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.2f} s"
    return "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Rows under their headers, in columns as wide as their widest cell."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)) for row in [headers, *rows]]
    return "\n".join(line.rstrip() for line in lines)


def records(items: Sequence[dict[str, Any]]) -> str:
    """A table of records with a column per key (in the order keys first appear)."""
    keys: list[str] = []
    for item in items:
        keys.extend(key for key in item if key not in keys)
    return table([key.upper() for key in keys], [[cell(item.get(key)) for key in keys] for item in items])


def _is_records(data: Any) -> bool:
    return isinstance(data, list) and bool(data) and all(isinstance(item, dict) for item in data)


def render(data: Any, fmt: Format, text: Callable[[Any], str] | None = None) -> str:
    """`data` in the format asked for. For text, `text` gives the people's view when a command has one;
    otherwise a string is shown as it is, a list of records as a table, anything else as indented JSON."""
    if fmt is Format.json:
        return to_json(data)
    if fmt is Format.yaml:
        return to_yaml(data)
    if text is not None:
        return text(data)
    if isinstance(data, str):
        return data
    if _is_records(data):
        return records(data)
    return to_json(data)
