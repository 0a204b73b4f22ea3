"""The difference between two definitions, as the JSON paths that change: what a dry-run import shows.

Objects compare key by key (in sorted order) and arrays index by index; anything else, or two values of different
types, is one change at its path. A value present on one side only is `added` or `removed` (its other side null).
At most MAX_CHANGES are listed, the rest counted."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from workflow_service.errors import json_path

MAX_CHANGES = 500


class DefinitionChange(BaseModel):
    path: str = Field(description="Where, as a JSON path into the definition (`$.steps[1].prompt`).")
    change: Literal["added", "removed", "changed"]
    before: Any = Field(None, description="The draft's value there (null when added).")
    after: Any = Field(None, description="The package's value there (null when removed).")


class DefinitionDiff(BaseModel):
    changes: list[DefinitionChange]
    total: int = Field(description="How many changes there are (only the first 500 are listed).")


def diff(before: Any, after: Any) -> DefinitionDiff:
    """The changes that turn `before` into `after`."""
    found: list[DefinitionChange] = []
    total = 0
    # Iterative, in document order: a definition may nest deep.
    stack: list[tuple[tuple[str | int, ...], Any, Any, bool, bool]] = [((), before, after, True, True)]
    while stack:
        loc, old, new, had, has = stack.pop()
        change = _change(had, has, old, new)
        if change is None:
            for key, old_child, new_child, had_child, has_child in reversed(_children(old, new)):
                stack.append(((*loc, key), old_child, new_child, had_child, has_child))
            continue
        total += 1
        if len(found) < MAX_CHANGES:
            found.append(
                DefinitionChange(
                    path=json_path(loc), change=change, before=old if had else None, after=new if has else None
                )
            )
    return DefinitionDiff(changes=found, total=total)


def _change(had: bool, has: bool, old: Any, new: Any) -> Literal["added", "removed", "changed"] | None:
    """What changed at one place; None when the same there, or when both are objects or both arrays (compared
    inside)."""
    if not had:
        return "added"
    if not has:
        return "removed"
    if isinstance(old, dict) and isinstance(new, dict):
        return None
    if isinstance(old, list) and isinstance(new, list):
        return None
    if type(old) is type(new) and old == new:
        return None
    return "changed"


def _children(old: Any, new: Any) -> list[tuple[str | int, Any, Any, bool, bool]]:
    """The places inside two objects (each key of either, sorted) or two arrays (each index of either), with the
    value on each side and whether it is there; none for two equal values of another kind."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [(k, old.get(k), new.get(k), k in old, k in new) for k in sorted({*old, *new})]
    if not (isinstance(old, list) and isinstance(new, list)):
        return []
    length = max(len(old), len(new))
    return [
        (i, old[i] if i < len(old) else None, new[i] if i < len(new) else None, i < len(old), i < len(new))
        for i in range(length)
    ]
