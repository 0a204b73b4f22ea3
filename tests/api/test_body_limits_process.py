"""Huge bodies against a real `workflow-service serve` process: without credentials the body is never read,
with them it is refused at the limit; the server's peak memory (VmHWM in /proc) stays bounded throughout.
Before the limit and the authentication middleware, a 200 MB body without a token cost the API ~600 MB."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import DATABASE_URL, REDIS_URL, TOKEN
from tests.servers import Process, clean_env, running

MB = 1024 * 1024
LIMIT = 4 * MB  # the default WFS_MAX_BODY_BYTES
SUBMIT = "/v1/workflows/any/versions/current/async"
WAIT_S = 30.0
"""How long a request waits for the answer."""


def peak_rss_mb(server: Process) -> float:
    for line in Path(f"/proc/{server.popen.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture
def server(engine: AsyncEngine, tmp_path: Path) -> Iterator[Process]:
    env = clean_env(
        WFS_DATABASE_URL=DATABASE_URL, WFS_REDIS_URL=REDIS_URL, WFS_ADMIN_TOKEN=TOKEN, WFS_LOG_LEVEL="WARNING"
    )
    with running("serve", env, tmp_path) as process:
        process.wait_until_ready()
        yield process


def request(server: Process, line: str, headers: bytes, *, send_total: int, chunked: bool = False) -> tuple[int, int]:
    """Send a request line and headers, then up to `send_total` body bytes (in chunks of 256 KB, chunked
    framing if asked) while watching for the answer. Returns the status and how many body bytes were sent
    before the answer arrived."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)
    try:
        sock.sendall(f"{line} HTTP/1.1\r\nHost: test\r\n".encode() + headers + b"\r\n")
        sent, piece = 0, b"x" * (256 * 1024)
        deadline = time.monotonic() + WAIT_S
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
def test_huge_bodies_keep_the_server_memory_bounded(server: Process) -> None:
    baseline = peak_rss_mb(server)
    json_headers = b"Content-Type: application/json\r\n"
    auth = f"Authorization: Bearer {TOKEN}\r\n".encode()

    # 200 MB announced, no token: 401 at once, before a single body byte is sent.
    status, sent = request(
        server, f"POST {SUBMIT}", json_headers + b"Content-Length: %d\r\n" % (200 * MB), send_total=0
    )
    assert (status, sent) == (401, 0)
    # The same streamed without a length and without a token: 401, never read.
    status, sent = request(
        server, f"POST {SUBMIT}", json_headers + b"Transfer-Encoding: chunked\r\n", send_total=200 * MB, chunked=True
    )
    assert status == 401
    # 50 MB announced with the token: 413 at once from Content-Length.
    status, sent = request(
        server, f"POST {SUBMIT}", json_headers + auth + b"Content-Length: %d\r\n" % (50 * MB), send_total=0
    )
    assert (status, sent) == (413, 0)
    # 200 MB streamed with the token: 413 once the limit is passed, long before the end.
    chunked_headers = json_headers + auth + b"Transfer-Encoding: chunked\r\n"
    status, sent = request(server, f"POST {SUBMIT}", chunked_headers, send_total=200 * MB, chunked=True)
    assert status == 413
    assert sent < LIMIT + 36 * MB, sent  # beyond the limit: only what the kernel's socket buffers took

    assert server.popen.poll() is None
    growth = peak_rss_mb(server) - baseline
    assert growth < 40, f"the API's peak memory grew by {growth:.0f} MB"
