"""The client distribution stands on its own: its wheel requires only httpx and typer, and a new virtual
environment with nothing but `pip install clients/python` runs `wfs` and imports `wfs_client`, with none of the
server's packages installed."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"
SERVER_ONLY = {"fastapi", "sqlalchemy", "pydantic", "uvicorn", "asyncpg", "arq", "pyyaml", "workflow-service"}


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_requires_only_httpx_and_typer(tmp_path: Path) -> None:
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp_path, CLIENT)
    (wheel,) = tmp_path.glob("workflow_service_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
        entry_points = archive.read(metadata.replace("METADATA", "entry_points.txt")).decode()
    required = sorted(re.split("[<>=;]", line.split(":", 1)[1])[0].strip() for line in lines if "Requires-Dist" in line)
    assert required == ["httpx", "typer"]
    assert "wfs = wfs_client.cli:main" in entry_points


def test_a_new_environment_with_only_the_client_runs_wfs(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check", CLIENT)
    installed = {
        re.split("==| @ ", line)[0].lower()
        for line in _run(venv / "bin" / "python", "-m", "pip", "freeze").splitlines()
    }
    assert "workflow-service-client" in installed
    assert {"httpx", "typer"} <= installed
    assert not installed & SERVER_ONLY, installed & SERVER_ONLY
    assert _run(venv / "bin" / "wfs", "--version", cwd=tmp_path).strip().endswith("0.1.0")
    imported = _run(venv / "bin" / "python", "-c", "import wfs_client; print(sorted(wfs_client.__all__))", cwd=tmp_path)
    assert "Client" in imported
    assert "AsyncClient" in imported
