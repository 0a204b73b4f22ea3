"""The engine is framework-free: it says what is wrong and where without importing the web stack."""

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
