"""Queries live only in repository modules: no other module under src/ builds SQL."""

from __future__ import annotations

import ast
from pathlib import Path

import workflow_service

SRC = Path(workflow_service.__file__).parent
ALLOWED_FILES = {"workflows/pg.py", "core/db.py"}
ALLOWED_DIRS = ("jobs/repository/", "models/", "migrations/")
SA_BUILDERS = {"select", "insert", "update", "delete", "text"}
TABLE_BUILDERS = {"insert", "update", "delete"}


def _allowed(rel: str) -> bool:
    return rel.endswith("/repository.py") or rel in ALLOWED_FILES or rel.startswith(ALLOWED_DIRS)


def _builds_sql(call: ast.Call) -> str | None:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    if isinstance(func.value, ast.Name) and func.value.id in {"sa", "sqlalchemy"} and func.attr in SA_BUILDERS:
        return f"sa.{func.attr}"
    if func.attr in TABLE_BUILDERS and not call.args and not call.keywords:  # table.insert() and the like
        return f".{func.attr}()"
    if func.attr == "exec_driver_sql":
        return "exec_driver_sql"
    return None


def _offenders() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if _allowed(rel):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and (what := _builds_sql(node)) is not None:
                found.append(f"{rel}:{node.lineno}: {what}")
    return found


def test_sql_is_built_only_in_repositories() -> None:
    assert _offenders() == []


def test_the_scan_sees_sql() -> None:
    """The scan is not blind: the repositories it leaves out do build SQL, in each form it looks for."""
    seen = set()
    for rel in ("jobs/repository/moves.py", "deliveries/repository.py", "agents/repository.py"):
        tree = ast.parse((SRC / rel).read_text())
        seen |= {w for n in ast.walk(tree) if isinstance(n, ast.Call) and (w := _builds_sql(n)) is not None}
    assert {"sa.select", ".insert()", ".update()"} <= seen
