"""The workflow monitor on a large history: 1,000,000 jobs in PostgreSQL, and how long its requests take.

Builds the history fast, straight in a dedicated database (`INSERT … SELECT generate_series`, not through the
API): five deployed workflows (three versions each, a `transform`, an `llm` and a `transform` step) sharing
N jobs in the proportions 40/25/15/12/8 %, submitted over the last 30 days in one time-ordered stream (so that
the workflows' jobs are interleaved in the table as they would be), each with a UUIDv7 id made from its
submission time as the service makes them, inputs and an output of a few hundred bytes, and:
- status: 93 % completed, 5 % failed, 2 % canceled (half of those before they started); the last five
  minutes' jobs are still pending or running;
- origin: 80 % api (from an API key or the operator), 10 % schedule, 7 % trigger, 3 % rerun;
- queue wait 0.05 s + 5 s * u^4, run time 0.3 s + an exponential of mean 2 s (u uniform);
- the version by age: 1 for the oldest third, 2, then 3 for the newest;
- one job_step row per step of a job that started (completed: 3; failed or canceled: the `llm` step failed, the
  last skipped; running: the `llm` step running, the last not yet), the `llm` ones that answered with their
  model, tokens, latency, cost and the provider's id.
Then VACUUM ANALYZE, as autovacuum would have done.

Then starts `workflow-service serve` on it and measures, through HTTP, the requests of the busiest workflow
(40 % of the jobs): `GET …/monitor` for 24 hours, 7 days and 30 days, the first page of `…/runs` and of
`…/model-runs` (whose summary has the model calls' percentiles) for 24 hours and 7 days. Each is asked
`--requests` times one after the other after two warm-up requests; it prints p50, p95 and max in ms.

    python bench/monitor.py                       # build (about 3 minutes), then measure
    python bench/monitor.py --reuse               # measure again on the database built before
    python bench/monitor.py --explain             # and print the plan of the 24-hour figures query
    python bench/monitor.py --reuse --covering-index   # the alternative weighed in docs/benchmarks.md
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
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from service_process import free_port, wait_ready

CLI = str(Path(sys.executable).with_name("workflow-service"))
PG = "postgresql://postgres@127.0.0.1:5432"
TOKEN = "bench-token"
SPAN = timedelta(days=30)
SHARES = (0.40, 0.25, 0.15, 0.12, 0.08)
"""Each workflow's share of the jobs; the first is measured."""
DEFINITION: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"topic": {"type": "string"}}},
    "model": {"provider": "openai", "name": "gpt-bench"},
    "steps": [
        {"id": "prepare", "type": "transform", "output": "{{ inputs.topic }}"},
        {"id": "ask", "type": "llm", "prompt": "Tell me about {{ steps.prepare.output }}"},
        {"id": "format", "type": "transform", "output": {"answer": "{{ steps.ask.output }}"}},
    ],
}

COVERING = (
    "CREATE INDEX bench_covering ON job (workflow_id, created_at) "
    "INCLUDE (id, status, version_number, origin, started_at, finished_at)"
)
"""An index-only alternative to reading the window through the (workflow_id, id) index and the table."""

UUID7 = """
CREATE FUNCTION pg_temp.uuid7(ts timestamptz) RETURNS uuid LANGUAGE sql AS $$
  -- a UUIDv7: the millisecond of `ts`, version 7 (the random UUID's version 4 with two bits more), its random rest
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
           PLACING substring(int8send(floor(extract(epoch FROM ts) * 1000)::bigint) FROM 3) FROM 1 FOR 6),
         52, 1), 53, 1), 'hex')::uuid
$$
"""

