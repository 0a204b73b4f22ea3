"""Chaos run: jobs keep their promises while processes die around them.

Starts, on 127.0.0.1 only and all of them its own: a `redis-server` on a free port (no persistence,
so flushing it touches nobody else), a fresh PostgreSQL database (created, migrated, dropped at the
end), one `workflow-service serve` process, `--workers` `workflow-service worker` processes, and an
echo server inside this process that records every `Idempotency-Key` it receives.

It deploys a workflow with an `http` step (a POST to the echo server: the side effect) followed by a
`transform`, then submits `--jobs` jobs spread over `--duration` seconds from `--concurrency` clients,
each with its own submission `Idempotency-Key` (a submission that gets no 2xx, e.g. while the API is
down, is retried with the same key for up to --submit-retry-s seconds). Meanwhile:

- every `--kill-every` seconds a random worker is SIGKILLed and a replacement started;
- at 25% of the duration its Redis is flushed (FLUSHALL);
- at 50% the API is SIGKILLed and started again on the same port;
- at 75% every connection to its database is dropped (`pg_terminate_backend`, that database only).

Then it waits up to `--settle` seconds for every job to end and reads every accepted job from the
API. It prints:

- accepted: submissions answered 2xx (rejected: no 2xx within the retry window, by last answer);
- completed / failed (by error code) / canceled;
- stuck: accepted, known to the API, not ended within the bound (by status);
- lost: accepted, but the API answers 404 for it;
- duplicated: jobs beyond the first for one submission Idempotency-Key, plus side effects of jobs the
  API does not know;
- at-least-once re-runs: jobs whose http step reached the receiver more than once (the same
  `{job_id}:{step_id}` key seen again: a worker died mid-step; see docs/invocation.md). These are
  the documented contract, not duplicates;
- wrong output: completed jobs whose output is not what the steps compute.

Exit status 1 when a job is stuck, lost or duplicated (or unreadable through the API), else 0.

    python bench/chaos.py --jobs 2000 --duration 120 --kill-every 3 --workers 3 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis
from service_process import free_port

CLI = str(Path(sys.executable).with_name("workflow-service"))
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TOKEN = "chaos-token"
WORKFLOW = "chaos"
EFFECT_STEP = "call"
ENDED = frozenset({"completed", "failed", "canceled"})
NOT_ENDED = "new,pending,claimed,running,validating,uploading"
MAX_HEADER_LINES = 100


def definition(echo_port: int) -> dict[str, Any]:
    return {
        "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
        "steps": [
            {
                "id": EFFECT_STEP,
                "type": "http",
                "method": "POST",
                "url": f"http://127.0.0.1:{echo_port}/effect",
                "json": {"n": "{{ inputs.n }}"},
            },
            {"id": "double", "type": "transform", "output": {"n": "{{ steps.call.output.body.n * 2 }}"}},
        ],
        "output": {"n": "{{ steps.double.output.n }}"},
    }


class Log:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.t0:7.1f} s] {message}", flush=True)


# ---------------------------------------------------------------------------------------------------
# The receiver of the side effect


class EchoServer:
    """A minimal HTTP/1.1 server: answers every request with its JSON body echoed back (after a delay,
    so that requests are in flight when workers die) and counts every Idempotency-Key it receives."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.seen: Counter[str] = Counter()
        self.requests = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, TimeoutError):
            pass
        finally:
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        request_line = await asyncio.wait_for(reader.readline(), 120)
        if not request_line:
            return False
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            line = await asyncio.wait_for(reader.readline(), 30)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), 30)
        key = headers.get("idempotency-key")
        self.requests += 1
        if key is not None:
            self.seen[key] += 1
        await asyncio.sleep(self.delay_s)
        try:
            payload = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            payload = None
        n = payload.get("n") if isinstance(payload, dict) else None
        out = orjson.dumps({"n": n, "key": key})
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(out)}\r\n\r\n".encode()
            + out
        )
        await writer.drain()
        return True


# ---------------------------------------------------------------------------------------------------
# The processes


