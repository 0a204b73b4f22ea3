"""A real model server on 127.0.0.1 speaking the OpenAI Chat Completions and Anthropic Messages APIs,
answering from a script (or echoing the prompt), reporting usage, and able to fail on demand."""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.servers import LocalHTTPServer, QuietHandler


@dataclass
class Reply:
    """What the server answers next: `text` as a normal completion, or a raw `status`/`body`."""

    text: str | None = None
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


class ModelServer:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.script: deque[Reply] = deque()
        self._server: LocalHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def _answer(self, path: str, request: dict[str, Any], reply: Reply) -> tuple[int, dict[str, str], bytes]:
        if reply.status != 200 or reply.body is not None:
            body = reply.body if reply.body is not None else {"error": {"message": f"scripted {reply.status}"}}
            return reply.status, reply.headers, json.dumps(body).encode()
        if path.endswith("/messages"):
            prompt = request["messages"][-1]["content"]
            text = reply.text if reply.text is not None else f"echo: {prompt}"
            body = {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": request["model"],
                "content": [{"type": "text", "text": text}],
                "usage": {"input_tokens": len(prompt.split()) + 3, "output_tokens": len(text.split())},
            }
        else:
            prompt = request["messages"][-1]["content"]
            text = reply.text if reply.text is not None else f"echo: {prompt}"
            body = {"id": "chatcmpl-1", "object": "chat.completion", "model": request["model"] + "-0613",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": len(prompt.split()) + 3, "completion_tokens": len(text.split()),
                              "total_tokens": 0}}  # fmt: skip
        return 200, reply.headers, json.dumps(body).encode()

    def start(self) -> None:
        outer = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                outer.calls.append(Call(self.path, dict(self.headers.items()), request, time.monotonic()))
                reply = outer.script.popleft() if outer.script else Reply()
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                status, headers, payload = outer._answer(self.path, request, reply)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except ConnectionError:
                    pass  # the client gave up (a timeout test)

        self._server = LocalHTTPServer(Handler, quiet=(Exception,))

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