JOBS = """
INSERT INTO job (id, workspace_id, workflow_id, version_id, version_number, name, status, pool, inputs, variables,
                 metadata, output, error, mode, origin, caller, attempt, max_attempts, cache_hit, created_at,
                 enqueued_at, started_at, finished_at, lease_expires_at, updated_at)
SELECT pg_temp.uuid7(s.ts), $1, w.id, v.id, v.number, NULL, s.status, 'default',
       jsonb_build_object('topic', md5(s.g::text), 'n', s.g, 'notes', repeat('x', 150)), '{}', '{}',
       CASE WHEN s.status = 'completed' THEN jsonb_build_object('answer', repeat('y', 200)) END,
       CASE WHEN s.status = 'failed' THEN '{"code": "llm_server_error", "message": "the provider answered 503",
                                            "step": "ask"}'::jsonb
            WHEN s.status = 'canceled' THEN '{"code": "canceled", "message": "canceled by admin"}'::jsonb END,
       'async', s.origin,
       CASE s.origin WHEN 'schedule' THEN 'schedule:' || $5 WHEN 'trigger' THEN 'trigger:' || $6
                     WHEN 'api' THEN CASE WHEN s.r6 < 0.7 THEN 'key:' || $7 ELSE 'admin' END ELSE 'admin' END,
       CASE WHEN s.started THEN 1 ELSE 0 END, 3, false, s.ts, s.ts,
       CASE WHEN s.started THEN s.ts + s.wait END,
       CASE WHEN s.status IN ('completed', 'failed', 'canceled') THEN s.ts + s.wait + s.run END,
       CASE WHEN s.status = 'running' THEN now() + interval '15 seconds' END,
       s.ts + CASE WHEN s.status IN ('completed', 'failed', 'canceled') THEN s.wait + s.run
                   WHEN s.started THEN s.wait ELSE interval '0' END
FROM (
  SELECT g, ts, r1, r6,
         make_interval(secs => 0.05 + 5 * power(r3, 4)) AS wait,
         make_interval(secs => 0.3 - 2 * ln(1 - r4)) AS run,
         CASE WHEN ts > now() - interval '5 minutes' THEN CASE WHEN r2 < 0.5 THEN 'pending' ELSE 'running' END
              WHEN r2 < 0.93 THEN 'completed' WHEN r2 < 0.98 THEN 'failed' ELSE 'canceled' END AS status,
         NOT (ts > now() - interval '5 minutes' AND r2 < 0.5)
           AND NOT (r2 >= 0.99 AND ts <= now() - interval '5 minutes') AS started,
         CASE WHEN r5 < 0.80 THEN 'api' WHEN r5 < 0.90 THEN 'schedule' WHEN r5 < 0.97 THEN 'trigger' ELSE 'rerun' END
           AS origin
  FROM (
    SELECT g, $2::timestamptz + $3::interval * ((g + random()) / $4) AS ts,
           random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5, random() AS r6
    FROM generate_series(0, $4 - 1) AS g
  ) AS u
) AS s
JOIN bench_workflow w ON s.r1 >= w.low AND s.r1 < w.high
JOIN bench_version v ON v.workflow_id = w.id
 AND v.number = LEAST(3, 1 + floor(3 * extract(epoch FROM s.ts - $2::timestamptz) / extract(epoch FROM $3::interval)))
ORDER BY s.g
"""

