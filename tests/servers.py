"""Real HTTP servers on 127.0.0.1 for tests: the code under test talks to them over sockets."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class EchoServer:
    """Answers every request with JSON describing it. Behaviour per path:

    - `/status/<code>`: answer with that status code;
    - `/slow/<seconds>`: wait, then answer;
    - `/redirect`: 302 to /echo;
    - `/text`: a text/plain body;
    - `/big/<bytes>`: a body of that many bytes;
    - `/nul`: JSON with a NUL character in a key and in values, beside a literal backslash-u-0000 text;
      `/nul/text`: a text/plain body with a NUL character;
    - anything else: 200 with `{method, path, headers, json}`.
    """

    requests: list[Recorded] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))
                parts = self.path.split("?")[0].strip("/").split("/")
                status, payload, ctype = 200, None, "application/json"
                if parts[0] == "status" and len(parts) > 1:
                    status = int(parts[1])
                elif parts[0] == "slow" and len(parts) > 1:
                    time.sleep(float(parts[1]))
                elif parts[0] == "redirect":
                    self.send_response(302)
                    self.send_header("Location", "/echo")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                elif parts[0] == "text":
                    payload, ctype = b"plain words", "text/plain"
                elif parts[0] == "big" and len(parts) > 1:
                    payload, ctype = b"x" * int(parts[1]), "application/octet-stream"
                elif parts[0] == "nul" and parts[1:] == ["text"]:
                    payload, ctype = b"before\x00after", "text/plain"
                elif parts[0] == "nul":
                    payload = json.dumps(
                        {"value": "before\u0000after", "literal": "C:\\u0000", "k\u0000": [0]}
                    ).encode()
                if payload is None:
                    try:
                        parsed = json.loads(body) if body else None
                    except ValueError:
                        parsed = body.decode(errors="replace")
                    payload = json.dumps(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": dict(self.headers.items()),
                            "json": parsed,
                        }
                    ).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that gave up (a test of timeouts) closes the socket mid-answer; that is expected.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self._server = QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
