"""`workflow-service dev` and `serve` as real processes: the banner appears only once the server answers,
and a taken port is one line on stderr and a non-zero exit, with no banner, token or traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_embedded import CLI, free_port


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFS_")}
    return env | values


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another server is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port: int = sock.getsockname()[1]
        yield port


def run_to_exit(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", ["dev", "serve"])
def test_a_taken_port_is_one_line_and_a_non_zero_exit(command: str, taken_port: int, tmp_path: Path) -> None:
    env = clean_env(WFS_ADMIN_TOKEN="cli-test-token") if command == "serve" else clean_env()
    done = run_to_exit([command, "--port", str(taken_port)], tmp_path, env)
    assert done.returncode != 0
    assert done.stdout == ""  # no banner, no URL, no admin token
    assert done.stderr.splitlines() == [
        f"workflow-service: cannot listen on 127.0.0.1:{taken_port}: address already in use"
    ]


def wait_for_line(process: subprocess.Popen[bytes], log: Path, marker: str, wait_s: float = 60) -> None:
    deadline = time.monotonic() + wait_s
    while marker not in log.read_text(errors="replace"):
        assert process.poll() is None, f"exited {process.returncode}:\n{log.read_text(errors='replace')}"
        assert time.monotonic() < deadline, f"no {marker!r} after {wait_s} s:\n{log.read_text(errors='replace')}"
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("command", "marker"), [("dev", "admin token: cli-test-token"), ("serve", "workflow-service API on")]
)
def test_the_banner_appears_once_the_server_answers(command: str, marker: str, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "out.log"
    env = clean_env(WFS_ADMIN_TOKEN="cli-test-token", WFS_LOG_LEVEL="WARNING")
    with log.open("wb") as out:
        process = subprocess.Popen([str(CLI), command, "--port", str(port)], cwd=tmp_path, env=env, stdout=out)
    try:
        wait_for_line(process, log, marker)
        # The moment the banner is out, the server answers (no connection refused).
        response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert response.status_code == 200, response.text
        assert f"http://127.0.0.1:{port}" in log.read_text()
        assert log.read_text().count(marker) == 1
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
