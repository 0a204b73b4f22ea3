"""Three independent 200 ms LLM steps with `needs: []`: how long the job takes end to end.

Starts a local OpenAI-compatible model server that answers every chat completion after 200 ms, the
service (`serve` + `worker`) on PostgreSQL + Redis, and a workflow whose three `llm` steps need
nothing and a fourth step that joins them. Run one after the other, they would take 600 ms; the
target is "well under 600 ms".

    python bench/parallel_llm.py --jobs 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from service_process import free_port

CLI = str(Path(sys.executable).with_name("workflow-service"))
TOKEN = "bench-token"
DELAY_S = 0.2
DEFINITION = {
    "model": {"provider": "openai", "name": "bench-model", "temperature": 0},
    "steps": [
        {"id": "a", "type": "llm", "prompt": "first {{ inputs.n }}", "needs": []},
        {"id": "b", "type": "llm", "prompt": "second {{ inputs.n }}", "needs": []},
        {"id": "c", "type": "llm", "prompt": "third {{ inputs.n }}", "needs": []},
        {"id": "join", "type": "transform", "needs": ["a", "b", "c"],
         "output": ["{{ steps.a.output }}", "{{ steps.b.output }}", "{{ steps.c.output }}"]},
    ],
}  # fmt: skip


class SlowModel(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(DELAY_S)
        text = "ok: " + request["messages"][-1]["content"]
        body = json.dumps({"model": request["model"], "choices": [{"message": {"role": "assistant", "content": text}}],
                           "usage": {"prompt_tokens": 3, "completion_tokens": 2}}).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--database", default="wfs_bench_llm")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    args = parser.parse_args()

    model = ThreadingHTTPServer(("127.0.0.1", 0), SlowModel)
    model.daemon_threads = True
    threading.Thread(target=model.serve_forever, daemon=True).start()
    admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{args.database}"')
    await admin.close()
    env = {**os.environ, "WFS_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{args.database}",
           "WFS_REDIS_URL": args.redis_url, "WFS_ADMIN_TOKEN": TOKEN, "WFS_LOG_LEVEL": "WARNING",
           "WFS_OPENAI_BASE_URL": f"http://127.0.0.1:{model.server_address[1]}/v1", "WFS_OPENAI_API_KEY": "k",
           "WFS_OUTBOUND_ALLOWLIST": "127.0.0.1"}  # fmt: skip
    subprocess.run([CLI, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    api = subprocess.Popen([CLI, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([CLI, "worker"], env=env)
    durations: list[float] = []
    calls: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as client:  # fmt: skip
            for _ in range(200):
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            (await client.post("/v1/workflows", json={"name": "fanout", "definition": DEFINITION})).raise_for_status()
            (await client.post("/v1/workflows/fanout/deploy")).raise_for_status()
            for n in range(args.jobs + 2):
                started = time.perf_counter()
                response = await client.post("/v1/workflows/fanout/versions/current/sync", json={"inputs": {"n": n}})
                elapsed = time.perf_counter() - started
                job = response.json()
                assert job["status"] == "completed", job
                if n >= 2:  # the first two warm up connections and caches
                    durations.append(job["duration"] * 1000)
                    calls.append(elapsed * 1000)
    finally:
        for proc in (api, worker):
            proc.send_signal(signal.SIGTERM)
        for proc in (api, worker):
            proc.wait(timeout=30)
        model.shutdown()
        model.server_close()
    print(f"three independent {DELAY_S * 1000:.0f} ms llm steps + a join, {args.jobs} jobs")
    print(f"job duration (started -> finished) p50 {statistics.median(durations):.1f} ms, max {max(durations):.1f} ms")
    print(f"sync call (request -> 200)        p50 {statistics.median(calls):.1f} ms, max {max(calls):.1f} ms")
    print(f"sequential would be at least {3 * DELAY_S * 1000:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
