"""No module of the service over 400 lines: past that, a module holds more than one concern (split it by
concern, as jobs/repository/ and jobs/run/ are)."""

from __future__ import annotations

from pathlib import Path

import workflow_service

MAX_LINES = 400
ROOT = Path(workflow_service.__file__).parent


def test_no_module_over_the_limit() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in ROOT.rglob("*.py")
        if "migrations" not in path.parts
    }
    assert sizes, "no modules found"
    over = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: {over}"