class Cluster:
    """The private Redis, the API and the workers; every process started here is ended by close()."""

    def __init__(self, workdir: Path, database: str, worker_concurrency: int, log: Log) -> None:
        self.workdir = workdir
        self.database = database
        self.worker_concurrency = worker_concurrency
        self.log = log
        self.redis_port = free_port()
        self.api_port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.base = f"http://127.0.0.1:{self.api_port}"
        self.redis: subprocess.Popen[bytes] | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.started = 0
        self.logs: list[IO[bytes]] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith("WFS_")}
        self.env = {
            **env,
            "WFS_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
            "WFS_REDIS_URL": self.redis_url,
            "WFS_ADMIN_TOKEN": TOKEN,
            "WFS_LOG_LEVEL": "WARNING",
            "WFS_OUTBOUND_ALLOWLIST": "127.0.0.1",
        }

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        out = (self.workdir / f"{name}.log").open("ab")
        self.logs.append(out)
        # cwd: the work directory, so that no stray .env file is read.
        return subprocess.Popen(args, env=self.env, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT)

    async def start_redis(self, binary: str) -> None:
        redis_dir = self.workdir / "redis"
        redis_dir.mkdir()
        options = {"port": str(self.redis_port), "bind": "127.0.0.1", "save": "", "appendonly": "no"}
        argv = [binary, *(part for name, value in options.items() for part in (f"--{name}", value))]
        self.redis = self._spawn([*argv, "--dir", str(redis_dir)], "redis")
        client = aioredis.Redis.from_url(self.redis_url)
        try:
            for _ in range(100):
                with contextlib.suppress(Exception):
                    if await client.ping():
                        return
                if self.redis.poll() is not None:
                    break
                await asyncio.sleep(0.1)
        finally:
            await client.aclose()
        raise SystemExit(f"redis-server did not start (see {self.workdir}/redis.log)")

    def migrate(self) -> None:
        subprocess.run([CLI, "migrate"], env=self.env, cwd=self.workdir, check=True, stdout=subprocess.DEVNULL)

    def start_api(self) -> None:
        self.api = self._spawn([CLI, "serve", "--port", str(self.api_port)], "api")

    def kill_api(self) -> None:
        assert self.api is not None
        self.api.kill()
        self.api.wait()

    def start_worker(self) -> str:
        self.started += 1
        name = f"chaos-worker-{self.started}"
        self.workers[name] = self._spawn(
            [CLI, "worker", "--concurrency", str(self.worker_concurrency), "--name", name], name
        )
        return name

    def kill_random_worker(self) -> str:
        name = random.choice(sorted(self.workers))
        proc = self.workers.pop(name)
        proc.kill()
        proc.wait()
        return name

    async def flush_redis(self) -> None:
        client = aioredis.Redis.from_url(self.redis_url)
        try:
            await client.flushall()
        finally:
            await client.aclose()

    async def wait_ready(self, timeout_s: float) -> float | None:
        """Seconds until GET /readyz answers 200, or None if it did not within the bound."""
        start = time.monotonic()
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() - start < timeout_s:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.base}/readyz")).status_code == 200:
                        return time.monotonic() - start
                await asyncio.sleep(0.1)
        return None

    def close(self) -> None:
        procs = [p for p in (self.api, *self.workers.values()) if p is not None]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()
            try:
                self.redis.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.redis.kill()
                self.redis.wait()
        for out in self.logs:
            out.close()


async def drop_connections(database: str) -> int:
    """pg_terminate_backend on every connection to `database` (and to no other database)."""
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        return int(
            await admin.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        )
    finally:
        await admin.close()


async def recreate_database(database: str, drop_only: bool = False) -> None:
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if not drop_only:
            await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()


# ---------------------------------------------------------------------------------------------------
# Load and chaos


@dataclass
class Submission:
    key: str
    n: int
    job_id: str | None = None
    answers: list[tuple[float, str]] = field(default_factory=list)  # (when, status code or exception name)


