"""Reading `wfs` options: durations (`90`, `10m`, `1h30m`), `--input`/`--var` assignments coerced by the input
schema, and `--inputs` objects from a file, stdin or the command line."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wfs_client.errors import WfsError


class BadOption(WfsError):
    """An option's value cannot be used; the message names the option and says why."""


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(option: str, text: str) -> float:
    """Seconds from `90` (seconds), `90s`, `10m`, `1h` or `1h30m`."""
    found = _DURATION.fullmatch(text.strip())
    if re.fullmatch(r"\d+(?:\.\d+)?", text.strip()):
        total = float(text)
    elif text.strip() and found:
        hours, minutes, secs = found.groups()
        total = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0)
    else:
        raise BadOption(f"{option} {text!r}: not a duration; write 90, 90s, 10m, 1h or 1h30m")
    if total <= 0:
        raise BadOption(f"{option} {text!r}: must be more than 0 seconds")
    return total


def parse_version(text: str) -> str:
    """`current` or a version number, as the path names it."""
    if text == "current" or (text.isdigit() and int(text) > 0):
        return text
    raise BadOption(f"--version {text!r}: a version number (1, 2, ...) or current")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json(text: str) -> Any:
    """JSON strictly: NaN and Infinity are not JSON."""
    return json.loads(text, parse_constant=_reject_constant)


def _loose(text: str) -> Any:
    """A value with no declared type: JSON when it reads as a number, boolean, null, array or object; else the
    text itself (so `name=Ada` and `name="Ada"` are both strings, the second with its quotes)."""
    try:
        value = _json(text)
    except ValueError:
        return text
    return text if isinstance(value, str) else value


_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


def _as_type(text: str, kind: str) -> Any:
    """`text` as a value of the JSON Schema type `kind`; ValueError if it is not one."""
    if kind == "string":
        return text
    if kind == "integer":
        return int(text)
    if kind == "number":
        try:
            return int(text)
        except ValueError:
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(text) from None
            return value
    if kind == "boolean":
        return _BOOLEANS[text.lower()]
    if kind == "null" and text == "null":
        return None
    if kind in ("array", "object"):
        value = _json(text)
        if isinstance(value, list if kind == "array" else dict):
            return value
    raise ValueError(text)


def _schema_types(schema: Mapping[str, Any] | None, key: str) -> list[str]:
    """The JSON Schema types the input schema gives property `key` (none when it says nothing)."""
    properties = (schema or {}).get("properties")
    prop = properties.get(key) if isinstance(properties, dict) else None
    kind = prop.get("type") if isinstance(prop, dict) else None
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    return []


def coerce(option: str, key: str, text: str, schema: Mapping[str, Any] | None) -> Any:
    """The value of `--input key=text`: by the schema's type for `key`, else by the untyped rule."""
    kinds = _schema_types(schema, key)
    if not kinds:
        return _loose(text)
    # A string is the last resort of a union: `1` for ["integer", "string"] is the integer.
    for kind in sorted(kinds, key=lambda k: k == "string"):
        try:
            return _as_type(text, kind)
        except (ValueError, KeyError):
            continue
    article = "an" if kinds[0][0] in "aeiou" else "a"
    wanted = " or ".join(kinds)
    raise BadOption(f"{option} {key}={text}: {text!r} is not {article} {wanted} (the input schema's type for {key})")


def split_assignment(option: str, item: str) -> tuple[str, str, bool]:
    """`key=value` or `key:=json` into (key, value, is_json)."""
    key, sep, value = item.partition("=")
    if not sep:
        raise BadOption(f"{option} {item!r}: write key=value, or key:=<json>")
    is_json = key.endswith(":")
    key = key.removesuffix(":")
    if not key:
        raise BadOption(f"{option} {item!r}: the key is empty")
    return key, value, is_json


def needs_schema(items: Sequence[str]) -> bool:
    """Whether any `key=value` (not `key:=json`) is given, whose type the schema decides."""
    return any("=" in item and not item.partition("=")[0].endswith(":") for item in items)


def assignments(option: str, items: Sequence[str], schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """The object that `--input`/`--var` assignments make."""
    values: dict[str, Any] = {}
    for item in items:
        key, text, is_json = split_assignment(option, item)
        if is_json:
            try:
                values[key] = _json(text)
            except ValueError as exc:
                raise BadOption(f"{option} {item}: the value after := is not JSON ({exc})") from None
        else:
            values[key] = coerce(option, key, text, schema)
    return values


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    return "null" if value is None else "number"


def read_object(option: str, source: str) -> dict[str, Any]:
    """A JSON object from `@file.json`, `-` (stdin) or the text itself."""
    if source == "-":
        text, where = sys.stdin.read(), "stdin"
    elif source.startswith("@"):
        path = Path(source[1:]).expanduser()
        try:
            text, where = path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise BadOption(f"{option} {source}: cannot read {path}: {exc.strerror or exc}") from None
    else:
        text, where = source, "the option's value"
    try:
        value = _json(text)
    except ValueError as exc:
        raise BadOption(f"{option} {source}: {where} is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise BadOption(f"{option} {source}: {where} holds a JSON {_kind(value)}, not an object")
    return value
