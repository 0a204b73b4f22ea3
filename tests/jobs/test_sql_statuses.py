"""Statuses in job queries come from jobs/states.py: no module of the jobs repository spells one out, in a
SQLAlchemy expression or in the text of a PostgreSQL statement, and the statuses the tables accept are the
ones the enums name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from workflow_service.jobs import repository
from workflow_service.jobs.repository import pg
from workflow_service.jobs.states import ACTIVE, IN_FLIGHT, JobStatus, StepStatus
from workflow_service.models.tables import JOB_STATUSES, STEP_STATUSES

PACKAGE = Path(repository.__file__).parent
STATUSES = {s.value for s in JobStatus} | {s.value for s in StepStatus}
QUOTED = re.compile("'(" + "|".join(sorted(STATUSES)) + ")'")


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of the docstrings' nodes (prose may name a status): the first string of a module, class or
    function, and the string after an assignment (an attribute's docstring)."""
    found = set()
    for parent in ast.walk(tree):
        body = getattr(parent, "body", None)
        if not isinstance(body, list):
            continue
        for before, node in zip([None, *body], body, strict=False):
            documents = before is None and not isinstance(parent, ast.For | ast.While | ast.If | ast.With | ast.Try)
            documents = documents or isinstance(before, ast.Assign | ast.AnnAssign)
            if documents and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                found.add(id(node.value))
    return found


def status_literals(source: str, name: str = "<source>") -> list[str]:
    """Where `source` spells out a status: a string that is one, or SQL text quoting one."""
    tree = ast.parse(source, filename=name)
    prose = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str) or id(node) in prose:
            continue
        if node.value in STATUSES or QUOTED.search(node.value):
            found.append(f"{name}:{node.lineno}: {node.value.strip()[:60]!r}")
    return found


def test_no_repository_module_spells_out_a_status() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert {p.name for p in modules} >= {"moves.py", "run.py", "reads.py", "sweeps.py", "copies.py", "pg.py"}
    found = [hit for path in modules for hit in status_literals(path.read_text(), path.name)]
    assert found == []


def test_the_scan_sees_a_status_in_an_expression_and_in_sql_text() -> None:
    sample = '''
"""A module docstring may say 'pending'."""
a = job_t.c.status == "pending"
b = "UPDATE job SET status = 'running' WHERE id = $1"
c = f"UPDATE job SET status = 'claimed', attempt = {n}"
d = job_t.c.status.in_(("claimed", "running"))
'''
    lines = sorted(int(hit.split(":")[1]) for hit in status_literals(sample))
    assert lines == [3, 4, 5, 6, 6]


def test_the_postgresql_statements_name_their_statuses_from_the_enum() -> None:
    assert "status = 'running'" in pg._CLAIM
    assert "status = 'pending'" in pg._CLAIM
    assert "job.status = 'running'" in pg._FINISH


def test_the_status_sets_are_those_of_the_transition_table() -> None:
    held = {JobStatus.CLAIMED, JobStatus.RUNNING, JobStatus.VALIDATING, JobStatus.UPLOADING}
    assert held == ACTIVE
    assert held | {JobStatus.PENDING} == IN_FLIGHT


def test_the_tables_accept_exactly_the_statuses_the_enums_name() -> None:
    assert set(JOB_STATUSES) == {s.value for s in JobStatus}
    assert set(STEP_STATUSES) == {s.value for s in StepStatus}
