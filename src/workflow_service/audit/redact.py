"""What a configuration change changed, for an audit entry: before and after of each changed field, with
secret values redacted."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

REDACTED = "[redacted]"
"""What a secret value is replaced with."""
SECRET_WORDS = ("secret", "token", "password", "api_key", "authorization")
"""A key containing one of these (in any case) names a secret, at any depth."""


@dataclass(frozen=True, slots=True)
class Changed(Generic[T]):
    """What a configuration change answers (`value`), and what it changed, for its audit entry: `changes`, as
    `changes()` makes it (secrets redacted)."""

    value: T
    changes: dict[str, dict[str, Any]]


def looks_secret(key: str) -> bool:
    """Whether a key's name says its value is a secret (`access_token`, `Authorization`, `db_password`)."""
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def changes(
    before: Mapping[str, Any], after: Mapping[str, Any], *, secret: Collection[str] = ()
) -> dict[str, dict[str, Any]]:
    """`{field: {"before": .., "after": ..}}` for each field whose value differs (a field absent on one side is
    None there; nested mappings and lists compare by value).

    The values of a field named in `secret`, or whose name looks secret (`looks_secret`), are `"[redacted]"`,
    and so are those of such keys inside the values, at any depth. A changed secret is still listed, so that
    one sees *that* it changed; None stays None (that a secret was unset or set is no secret)."""
    found: dict[str, dict[str, Any]] = {}
    for field in dict.fromkeys([*before, *after]):
        old, new = before.get(field), after.get(field)
        if old == new:
            continue
        found[field] = {"before": _redacted(field, old, secret), "after": _redacted(field, new, secret)}
    return found


def _redacted(key: str, value: Any, secret: Collection[str]) -> Any:
    if value is None:
        return None
    if key in secret or looks_secret(key):
        return REDACTED
    return _inside(value, secret)


def _inside(value: Any, secret: Collection[str]) -> Any:
    if isinstance(value, Mapping):
        return {k: _redacted(str(k), v, secret) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_inside(v, secret) for v in value]
    return value