STEPS = """
INSERT INTO job_step (job_id, step_id, position, type, status, input, output, error, attempt, started_at,
                      finished_at, model, input_tokens, output_tokens, latency_ms, cost, detail)
SELECT j.id, s.step_id, s.position, s.type, s.status, '{}', NULL, NULL, 1,
       j.started_at + (s.position * 0.2) * (coalesce(j.finished_at, now()) - j.started_at),
       CASE WHEN s.status <> 'running' THEN j.started_at + (s.position * 0.2 + 0.2 + 0.4 * (s.position = 1)::int)
                                                          * (j.finished_at - j.started_at) END,
       CASE WHEN s.type = 'llm' AND s.status = 'completed' THEN 'openai/gpt-bench-0613' END,
       CASE WHEN s.type = 'llm' AND s.status = 'completed' THEN 100 + (hashtext(j.id::text) & 511) END,
       CASE WHEN s.type = 'llm' AND s.status = 'completed' THEN 20 + (hashtext(j.id::text) & 255) END,
       CASE WHEN s.type = 'llm' AND s.status = 'completed'
            THEN 1000 * 0.6 * extract(epoch FROM j.finished_at - j.started_at) END,
       CASE WHEN s.type = 'llm' AND s.status = 'completed' THEN 0.002 END,
       CASE WHEN s.type = 'llm' AND s.status = 'completed'
            THEN jsonb_build_object('request', jsonb_build_object('body', jsonb_build_object('model', 'gpt-bench')),
                                    'response', jsonb_build_object('id', 'chatcmpl-' || left(j.id::text, 8))) END
FROM job j
CROSS JOIN LATERAL (VALUES
  (0, 'prepare', 'transform', 'completed'),
  (1, 'ask', 'llm', CASE j.status WHEN 'completed' THEN 'completed' WHEN 'running' THEN 'running' ELSE 'failed' END),
  (2, 'format', 'transform', CASE j.status WHEN 'completed' THEN 'completed' ELSE 'skipped' END)
) AS s(position, step_id, type, status)
WHERE j.started_at IS NOT NULL AND (j.status <> 'running' OR s.position < 2)
  AND (j.finished_at IS NOT NULL OR j.status = 'running')
ORDER BY j.id, s.position
"""