async def submit_all(
    client: httpx.AsyncClient, subs: list[Submission], duration_s: float, concurrency: int, retry_s: float
) -> None:
    """Submit every job, the i-th at i * duration / len(subs) seconds from now whatever happened to the
    earlier ones, each retried with its key for up to `retry_s`: done by duration + retry_s (+ one
    request timeout). At most `concurrency` requests are in flight."""
    interval = duration_s / max(1, len(subs))
    start = time.monotonic()
    url = f"/v1/workflows/{WORKFLOW}/versions/current/async"
    in_flight = asyncio.Semaphore(concurrency)

    async def one(sub: Submission) -> None:
        body = {"inputs": {"n": sub.n}, "metadata": {"chaos_key": sub.key}, "cache": "never"}
        deadline = time.monotonic() + retry_s
        delay = 0.2
        while True:
            async with in_flight:
                try:
                    response = await client.post(url, json=body, headers={"Idempotency-Key": sub.key})
                except httpx.HTTPError as exc:
                    sub.answers.append((time.monotonic(), type(exc).__name__))
                else:
                    sub.answers.append((time.monotonic(), str(response.status_code)))
                    if response.is_success:
                        sub.job_id = str(response.json()["id"])
                        return
                    if response.status_code < 500 and response.status_code != 429:
                        return  # a 4xx other than 429 will not change: stop
            if time.monotonic() + delay > deadline:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    tasks: list[asyncio.Task[None]] = []
    try:
        for i, sub in enumerate(subs):
            await asyncio.sleep(max(0.0, start + i * interval - time.monotonic()))
            tasks.append(asyncio.create_task(one(sub)))
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


@dataclass
class ChaosRecord:
    kills: int = 0
    events: list[str] = field(default_factory=list)
    api_killed_at: float | None = None
    db_dropped_at: float | None = None


async def chaos(cluster: Cluster, args: argparse.Namespace, record: ChaosRecord, log: Log) -> None:
    """Run the scheduled faults, each at its time from now; bounded by the duration."""
    duration = float(args.duration)
    schedule: list[tuple[float, str]] = [(duration * 0.25, "flush"), (duration * 0.5, "api"), (duration * 0.75, "db")]
    t = float(args.kill_every)
    while t < duration:
        schedule.append((t, "kill"))
        t += args.kill_every
    schedule.sort()
    start = time.monotonic()
    pending: list[asyncio.Task[None]] = []

    async def api_back(killed_at: float) -> None:
        took = await cluster.wait_ready(60)
        down = time.monotonic() - killed_at
        message = f"API ready again {down:.1f} s after the kill" if took is not None else "API not ready within 60 s"
        record.events.append(message)
        log(message)

    for at, what in schedule:
        await asyncio.sleep(max(0.0, start + at - time.monotonic()))
        if what == "kill":
            killed = cluster.kill_random_worker()
            started = cluster.start_worker()
            record.kills += 1
            log(f"SIGKILL {killed}; started {started}")
        elif what == "flush":
            await cluster.flush_redis()
            record.events.append(f"Redis flushed at {at:.0f} s")
            log("Redis FLUSHALL")
        elif what == "api":
            cluster.kill_api()
            killed_at = record.api_killed_at = time.monotonic()
            cluster.start_api()
            record.events.append(f"API SIGKILLed and restarted at {at:.0f} s")
            log("API SIGKILLed; restarting")
            pending.append(asyncio.create_task(api_back(killed_at)))
        else:
            record.db_dropped_at = time.monotonic()
            dropped = await drop_connections(cluster.database)
            record.events.append(f"{dropped} database connections dropped at {at:.0f} s")
            log(f"pg_terminate_backend: {dropped} connections to {cluster.database} dropped")
    await asyncio.gather(*pending)


# ---------------------------------------------------------------------------------------------------
# Reading the outcome


async def get_json(client: httpx.AsyncClient, path: str, tries: int = 5) -> tuple[int, Any]:
    """(status, body) of a GET, retried on 5xx and connection errors; (0, error name) if it never answered."""
    last: tuple[int, Any] = (0, "no answer")
    for attempt in range(tries):
        try:
            response = await client.get(path)
        except httpx.HTTPError as exc:
            last = (0, type(exc).__name__)
        else:
            if response.status_code < 500:
                return response.status_code, response.json()
            last = (response.status_code, response.text[:200])
        await asyncio.sleep(0.5 * (attempt + 1))
    return last


