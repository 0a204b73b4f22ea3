"""The engine is framework-free: it says what is wrong and where without importing the web stack, and
it knows nothing of the jobs that run it or of how errors are rendered."""

from __future__ import annotations

import subprocess
import sys


def test_the_engine_imports_no_web_framework() -> None:
    code = (
        "import sys\n"
        "import workflow_service.engine.definition, workflow_service.engine.executor\n"
        "import workflow_service.engine.steps, workflow_service.engine.guardrails\n"
        "print(sorted(m for m in ('fastapi', 'starlette') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_no_engine_module_imports_the_web_stack_the_jobs_or_problem_rendering() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import workflow_service.engine as engine\n"
        "for module in pkgutil.walk_packages(engine.__path__, 'workflow_service.engine.'):\n"
        "    importlib.import_module(module.name)\n"
        "banned = ('fastapi', 'starlette', 'workflow_service.jobs', 'workflow_service.problems')\n"
        "print(sorted(m for m in sys.modules if m in banned or m.startswith(tuple(b + '.' for b in banned))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
