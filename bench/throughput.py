"""End-to-end throughput and latency on PostgreSQL + Redis.

Starts one `workflow-service serve` process and one `workflow-service worker` process on a fresh
database, deploys a one-transform workflow, and measures through the public HTTP API:

- throughput: N jobs submitted by C concurrent clients as fast as they can; jobs/s from the first
  submission until the last job is completed (read from the database, not by polling the API);
- latency: single jobs submitted one at a time; submit -> completed as recorded by the service
  (job.created_at -> job.finished_at) and as seen by a client polling GET /v1/jobs/{id};
- sync: single calls to the sync endpoint, one at a time, request sent -> 200 with the ended job;
- CPU: milliseconds of CPU per job for the api and worker processes, and for the whole machine
  (which includes PostgreSQL, Redis and this load generator).

Full durability: PostgreSQL runs with its defaults (synchronous_commit on).

    python bench/throughput.py --jobs 5000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from service_process import free_port, wait_ready

CLI = str(Path(sys.executable).with_name("workflow-service"))
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TOKEN = "bench-token"
DEFINITION = {
    "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    "steps": [{"id": "double", "type": "transform", "output": {"n": "{{ inputs.n * 2 }}"}}],
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def group_cpu_s(comm: str) -> float:
    """CPU seconds of every process whose command name is `comm` (postgres, redis-server)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        if name == comm:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def self_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def machine_busy_s() -> float:
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    return (sum(parts[:8]) - idle) / CLK_TCK


class LeanClient:
    """A minimal HTTP/1.1 keep-alive client (one connection), so the load generator does not spend the
    cores it is measuring: httpx costs about 2 ms of CPU per request, this about a tenth of that."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: bench\r\n{self.head}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent submitting clients")
    parser.add_argument("--single", type=int, default=300, help="single jobs for the latency figures")
    parser.add_argument("--worker-concurrency", type=int, default=64)
    parser.add_argument("--database", default="wfs_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    args = parser.parse_args()

    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{args.database}"')
    await admin.close()
    db_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{args.database}"
    env = {
        **os.environ,
        "WFS_DATABASE_URL": db_url,
        "WFS_REDIS_URL": args.redis_url,
        "WFS_ADMIN_TOKEN": TOKEN,
        "WFS_LOG_LEVEL": "WARNING",
    }
    subprocess.run([CLI, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    import redis.asyncio as aioredis

    red = aioredis.Redis.from_url(args.redis_url)
    await red.flushdb()
    await red.aclose()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = subprocess.Popen([CLI, "serve", "--port", str(port)], env=env)
    worker = subprocess.Popen([CLI, "worker", "--concurrency", str(args.worker_concurrency)], env=env)
    db = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{args.database}")
    try:
        await wait_ready(base)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as client:
            (await client.post("/v1/workflows", json={"name": "bench", "definition": DEFINITION})).raise_for_status()
            (await client.post("/v1/workflows/bench/deploy")).raise_for_status()
            url = "/v1/workflows/bench/versions/current/async"

            async def submit(n: int) -> str:
                response = await client.post(url, json={"inputs": {"n": n}})
                response.raise_for_status()
                return str(response.json()["id"])

            async def drain(expected: int) -> None:
                while await db.fetchval("SELECT count(*) FROM job WHERE status = 'completed'") < expected:
                    await asyncio.sleep(0.02)

            # warm-up
            await asyncio.gather(*(submit(i) for i in range(200)))
            await drain(200)

            # throughput
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(args.jobs):
                queue.put_nowait(i)

            async def client_loop() -> None:
                lean = LeanClient(port, headers)
                try:
                    while not queue.empty():
                        n = queue.get_nowait()
                        status, _ = await lean.request("POST", url, orjson.dumps({"inputs": {"n": n}}))
                        assert status == 202, status
                finally:
                    await lean.close()

            cpu0 = {p.pid: proc_cpu_s(p.pid) for p in (api, worker)}
            busy0 = machine_busy_s()
            others0 = {name: group_cpu_s(name) for name in ("postgres", "redis-server")}
            self0 = self_cpu_s()
            t0 = time.perf_counter()
            await asyncio.gather(*(client_loop() for _ in range(args.concurrency)))
            t_submitted = time.perf_counter() - t0
            await drain(200 + args.jobs)
            elapsed = time.perf_counter() - t0
            busy = machine_busy_s() - busy0
            others = {name: group_cpu_s(name) - others0[name] for name in others0}
            load_generator = self_cpu_s() - self0
            cpu = {p.pid: proc_cpu_s(p.pid) - cpu0[p.pid] for p in (api, worker)}
            failed = await db.fetchval("SELECT count(*) FROM job WHERE status <> 'completed'")

            # latency, one job at a time
            service_ms: list[float] = []
            client_ms: list[float] = []
            for i in range(args.single):
                start = time.perf_counter()
                job_id = await submit(i)
                while True:
                    job = (await client.get(f"/v1/jobs/{job_id}")).json()
                    if job["status"] in ("completed", "failed"):
                        break
                    await asyncio.sleep(0.001)
                client_ms.append((time.perf_counter() - start) * 1000)
                row = await db.fetchrow("SELECT created_at, finished_at FROM job WHERE id = $1", job["id"])
                assert row is not None
                service_ms.append((row["finished_at"] - row["created_at"]).total_seconds() * 1000)

            # sync calls, one at a time: the full request/response round trip as a client sees it
            sync_ms: list[float] = []
            lean = LeanClient(port, headers)
            sync_url = "/v1/workflows/bench/versions/current/sync"
            try:
                for i in range(args.single):
                    start = time.perf_counter()
                    status, body = await lean.request("POST", sync_url, orjson.dumps({"inputs": {"n": i}}))
                    sync_ms.append((time.perf_counter() - start) * 1000)
                    assert status == 200, (status, body)
                    assert orjson.loads(body)["status"] == "completed"
            finally:
                await lean.close()
    finally:
        await db.close()
        for proc in (api, worker):
            proc.send_signal(signal.SIGTERM)
        for proc in (api, worker):
            proc.wait(timeout=30)

    report: dict[str, Any] = {
        "jobs": args.jobs,
        "concurrency": args.concurrency,
        "not completed": failed,
        "submit rate (jobs/s)": round(args.jobs / t_submitted, 1),
        "throughput to completion (jobs/s)": round(args.jobs / elapsed, 1),
        "latency p50 submit->completed, service-recorded (ms)": round(statistics.median(service_ms), 2),
        "latency p99 submit->completed, service-recorded (ms)": round(pct(service_ms, 99), 2),
        "latency p50 as seen by a polling client (ms)": round(statistics.median(client_ms), 2),
        "latency p99 as seen by a polling client (ms)": round(pct(client_ms, 99), 2),
        "sync call latency p50 (ms)": round(statistics.median(sync_ms), 2),
        "sync call latency p99 (ms)": round(pct(sync_ms, 99), 2),
        "api CPU per job (ms)": round(cpu[api.pid] / args.jobs * 1000, 3),
        "worker CPU per job (ms)": round(cpu[worker.pid] / args.jobs * 1000, 3),
        "PostgreSQL CPU per job (ms)": round(others["postgres"] / args.jobs * 1000, 3),
        "Redis CPU per job (ms)": round(others["redis-server"] / args.jobs * 1000, 3),
        "load generator CPU per job (ms)": round(load_generator / args.jobs * 1000, 3),
        "machine CPU per job, all processes (ms)": round(busy / args.jobs * 1000, 3),
    }
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    asyncio.run(main())
