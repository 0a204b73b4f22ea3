"""`workflow-service dev` and `serve` as real processes: the banner appears only once the server answers,
and a taken port is one line on stderr and a non-zero exit, with no banner, token or traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import clean_env, run_cli, running


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another server is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port: int = sock.getsockname()[1]
        yield port


@pytest.mark.parametrize("command", ["dev", "serve"])
def test_a_taken_port_is_one_line_and_a_non_zero_exit(command: str, taken_port: int, tmp_path: Path) -> None:
    env = clean_env(WFS_ADMIN_TOKEN="cli-test-token") if command == "serve" else clean_env()
    done = run_cli([command, "--port", str(taken_port)], env, cwd=tmp_path)
    assert done.returncode != 0
    assert done.stdout == ""  # no banner, no URL, no admin token
    assert done.stderr.splitlines() == [
        f"workflow-service: cannot listen on 127.0.0.1:{taken_port}: address already in use"
    ]


@pytest.mark.parametrize(
    ("command", "marker"), [("dev", "admin token: cli-test-token"), ("serve", "workflow-service API on")]
)
def test_the_banner_appears_once_the_server_answers(command: str, marker: str, tmp_path: Path) -> None:
    env = clean_env(WFS_ADMIN_TOKEN="cli-test-token", WFS_LOG_LEVEL="WARNING")
    with running(command, env, tmp_path) as process:
        process.wait_for_output(marker)
        # The moment the banner is out, the server answers (no connection refused).
        response = httpx.get(f"{process.url}/readyz", timeout=10)
        assert response.status_code == 200, response.text
        assert process.url in process.printed()
        assert process.printed().count(marker) == 1