async def build(db: asyncpg.Connection, client: httpx.AsyncClient, jobs: int) -> None:
    """Five workflows of three versions each, made through the API; then the jobs and their steps, in SQL."""
    for n in range(len(SHARES)):
        slug = f"flow-{n}"
        created = await client.post("/v1/workflows", json={"name": slug, "slug": slug, "definition": DEFINITION})
        created.raise_for_status()
        for _ in range(3):
            (await client.post(f"/v1/workflows/{slug}/deploy")).raise_for_status()
    await db.execute(
        "CREATE TABLE bench_workflow AS SELECT id, workspace_id, 0.0::float8 AS low, 0.0::float8 AS high, slug "
        "FROM workflow ORDER BY slug"
    )
    low = 0.0
    for n, share in enumerate(SHARES):
        high = 1.0 if n == len(SHARES) - 1 else low + share
        await db.execute("UPDATE bench_workflow SET low = $1, high = $2 WHERE slug = $3", low, high, f"flow-{n}")
        low = high
    await db.execute("CREATE TABLE bench_version AS SELECT id, workflow_id, number FROM workflow_version")
    workspace = await db.fetchval("SELECT workspace_id FROM bench_workflow LIMIT 1")
    now = datetime.now(UTC)
    await db.execute(UUID7)
    started = time.perf_counter()
    ids = [str(uuid.uuid4()) for _ in range(3)]
    await db.execute(JOBS, workspace, now - SPAN, SPAN, jobs, *ids)
    print(f"{jobs} jobs inserted in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    await db.execute(STEPS)
    steps = await db.fetchval("SELECT count(*) FROM job_step")
    print(f"{steps} step records inserted in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    await db.execute("DROP TABLE bench_workflow, bench_version")
    await db.execute("VACUUM ANALYZE job")
    await db.execute("VACUUM ANALYZE job_step")
    print(f"VACUUM ANALYZE in {time.perf_counter() - started:.0f} s", flush=True)


def ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)


async def measure(client: httpx.AsyncClient, path: str, params: dict[str, str], requests: int) -> dict[str, Any]:
    times: list[float] = []
    body: dict[str, Any] = {}
    for n in range(requests + 2):
        started = time.perf_counter()
        response = await client.get(path, params=params)
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        body = response.json()
        if n >= 2:  # two warm-up requests
            times.append(elapsed)
    return {
        "p50": round(statistics.median(times), 1),
        "p95": ms(times, 0.95),
        "max": round(max(times), 1),
        "body": body,
    }


async def explain(db: asyncpg.Connection, workflow_id: uuid.UUID) -> None:
    """The plan of the 24-hour figures query, as the service builds it."""
    from sqlalchemy.dialects.postgresql.base import PGDialect

    from workflow_service.monitor import repository

    now = datetime.now(UTC)
    scope = repository.RunScope(workflow_id=workflow_id, start=now - timedelta(hours=24), end=now)
    stmt = repository.run_figures_statement(scope, 900)
    dialect = PGDialect()  # type: ignore[no-untyped-call]
    sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    for row in await db.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"):
        print("   ", row[0])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30, help="measured requests per figure")
    parser.add_argument("--database", default="wfs_bench_monitor")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--reuse", action="store_true", help="measure the database built by an earlier run")
    parser.add_argument("--explain", action="store_true", help="print the plan of the 24-hour figures query")
    parser.add_argument(
        "--covering-index",
        action="store_true",
        help=f"measure with the index the service does not have, for comparison (dropped after): {COVERING}",
    )
    args = parser.parse_args()

    if not args.reuse:
        admin = await asyncpg.connect(f"{PG}/postgres")
        await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{args.database}"')
        await admin.close()
    env = {
        **os.environ,
        "WFS_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{args.database}",
        "WFS_REDIS_URL": args.redis_url,
        "WFS_ADMIN_TOKEN": TOKEN,
        "WFS_LOG_LEVEL": "WARNING",
    }
    subprocess.run([CLI, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = subprocess.Popen([CLI, "serve", "--port", str(port)], env=env)
    db = await asyncpg.connect(f"{PG}/{args.database}")
    try:
        await wait_ready(base)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
            if not args.reuse:
                await build(db, client, args.jobs)
            total = await db.fetchval("SELECT count(*) FROM job")
            workflow_id = await db.fetchval("SELECT id FROM workflow WHERE slug = 'flow-0'")
            measured = await db.fetchval("SELECT count(*) FROM job WHERE workflow_id = $1", workflow_id)
            print(f"{total} jobs; measuring flow-0, {measured} of them", flush=True)
            if args.covering_index:
                await db.execute(COVERING)
                await db.execute("VACUUM ANALYZE job")
            if args.explain:
                await explain(db, workflow_id)
            now = datetime.now(UTC)
            rows: list[tuple[str, str, dict[str, Any]]] = []
            for label, span in (("24 h", timedelta(hours=24)), ("7 d", timedelta(days=7)), ("30 d", SPAN)):
                window = {"from": (now - span).isoformat(), "to": now.isoformat()}
                done = await measure(client, "/v1/workflows/flow-0/monitor", window, args.requests)
                rows.append((f"monitor {label}", f"{done['body']['summary']['total']} runs", done))
            for label, span in (("24 h", timedelta(hours=24)), ("7 d", timedelta(days=7))):
                window = {"from": (now - span).isoformat(), "to": now.isoformat()}
                done = await measure(client, "/v1/workflows/flow-0/runs", window, args.requests)
                rows.append((f"runs {label}, first page", f"{len(done['body']['items'])} runs", done))
                done = await measure(client, "/v1/workflows/flow-0/model-runs", window, args.requests)
                rows.append((f"model-runs {label}", f"{done['body']['summary']['total']} calls", done))
    finally:
        if args.covering_index:
            await db.execute("DROP INDEX IF EXISTS bench_covering")
        await db.close()
        api.send_signal(signal.SIGTERM)
        api.wait(timeout=30)
    print("the 24-hour summary:", rows[0][2]["body"]["summary"])
    print(f"{'request':<28} {'selects':>16} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for label, what, done in rows:
        print(f"{label:<28} {what:>16} {done['p50']:>8} {done['p95']:>8} {done['max']:>8}")


if __name__ == "__main__":
    asyncio.run(main())
