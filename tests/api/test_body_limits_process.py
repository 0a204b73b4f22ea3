"""Huge bodies against a real `workflow-service serve` process: without credentials the body is never read,
with them it is refused at the limit; the server's peak memory (VmHWM in /proc) stays bounded throughout.
Before the limit and the authentication middleware, a 200 MB body without a token cost the API ~600 MB."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import DATABASE_URL, REDIS_URL, TOKEN
from tests.test_embedded import free_port

CLI = str(Path(sys.executable).with_name("workflow-service"))
MB = 1024 * 1024
LIMIT = 4 * MB  # the default WFS_MAX_BODY_BYTES
SUBMIT = "/v1/workflows/any/versions/current/async"


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM in /proc status")


@pytest.fixture
def server(engine: AsyncEngine, tmp_path: Path) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFS_")}
    env |= {"WFS_DATABASE_URL": DATABASE_URL, "WFS_REDIS_URL": REDIS_URL, "WFS_ADMIN_TOKEN": TOKEN,
            "WFS_LOG_LEVEL": "WARNING"}  # fmt: skip
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([CLI, "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    srv = Server(process, port, log)
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, log.read_text()
        try:
            status, _ = request(srv, "GET /readyz", b"", send_total=0)
            if status == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, f"not ready:\n{log.read_text()}"
        time.sleep(0.1)
    try:
        yield srv
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def request(
    server: Server, line: str, headers: bytes, *, send_total: int, chunked: bool = False, wait_s: float = 30.0
) -> tuple[int, int]:
    """Send a request line and headers, then up to `send_total` body bytes (in chunks of 256 KB, chunked
    framing if asked) while watching for the answer. Returns the status and how many body bytes were sent
    before the answer arrived."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=wait_s)
    try:
        sock.sendall(f"{line} HTTP/1.1\r\nHost: test\r\n".encode() + headers + b"\r\n")
        sent, piece = 0, b"x" * (256 * 1024)
        deadline = time.monotonic() + wait_s
        answer = b""
        while time.monotonic() < deadline:
            want_write = [sock] if sent < send_total else []
            readable, writable, _ = select.select([sock], want_write, [], 0.5)
            if readable:
                data = sock.recv(65536)
                answer += data
                if not data or b"\r\n\r\n" in answer:
                    break
            elif writable:
                frame = (b"%x\r\n" % len(piece)) + piece + b"\r\n" if chunked else piece
                try:
                    sock.sendall(frame)
                except (BrokenPipeError, ConnectionResetError):
                    want_write = []
                    send_total = sent  # the server has stopped reading; its answer follows
                    continue
                sent += len(piece)
        assert answer.startswith(b"HTTP/1.1 "), f"no answer after sending {sent} bytes: {answer!r}"
        return int(answer[9:12]), sent
    finally:
        sock.close()


@pytest.mark.slow
def test_huge_bodies_keep_the_server_memory_bounded(server: Server) -> None:
    baseline = server.peak_rss_mb()
    json_headers = b"Content-Type: application/json\r\n"
    auth = f"Authorization: Bearer {TOKEN}\r\n".encode()

    # 200 MB announced, no token: 401 at once, before a single body byte is sent.
    status, sent = request(
        server, f"POST {SUBMIT}", json_headers + b"Content-Length: %d\r\n" % (200 * MB), send_total=0
    )
    assert (status, sent) == (401, 0)
    # The same streamed without a length and without a token: 401, never read.
    status, sent = request(server, f"POST {SUBMIT}", json_headers + b"Transfer-Encoding: chunked\r\n",
                           send_total=200 * MB, chunked=True)  # fmt: skip
    assert status == 401
    # 50 MB announced with the token: 413 at once from Content-Length.
    status, sent = request(
        server, f"POST {SUBMIT}", json_headers + auth + b"Content-Length: %d\r\n" % (50 * MB), send_total=0
    )
    assert (status, sent) == (413, 0)
    # 200 MB streamed with the token: 413 once the limit is passed, long before the end.
    status, sent = request(server, f"POST {SUBMIT}", json_headers + auth + b"Transfer-Encoding: chunked\r\n",
                           send_total=200 * MB, chunked=True)  # fmt: skip
    assert status == 413
    assert sent < LIMIT + 36 * MB, sent  # beyond the limit: only what the kernel's socket buffers took

    assert server.process.poll() is None
    growth = server.peak_rss_mb() - baseline
    assert growth < 40, f"the API's peak memory grew by {growth:.0f} MB"
