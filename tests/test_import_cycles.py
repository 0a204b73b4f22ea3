"""No import cycles among the service's modules.

Every import of a `workflow_service` module counts as an edge, wherever it is written (at the top, inside a
function or a class): an import deferred into a function still makes the two modules depend on each other,
it only hides it from the interpreter. Imports under `if TYPE_CHECKING:` are left out (types only)."""

from __future__ import annotations

import ast
from pathlib import Path

import workflow_service

PACKAGE = "workflow_service"
ROOT = Path(workflow_service.__file__).parent


def _module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, modules: frozenset[str] = frozenset()) -> set[str]:
    """The modules `tree` imports. `from package import name`: the submodule `name` when it is one of
    `modules` (the package itself only for names that are not), else both."""
    found: set[str] = set()
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            names = {f"{base}.{alias.name}" for alias in node.names}
            found.update(names)
            if not names <= modules:
                found.add(base)
        stack.extend(ast.iter_child_nodes(node))
    return found


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    parts = module.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join([*anchor, *([node.module] if node.module else [])])


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of the package it imports (a package's `__init__` stands for the package)."""
    files = {_module_name(path): path for path in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        imported = _imports(tree, module, path.name == "__init__.py", frozenset(files))
        graph[module] = {name for name in imported if name in files and name != module}
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(graph[module])
    return seen


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, each sorted: the modules that import
    each other, directly or not (a few hundred modules: reachability from each is cheap enough)."""
    reach = {module: _reachable(graph, module) for module in graph}
    found: list[list[str]] = []
    placed: set[str] = set()
    for module in sorted(graph):
        if module in placed:
            continue
        component = sorted({module} | {other for other in reach[module] if module in reach[other]})
        if len(component) > 1:
            found.append(component)
            placed.update(component)
    return found


def _example(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One cycle through the first module of `component`, to name in the failure."""
    members = set(component)
    start = component[0]
    paths: list[list[str]] = [[start]]
    seen = {start}
    while paths:
        path = paths.pop(0)
        for child in sorted(graph[path[-1]] & members):
            if child == start:
                return [*path, start]
            if child not in seen:
                seen.add(child)
                paths.append([*path, child])
    return component


def test_the_graph_sees_deferred_imports_and_skips_type_checking_ones() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from workflow_service.a import X\n"
        "def f():\n    from workflow_service import b\n"
        "from . import c\n"
    )
    found = _imports(ast.parse(source), "workflow_service.jobs.m", False)
    assert "workflow_service.b" in found
    assert "workflow_service.jobs.c" in found
    assert "workflow_service.a" not in found
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = [" -> ".join(_example(graph, component)) for component in cycles(graph)]
    assert not found, "import cycles:\n" + "\n".join(found)