async def settle(client: httpx.AsyncClient, bound_s: float, log: Log) -> float:
    """Wait until no job of the workflow is unended (or the bound); return the seconds waited."""
    start = time.monotonic()
    last_note = 0.0
    while time.monotonic() - start < bound_s:
        status, page = await get_json(client, f"/v1/jobs?workflow={WORKFLOW}&status={NOT_ENDED}&limit=1", tries=1)
        if status == 200 and not page["items"]:
            break
        if time.monotonic() - last_note > 10:
            last_note = time.monotonic()
            log("waiting for jobs to end" if status == 200 else f"waiting: the job listing answered {status or page}")
        await asyncio.sleep(1)
    return time.monotonic() - start


async def list_all_jobs(client: httpx.AsyncClient, max_pages: int) -> list[str] | None:
    """Every job id of the workflow, through the listing; None if the API could not list them."""
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(max_pages):
        path = f"/v1/jobs?workflow={WORKFLOW}&limit=200" + (f"&cursor={cursor}" if cursor else "")
        status, page = await get_json(client, path)
        if status != 200:
            return None
        ids.extend(str(item["id"]) for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
    return None


def tally(counter: Counter[str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counter.most_common()) or "-"


def after_fault(subs: list[Submission], at: float | None) -> str:
    """The submission answers after a fault: when errors were seen, whether 2xx came back after them."""
    if at is None:
        return "-"
    later = sorted((when - at, a) for s in subs for when, a in s.answers if when >= at)
    errors = [when for when, a in later if not a.startswith("2")]
    if not errors:
        return f"no errors  [{tally(Counter(a for _, a in later))}]"
    recovered = any(when > errors[-1] and a.startswith("2") for when, a in later)
    return (
        f"errors from {errors[0]:.1f} s to {errors[-1]:.1f} s after it, "
        + ("2xx again since" if recovered else "no 2xx after the last error")
        + f"  [{tally(Counter(a for _, a in later))}]"
    )


async def report(
    client: httpx.AsyncClient, subs: list[Submission], echo: EchoServer, record: ChaosRecord, waited: float
) -> int:
    accepted = [s for s in subs if s.job_id is not None]
    rejected = Counter(s.answers[-1][1] if s.answers else "never sent" for s in subs if s.job_id is None)
    answers = Counter(a for s in subs for _, a in s.answers)

    sem = asyncio.Semaphore(8)

    async def read(job_id: str) -> tuple[int, Any]:
        async with sem:
            return await get_json(client, f"/v1/jobs/{job_id}")

    jobs: dict[str, Any] = {}
    lost: list[str] = []
    unreadable: Counter[str] = Counter()
    results = await asyncio.gather(*(read(s.job_id) for s in accepted if s.job_id is not None))
    for sub, (status, body) in zip(accepted, results, strict=True):
        assert sub.job_id is not None
        if status == 200:
            jobs[sub.job_id] = body
        elif status == 404:
            lost.append(sub.job_id)
        else:
            unreadable[str(status or body)] += 1

    # Jobs the API has that no client got a 2xx for: a retried submission that made a second job
    # for its key would show here.
    listed = await list_all_jobs(client, max_pages=len(subs) // 200 + 20)
    jobs_per_key: Counter[str] = Counter(s.key for s in accepted)
    extra_ids: list[str] = []
    if listed is not None:
        extra_ids = [i for i in listed if i not in jobs]
        for job_id in extra_ids:
            if job_id in lost:
                continue
            status, body = await read(job_id)
            if status == 200:
                jobs[job_id] = body
                key = (body.get("metadata") or {}).get("chaos_key")
                if isinstance(key, str):
                    jobs_per_key[key] += 1
    duplicated_jobs = sum(c - 1 for c in jobs_per_key.values() if c > 1)
    accepted_keys = {s.key for s in accepted}
    made_for_rejected = sum(
        1 for i in extra_ids if i in jobs and (jobs[i].get("metadata") or {}).get("chaos_key") not in accepted_keys
    )

    accepted_ids = {s.job_id for s in accepted}
    failed_codes = Counter(
        (j.get("error") or {}).get("code", "?")
        for i, j in jobs.items()
        if i in accepted_ids and j["status"] == "failed"
    )
    stuck = Counter(j["status"] for i, j in jobs.items() if i in accepted_ids and j["status"] not in ENDED)
    by_n = {s.job_id: s.n for s in accepted}
    wrong_output = sum(
        1
        for i, j in jobs.items()
        if i in by_n and j["status"] == "completed" and (j.get("output") or {}).get("n") != by_n[i] * 2
    )
    attempts = Counter(int(j["attempt"]) for i, j in jobs.items() if i in accepted_ids)

    effect_count = {i: echo.seen.get(f"{i}:{EFFECT_STEP}", 0) for i in jobs}
    reran = {i: c for i, c in effect_count.items() if c > 1}
    no_effect = sum(1 for i, j in jobs.items() if j["status"] == "completed" and effect_count[i] == 0)
    known_keys = {f"{i}:{EFFECT_STEP}" for i in jobs} | {f"{i}:{EFFECT_STEP}" for i in lost}
    foreign = sum(c for k, c in echo.seen.items() if k not in known_keys)

    n_acc = len(accepted)
    counts = {
        "jobs submitted": len(subs),
        "accepted (2xx)": n_acc,
        "rejected (no 2xx within the retry window)": f"{len(subs) - n_acc}  [{tally(rejected)}]",
        "completed": sum(1 for i in accepted_ids if i in jobs and jobs[i]["status"] == "completed"),
        "failed": f"{sum(failed_codes.values())}  [{tally(failed_codes)}]",
        "canceled": sum(1 for i in accepted_ids if i in jobs and jobs[i]["status"] == "canceled"),
        "stuck (not ended within the bound)": f"{sum(stuck.values())}  [{tally(stuck)}]",
        "lost (accepted, 404 from the API)": len(lost),
        "unreadable through the API": f"{sum(unreadable.values())}  [{tally(unreadable)}]",
        "jobs made for rejected submissions": made_for_rejected,
        "duplicated (extra jobs for one key)": duplicated_jobs,
        "duplicated (side effects of unknown jobs)": foreign,
        "at-least-once re-runs (http step sent again)": (
            f"{len(reran)} jobs ({100 * len(reran) / max(1, n_acc):.2f}% of accepted), "
            f"{sum(c - 1 for c in reran.values())} extra requests"
        ),
        "wrong output": wrong_output,
        "completed without their side effect": no_effect,
        "jobs by claims (attempt)": tally(Counter({str(k): v for k, v in sorted(attempts.items())})),
        "job listing": "ok" if listed is not None else "failed",
        "all jobs of the workflow (listing)": len(listed) if listed is not None else "?",
        "submission answers (every attempt)": tally(answers),
        "submissions after the API kill": after_fault(subs, record.api_killed_at),
        "submissions after the connection drop": after_fault(subs, record.db_dropped_at),
        "side-effect requests received": echo.requests,
        "workers SIGKILLed": record.kills,
        "settle wait (s)": round(waited, 1),
    }
    print()
    for event in record.events:
        print(f"event: {event}")
    shown: Counter[str] = Counter()  # a few examples of each failure code, and of stuck jobs
    for i, j in jobs.items():
        if i not in accepted_ids or j["status"] == "completed":
            continue
        error = j.get("error") or {}
        kind = f"failed {error.get('code')}" if j["status"] == "failed" else j["status"]
        shown[kind] += 1
        if shown[kind] <= 3:
            detail = f"at step {error.get('step')}: {str(error.get('message'))[:300]}" if error else ""
            print(f"{kind}: job {i}, attempt {j['attempt']} {detail}")
    width = max(len(k) for k in counts)
    for key, value in counts.items():
        print(f"{key:<{width}}  {value}")
    broken = sum(stuck.values()) + len(lost) + duplicated_jobs + foreign + sum(unreadable.values())
    return 1 if broken else 0


# ---------------------------------------------------------------------------------------------------


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000, help="jobs to submit (1-20000)")
    parser.add_argument(
        "--duration", type=float, default=120, help="seconds over which jobs are submitted and faults injected"
    )
    parser.add_argument("--kill-every", type=float, default=3, help="seconds between worker SIGKILLs")
    parser.add_argument("--workers", type=int, default=3, help="worker processes running at any time")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent submitting clients")
    parser.add_argument("--worker-concurrency", type=int, default=16, help="jobs each worker runs at once")
    parser.add_argument("--settle", type=float, default=90, help="longest wait for jobs to end after the run")
    parser.add_argument("--submit-retry-s", type=float, default=30, help="how long one submission is retried")
    parser.add_argument("--echo-delay", type=float, default=0.2, help="seconds the side-effect receiver takes")
    parser.add_argument("--database", default="wfs_chaos", help="created and dropped; must start with wfs_chaos")
    parser.add_argument("--redis-server", default="redis-server", help="the redis-server binary to start")
    parser.add_argument("--keep", action="store_true", help="keep the database and the process logs")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    if not re.fullmatch(r"wfs_chaos\w*", args.database):
        parser.error("--database must start with wfs_chaos (it is dropped)")
    if not (1 <= args.jobs <= 20000 and 1 <= args.workers <= 16 and 1 <= args.concurrency <= 256):
        parser.error("--jobs 1-20000, --workers 1-16, --concurrency 1-256")
    if not (5 <= args.duration <= 3600 and args.kill_every >= 0.5 and 0 < args.settle <= 3600):
        parser.error("--duration 5-3600 s, --kill-every >= 0.5 s, --settle up to 3600 s")
    redis_binary = shutil.which(args.redis_server)
    if redis_binary is None:
        parser.error(f"{args.redis_server} not found: the run needs its own redis-server")
    random.seed(args.seed)

    # SIGTERM ends the run like Ctrl-C does: through the finally blocks below.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)

    log = Log()
    workdir = Path(tempfile.mkdtemp(prefix="wfs-chaos-"))
    echo = EchoServer(args.echo_delay)
    cluster = Cluster(workdir, args.database, args.worker_concurrency, log)
    run_id = uuid.uuid4().hex[:8]
    subs = [Submission(key=f"chaos-{run_id}-{i}", n=i) for i in range(args.jobs)]
    code = 2
    try:
        await recreate_database(args.database)
        cluster.migrate()
        await cluster.start_redis(redis_binary)
        await echo.start()
        cluster.start_api()
        for _ in range(args.workers):
            cluster.start_worker()
        if await cluster.wait_ready(60) is None:
            raise SystemExit(f"the API did not become ready (see {workdir}/api.log)")
        headers = {"Authorization": f"Bearer {TOKEN}"}
        limits = httpx.Limits(max_connections=args.concurrency + 8)
        async with httpx.AsyncClient(base_url=cluster.base, headers=headers, limits=limits, timeout=10) as client:
            created = await client.post("/v1/workflows", json={"name": WORKFLOW, "definition": definition(echo.port)})
            created.raise_for_status()
            (await client.post(f"/v1/workflows/{WORKFLOW}/deploy")).raise_for_status()
            log(
                f"{args.jobs} jobs over {args.duration:.0f} s, {args.workers} workers, a SIGKILL every "
                f"{args.kill_every:g} s; database {args.database}, Redis port {cluster.redis_port}, logs in {workdir}"
            )
            record = ChaosRecord()
            await asyncio.gather(
                submit_all(client, subs, args.duration, args.concurrency, args.submit_retry_s),
                chaos(cluster, args, record, log),
            )
            log(f"submitted: {sum(1 for s in subs if s.job_id)} accepted of {len(subs)}; waiting for the rest")
            waited = await settle(client, args.settle, log)
            code = await report(client, subs, echo, record, waited)
    finally:
        cluster.close()
        await echo.close()
        if args.keep:
            print(f"kept: database {args.database}, logs in {workdir}")
        else:
            with contextlib.suppress(Exception):
                await recreate_database(args.database, drop_only=True)
            shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        sys.exit(130)
    except asyncio.CancelledError:  # SIGTERM
        sys.exit(143)
