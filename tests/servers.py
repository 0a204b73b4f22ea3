"""Real servers on 127.0.0.1 for tests: HTTP servers in a thread that the code under test talks to over
sockets, and real processes (`workflow-service dev`, `serve`, `worker`, redis-server) that the tests talk to."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

CLI = Path(sys.executable).with_name("workflow-service")
"""The `workflow-service` command installed beside the Python running the tests."""


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LocalHTTPServer(ThreadingHTTPServer):
    """An HTTP server on a free port of 127.0.0.1, serving from a daemon thread as soon as it is made. Errors of
    the `quiet` types while answering (a client that gave up, in a timeout test) are not printed."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], quiet: tuple[type[BaseException], ...] = ()) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.quiet = quiet
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], self.quiet):
            super().handle_error(request, client_address)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)


HOLD_S = 60.0
"""The longest an EchoServer holds a request to `/hold` when the test never releases it."""


@dataclass
class EchoServer:
    """Answers every request with JSON describing it. Behaviour per path:

    - `/status/<code>`: answer with that status code;
    - `/slow/<seconds>`: wait, then answer;
    - `/hold`: wait until the test calls `release()` (at most HOLD_S), then answer;
    - `/redirect`: 302 to /echo;
    - `/text`: a text/plain body;
    - `/big/<bytes>`: a body of that many bytes;
    - `/nul`: JSON with a NUL character in a key and in values, beside a literal backslash-u-0000 text;
      `/nul/text`: a text/plain body with a NUL character;
    - anything else: 200 with `{method, path, headers, json}`.
    """

    requests: list[Recorded] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    _server: LocalHTTPServer | None = None

    def release(self) -> None:
        """Let the requests to `/hold` be answered, those waiting and those to come."""
        self.released.set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    def start(self) -> None:
        outer = self

        class Handler(QuietHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Recorded(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
                outer.requests.append(request)
                if request.path.split("?")[0] == "/hold":
                    outer.released.wait(HOLD_S)
                status, headers, payload = _echo(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self._server = LocalHTTPServer(Handler, quiet=(ConnectionError,))

    def stop(self) -> None:
        self.release()  # a request still held would keep its thread for HOLD_S
        if self._server is not None:
            self._server.stop()


def _echo(request: Recorded) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body EchoServer answers `request` with."""
    parts = request.path.split("?")[0].strip("/").split("/")
    if parts[0] == "redirect":
        return 302, {"Location": "/echo"}, b""
    status = int(parts[1]) if parts[0] == "status" and len(parts) > 1 else 200
    if parts[0] == "slow" and len(parts) > 1:
        time.sleep(float(parts[1]))
    ctype, payload = _fixed_body(parts) or ("application/json", _described(request))
    return status, {"Content-Type": ctype}, payload


def _fixed_body(parts: list[str]) -> tuple[str, bytes] | None:
    if parts[0] == "text":
        return "text/plain", b"plain words"
    if parts[0] == "big" and len(parts) > 1:
        return "application/octet-stream", b"x" * int(parts[1])
    if parts == ["nul", "text"]:
        return "text/plain", b"before\x00after"
    if parts[0] == "nul":
        return "application/json", json.dumps(
            {"value": "before\u0000after", "literal": "C:\\u0000", "k\u0000": [0]}
        ).encode()
    return None


def _described(request: Recorded) -> bytes:
    try:
        parsed = json.loads(request.body) if request.body else None
    except ValueError:
        parsed = request.body.decode(errors="replace")
    described = {"method": request.method, "path": request.path, "headers": request.headers, "json": parsed}
    return json.dumps(described).encode()


def free_port() -> int:
    """A port nothing listens on at the moment (the system picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def clean_env(**values: str) -> dict[str, str]:
    """This environment without its WFS_ variables, plus `values`: a process gets only the settings its test
    gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFS_")}
    return env | values


def run_cli(args: Sequence[str], env: Mapping[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a `workflow-service` command to its end; its output is captured as text."""
    return subprocess.run([str(CLI), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@dataclass
class Process:
    """A real process a test started, its stdout and stderr kept in files (for assertions on what it printed,
    and for failure messages)."""

    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    port: int | None = None

    @property
    def url(self) -> str:
        assert self.port is not None, "started without a port"
        return f"http://127.0.0.1:{self.port}"

    def printed(self) -> str:
        """Everything it wrote to stdout so far."""
        return self.stdout.read_text(errors="replace")

    def output(self, tail: int = 4000) -> str:
        """The end of its stdout and stderr, for a failure message."""
        out, err = self.printed()[-tail:], self.stderr.read_text(errors="replace")[-tail:]
        return f"--- stdout\n{out}\n--- stderr\n{err}"

    def _check_running(self, waiting_for: str, deadline: float) -> None:
        assert self.popen.poll() is None, f"exited {self.popen.returncode}:\n{self.output()}"
        assert time.monotonic() < deadline, f"no {waiting_for} in time:\n{self.output()}"

    def wait_for_output(self, marker: str, wait_s: float = 60) -> None:
        """Wait until it has printed `marker` on stdout."""
        deadline = time.monotonic() + wait_s
        while marker not in self.printed():
            self._check_running(repr(marker), deadline)
            time.sleep(0.01)

    def wait_until_ready(self, path: str = "/readyz", wait_s: float = 60) -> None:
        """Wait until it answers `path` with 200."""
        deadline = time.monotonic() + wait_s
        while not self._answers(path):
            self._check_running(f"200 from {path}", deadline)
            time.sleep(0.1)

    def _answers(self, path: str) -> bool:
        try:
            return httpx.get(self.url + path, timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def wait_until_listening(self, wait_s: float = 10) -> None:
        """Wait until its port accepts connections (a server that is not HTTP)."""
        deadline = time.monotonic() + wait_s
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port or 0)) == 0:
                    return
            self._check_running(f"listener on port {self.port}", deadline)
            time.sleep(0.05)

    def stop(self, grace_s: float = 10) -> None:
        """SIGTERM, and SIGKILL if it has not exited within `grace_s`."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self.popen.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash."""
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=10)


def start_process(
    args: Sequence[str | Path], env: Mapping[str, str], logs: Path, cwd: Path | None = None, port: int | None = None
) -> Process:
    """Start `args` with exactly `env`; its stdout and stderr go to files in the directory `logs`. `port` is
    the port it was told to listen on, if any."""
    logs.mkdir(parents=True, exist_ok=True)
    stdout, stderr = logs / "stdout.log", logs / "stderr.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        popen = subprocess.Popen([str(a) for a in args], cwd=cwd, env=env, stdout=out, stderr=err)
    return Process(popen, stdout, stderr, port)


@contextmanager
def running(command: str, env: Mapping[str, str], cwd: Path) -> Iterator[Process]:
    """`workflow-service <command>` (dev, serve) on a free port, run in `cwd` (its logs there too), and
    stopped when the block ends."""
    port = free_port()
    process = start_process([CLI, command, "--port", str(port)], env, cwd / f"{command}-logs", cwd=cwd, port=port)
    try:
        yield process
    finally:
        process.stop()
