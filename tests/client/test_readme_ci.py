"""The README's `wfs` section runs as written: its terminal lines against `make run`'s embedded service, its
GitHub Actions step's script (the client's wheel installed into a fresh environment, as on a runner), and its
plain shell line, which passes while the workflow completes and fails the build once the workflow fails."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers import Process, clean_env, running

ROOT = Path(__file__).resolve().parents[2]
SECTION = re.search(r"## From a terminal or CI: the `wfs` command\n(.*?)\n## ", (ROOT / "README.md").read_text(), re.S)
assert SECTION is not None, "the README has no wfs section"
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", SECTION.group(1), re.S)
VENV_BIN = Path(sys.executable).parent
PASSING = """\
name: Release checks
definition:
  input_schema: {type: object, properties: {sha: {type: string}}, required: [sha]}
  steps: [{id: check, type: transform, output: {checked: "{{ inputs.sha }}"}}]
  output: "{{ steps.check.output }}"
"""
FAILING = """\
name: Release checks
definition:
  input_schema: {type: object, properties: {sha: {type: string}}, required: [sha]}
  steps: [{id: check, type: http, url: "http://127.0.0.1:1/checks", retry: {max_attempts: 1}}]
"""


def _block(language: str, index: int = 0) -> str:
    found: list[str] = [text for lang, text in BLOCKS if lang == language]
    return found[index]


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme-ci")


@pytest.fixture(scope="module")
def service(home: Path) -> Iterator[Process]:
    """`make run`'s command in a checkout-like directory: its token is written to ./.data/admin_token."""
    env = clean_env(WFS_LOG_LEVEL="WARNING", WFS_OUTBOUND_ALLOWLIST="127.0.0.1")
    with running("dev", env, home) as process:
        process.wait_until_ready()
        yield process


def _env(**values: str) -> dict[str, str]:
    return clean_env(HOME=os.environ.get("HOME", "/root"), XDG_CONFIG_HOME="/nonexistent", **values)


def test_the_terminal_lines_run_the_sample_and_list_its_jobs(service: Process, home: Path) -> None:
    lines = _block("sh").replace("127.0.0.1:8000", f"127.0.0.1:{service.port}")
    ran = _bash(f"set -e\n{lines}", home, _env(PATH=f"{VENV_BIN}:{os.environ['PATH']}"))
    assert ran.returncode == 0, ran
    assert json.loads(ran.stdout[: ran.stdout.index("}") + 1]) == {"greeting": "Hello, Ada!", "loud": "HELLO, ADA!"}
    header = ran.stdout.splitlines()[4].split()
    assert header[:4] == ["ID", "WORKFLOW", "VERSION", "STATUS"], ran.stdout
    assert " hello " in ran.stdout.splitlines()[5]


def test_the_actions_step_and_the_shell_line_pass_and_then_fail_the_build(service: Process, home: Path) -> None:
    token = (home / ".data" / "admin_token").read_text().strip()
    runner = home / "runner"
    subprocess.run([sys.executable, "-m", "venv", runner / "venv"], check=True, timeout=120)
    wheels = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", ROOT / "clients" / "python", "-w", runner / "tools"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert wheels.returncode == 0, wheels.stderr
    env = _env(PATH=f"{runner / 'venv' / 'bin'}:/usr/bin:/bin", WFS_URL=service.url, WFS_TOKEN=token)
    (runner / "checks.yaml").write_text(PASSING)
    assert (
        _bash("wfs workflows deploy checks.yaml", runner, {**env, "PATH": f"{VENV_BIN}:/usr/bin:/bin"}).returncode == 0
    )

    (step,) = yaml.safe_load(_block("yaml"))
    assert step["env"] == {"WFS_URL": "${{ vars.WFS_URL }}", "WFS_TOKEN": "${{ secrets.WFS_TOKEN }}"}
    script = step["run"].replace("${{ github.sha }}", "0a1b2c3")
    passed = _bash(f"set -e\n{script}", runner, env)
    assert passed.returncode == 0, passed
    checks: dict[str, Any] = json.loads((runner / "checks.json").read_text())
    assert checks == {"checked": "0a1b2c3"}

    line = _block("sh", 1)
    assert _bash(line, runner, {**env, "GIT_SHA": "4d5e6f7"}).returncode == 0
    assert json.loads((runner / "checks.json").read_text()) == {"checked": "4d5e6f7"}
    (runner / "checks.yaml").write_text(FAILING)
    assert _bash("wfs workflows deploy checks.yaml", runner, env).returncode == 0
    failed = _bash(f"{line}\necho still building", runner, {**env, "GIT_SHA": "8a9b0c1"})
    assert failed.returncode == 1, failed
    assert "still building" not in failed.stdout
    assert "check" in failed.stderr
