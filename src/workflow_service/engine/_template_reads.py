"""What a parsed template reads from its context by name (engine/templates.py), found statically so
that a definition can be checked against its own `variables`, `input_schema` and steps before it runs.

Only reads written with a constant key are found (`inputs.name`, `vars["a b"]`, `steps.fetch`); a
dynamic key (`inputs[vars.field]`) or a value passed around under another name cannot be judged
before a job runs, and is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator

from jinja2 import nodes

CHECKED_NAMES = ("inputs", "vars")
"""The context names whose keys a definition declares (`env` is set outside the definition)."""

_DICT_ATTRIBUTES = frozenset(dir(dict))
"""`inputs.get`, `vars.items`: Jinja prefers an attribute to a key, so these read no key."""

_GUARDING_FILTERS = frozenset({"default", "d"})


def _constant_key(node: nodes.Node | None) -> tuple[str, str] | None:
    """`(name, key)` of a lookup written `name.key` or `name["key"]` on a context name, else None."""
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        return node.node.name, node.attr
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.node, nodes.Name)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        return node.node.name, node.arg.value
    return None


def _lookups(ast: nodes.Node) -> Iterator[tuple[nodes.Node, tuple[str, str]]]:
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        read = _constant_key(node)
        if read is not None:
            yield node, read


def step_refs(ast: nodes.Node) -> set[str]:
    """The step ids a template reads through `steps.<id>`."""
    return {key for _, (name, key) in _lookups(ast) if name == "steps"}


def _rebound(ast: nodes.Node) -> set[str]:
    """The context names a template binds itself (`{% set inputs = ... %}`, a loop or macro argument),
    whose reads are then of its own value."""
    return {node.name for node in ast.find_all(nodes.Name) if node.ctx in ("store", "param")}


def _guarded(ast: nodes.Node) -> set[tuple[str, str]]:
    """Reads the template is ready to find missing: given to `default`, or tested (`is defined`)."""
    operands = [f.node for f in ast.find_all(nodes.Filter) if f.name in _GUARDING_FILTERS]
    operands += [t.node for t in ast.find_all(nodes.Test)]
    return {read for read in map(_constant_key, operands) if read is not None}


def required_reads(ast: nodes.Node) -> dict[str, frozenset[str]]:
    """The keys of `inputs` and `vars` a template reads as if they must be there (a render fails
    without them), by name. Reads a `default` filter or an `is` test handles are not among them, nor
    dict methods (`inputs.get("x")`), nor the reads of a name the template binds itself."""
    skipped = _rebound(ast)
    guarded = _guarded(ast)
    found: dict[str, set[str]] = {}
    for node, (name, key) in _lookups(ast):
        if name not in CHECKED_NAMES or name in skipped or (name, key) in guarded:
            continue
        if isinstance(node, nodes.Getattr) and key in _DICT_ATTRIBUTES:
            continue
        found.setdefault(name, set()).add(key)
    return {name: frozenset(keys) for name, keys in found.items()}
