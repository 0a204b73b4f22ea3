"""PostgreSQL (single statements, jobs/repository/pg.py) and the embedded SQLite (portable statements) store
the same rows: each scenario drives the same repository and lifecycle calls on both databases and compares
every job's row, events, step records (usage included) and push deliveries, ids and times normalized
(tests/jobs/parity.py). Each also pins a few of the stored values, so that the two cannot agree on a
wrong answer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.conftest import make_settings
from tests.jobs import parity
from tests.jobs.conftest import RunnerFactory
from tests.jobs.parity import COMPLETED, Run, ending, model_call, record, stored
from tests.llm.conftest import ModelServer
from workflow_service.config import Settings
from workflow_service.jobs import usage
from workflow_service.jobs.repository import moves, pg, run
from workflow_service.jobs.states import JobStatus

S = JobStatus
PRICING = {
    "openai/gpt-test": {"input_per_1k": 2.0, "output_per_1k": 8.0},
    "claude-test": {"input_per_1k": 1.0, "output_per_1k": 5.0},
}
ASK = {"id": "ask", "type": "llm", "prompt": "Tell me about {{ inputs.topic }}"}
SUM = {"id": "sum", "type": "llm", "prompt": "Summarise {{ steps.shape.output.said }}"}
LLM_PLAN: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"topic": {"type": "string"}}},
    "steps": [
        {**ASK, "model": {"provider": "openai", "name": "gpt-test", "temperature": 0}},
        {"id": "shape", "type": "transform", "output": {"said": "{{ steps.ask.output }}"}},
        {**SUM, "model": {"provider": "anthropic", "name": "claude-test", "temperature": 0}},
    ],
    "output": {"summary": "{{ steps.sum.output }}"},
}
PLAIN: dict[str, Any] = {"steps": [{"id": "shape", "type": "transform", "output": "x"}]}
PUSH = {"push": {"enabled": True, "callback_url": "http://127.0.0.1:9/hook", "access_token": "token"}}


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    return make_settings(pricing=PRICING)


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async for engine in parity.sqlite_engine(tmp_path / "embedded.db"):
        yield engine


@pytest.fixture
def runs(engine: AsyncEngine, sqlite: AsyncEngine, settings: Settings) -> tuple[Run, Run]:
    """A run on PostgreSQL (the test database, emptied) and one on a fresh embedded SQLite database."""
    return Run(engine, settings), Run(sqlite, settings)


def assert_same(on_pg: dict[str, Any], on_sqlite: dict[str, Any]) -> None:
    found = parity.differences(on_pg, on_sqlite)
    assert found == [], "PostgreSQL and SQLite stored different rows:\n" + "\n".join(found)


def job(snapshot: dict[str, Any], n: int) -> dict[str, Any]:
    found: dict[str, Any] = snapshot["jobs"][n]
    return found


def usage_of(snapshot: dict[str, Any], n: int) -> tuple[Any, ...]:
    row = job(snapshot, n)["job"]
    return row["status"], row["input_tokens"], row["output_tokens"], row["cost"]


# --- submit, claim, checkpoint, finish with usage ------------------------------------------------------


async def run_and_finish(r: Run) -> dict[str, Any]:
    """Jobs an agent claims, checkpoints and finishes: completed with usage (a copied step not counted),
    failed with an unpriced model call, a plan without model calls, and an end that interrupts a step."""
    await r.deploy("llm", LLM_PLAN)
    await r.deploy("plain", PLAIN)
    agent = uuid.uuid4()
    done, unpriced, plain, interrupted = [await r.submit(slug) for slug in ("llm", "llm", "plain", "llm")]

    claimed = await r.claim(done, agent, at=1, lease_until=30)
    first = [model_call("ask", 0, r.at(2), (7, 5), 0.054), record("shape", 1, r.at(2), status="running")]
    await r.checkpoint(done, (claimed.attempt, agent), 31, first)
    second = [record("shape", 1, r.at(3)), model_call("sum", 2, r.at(3), (0, 0), None, status="running")]
    await r.checkpoint(done, (claimed.attempt, agent), 32, second)
    copied = model_call("old", 3, r.at(0), (100, 100), 1.0, detail={"copied_from": str(uuid.uuid4())})
    last = [model_call("sum", 2, r.at(4), (9, 7), 0.044), copied]
    end = ending(1, agent, COMPLETED, [r.at(5), r.at(6), r.at(7)], output={"summary": "s"}, records=last)
    ended = await r.finish(done, "async", end)
    assert (ended.previous, ended.status, ended.mode, ended.cache_hit) == (S.RUNNING, S.COMPLETED, "async", False)

    await r.claim(unpriced, agent, at=1, lease_until=30)
    error: dict[str, Any] = {"code": "http_status", "message": "the model said no", "step": "sum"}
    last = [model_call("ask", 0, r.at(2), (3, 4), 0.1), model_call("sum", 2, r.at(3), (5, 6), None, status="failed")]
    await r.finish(unpriced, "async", ending(1, agent, (S.RUNNING, S.FAILED), [r.at(4)], error=error, records=last))

    await r.claim(plain, agent, at=1, lease_until=30)
    last = [record("shape", 0, r.at(2))]
    end = ending(1, agent, COMPLETED, [r.at(2)] * 3, output="x", records=last, with_usage=False)
    await r.finish(plain, "async", end)

    await r.claim(interrupted, agent, at=1, lease_until=30)
    await r.checkpoint(interrupted, (1, agent), 31, [model_call("ask", 0, r.at(2), (1, 1), 0.01, status="running")])
    error = {"code": "internal_error", "message": "unexpected error: RuntimeError", "step": None}
    end = ending(1, agent, (S.RUNNING, S.FAILED), [r.at(3)], error=error)
    await r.finish(interrupted, "async", end, interrupt=True)
    return await stored(r)


async def test_submit_claim_checkpoint_and_finish_store_the_same_rows(runs: tuple[Run, Run]) -> None:
    on_pg, on_sqlite = [await run_and_finish(r) for r in runs]

    assert_same(on_pg, on_sqlite)
    assert usage_of(on_pg, 0) == ("completed", 16, 12, 0.098)
    assert usage_of(on_pg, 1) == ("failed", 8, 10, None)  # one model call has no price: the cost is unknown
    assert usage_of(on_pg, 2) == ("completed", None, None, None)
    assert usage_of(on_pg, 3) == ("failed", 1, 1, 0.01)
    done = job(on_pg, 0)
    assert [(e["from_status"], e["to_status"], e["at"]) for e in done["events"]] == [
        (None, "pending", "+0m"),
        ("pending", "claimed", "+1m"),
        ("claimed", "running", "+1m"),
        ("running", "validating", "+5m"),
        ("validating", "uploading", "+6m"),
        ("uploading", "completed", "+7m"),
    ]
    assert (done["job"]["started_at"], done["job"]["finished_at"], done["job"]["run_deadline_at"]) == (
        "+1m",
        "+7m",
        "+4m",
    )
    assert done["job"]["updated_at"] == "+7m"  # its last event's time (the single statement sets it too)
    assert [(s["step_id"], s["status"], s["finished_at"]) for s in done["steps"]] == [
        ("ask", "completed", "+2m"),
        ("shape", "completed", "+3m"),
        ("sum", "completed", "+4m"),
        ("old", "completed", "+0m"),
    ]
    assert [(s["status"], s["error"]["code"]) for s in job(on_pg, 3)["steps"]] == [("failed", "internal_error")]


# --- a retried step: usage summed over the records of two attempts -------------------------------------


async def retry_and_finish(r: Run) -> dict[str, Any]:
    """Attempt 1 completes `ask` and starts `sum`, then its agent stops: the reconciler hands the job back,
    attempt 2 runs `sum` again and finishes with the records it made (the finish sums all the job's)."""
    await r.deploy("llm", LLM_PLAN)
    first, second = uuid.uuid4(), uuid.uuid4()
    job_id = await r.submit("llm")
    await r.claim(job_id, first, at=-3, lease_until=-2)
    records = [
        model_call("ask", 0, r.at(-3), (7, 5), 0.054),
        model_call("sum", 2, r.at(-3), (0, 0), None, status="running"),
    ]
    await r.checkpoint(job_id, (1, first), -2, records)
    report = await r.reconcile()
    assert (report.retried, report.failed) == (1, 0)
    claimed = await r.claim(job_id, second, at=1, lease_until=30)
    assert claimed.attempt == 2
    await r.checkpoint(job_id, (2, second), 31, [record("shape", 1, r.at(2), attempt=2)])
    last = [model_call("sum", 2, r.at(3), (9, 7), 0.044, attempt=2)]
    end = ending(2, second, COMPLETED, [r.at(4)] * 3, output={"summary": "s"}, records=last)
    await r.finish(job_id, "async", end)
    return await stored(r)


async def test_a_retried_step_counts_once_and_both_sums_agree(runs: tuple[Run, Run]) -> None:
    on_pg, on_sqlite = [await retry_and_finish(r) for r in runs]

    assert_same(on_pg, on_sqlite)
    assert usage_of(on_pg, 0) == ("completed", 16, 12, 0.098)
    assert job(on_pg, 0)["job"]["attempt"] == 2
    assert [(s["step_id"], s["attempt"]) for s in job(on_pg, 0)["steps"]] == [("ask", 1), ("shape", 2), ("sum", 2)]
    hops = [(e["from_status"], e["to_status"], e["actor"]) for e in job(on_pg, 0)["events"]]
    assert ("running", "pending", "reconciler") in hops


# --- cancel, and the reconciler's ends -----------------------------------------------------------------


async def cancel_and_reconcile(r: Run) -> dict[str, Any]:
    """Canceled pending and running; then one reconciler pass: a lease expired (retried, and past its max
    attempts), a run deadline passed, a queue deadline passed."""
    await r.deploy("llm", LLM_PLAN)
    await r.deploy("queued", LLM_PLAN, {"queue_timeout_s": 0.001})
    agent = uuid.uuid4()
    pending, running, retried, overdue = [await r.submit("llm") for _ in range(4)]
    exhausted = await r.submit("llm", max_attempts=1)
    await r.submit("queued", pool="nobody")

    await r.claim(running, agent, at=1, lease_until=30)
    await r.checkpoint(running, (1, agent), 31, [model_call("ask", 0, r.at(2), (1, 1), 0.01, status="running")])
    await r.cancel(pending)
    await r.cancel(running)
    await r.claim(retried, agent, at=-2, lease_until=-1)
    await r.claim(exhausted, agent, at=-2, lease_until=-1)
    await r.claim(overdue, agent, at=-10, lease_until=30)  # its lease is alive, its run deadline (-7 min) is not
    report = await r.reconcile()
    assert (report.retried, report.failed) == (1, 3)
    return await stored(r)


async def test_cancel_and_the_reconciler_store_the_same_rows(runs: tuple[Run, Run]) -> None:
    on_pg, on_sqlite = [await cancel_and_reconcile(r) for r in runs]

    assert_same(on_pg, on_sqlite)
    ends = [(j["job"]["status"], (j["job"]["error"] or {}).get("code")) for j in on_pg["jobs"]]
    assert ends == [
        ("canceled", "canceled"),
        ("canceled", "canceled"),
        ("pending", None),
        ("failed", "job_timeout"),
        ("failed", "lease_expired"),
        ("failed", "queue_timeout"),
    ]
    assert [(s["status"], s["error"]["code"]) for s in job(on_pg, 1)["steps"]] == [("failed", "canceled")]


# --- push jobs -----------------------------------------------------------------------------------------


async def push_and_finish(r: Run) -> dict[str, Any]:
    """A push job finished by its agent (its delivery written with the end), and one canceled."""
    await r.deploy("pushy", LLM_PLAN, PUSH)
    agent = uuid.uuid4()
    done, canceled = await r.submit("pushy", mode="push"), await r.submit("pushy", mode="push")
    await r.claim(done, agent, at=1, lease_until=30)
    last = [
        model_call("ask", 0, r.at(2), (7, 5), 0.054),
        record("shape", 1, r.at(2)),
        model_call("sum", 2, r.at(2), (9, 7), 0.044),
    ]
    ended = await r.finish(done, "push", ending(1, agent, COMPLETED, [r.at(3)] * 3, output={"s": 1}, records=last))
    assert ended.mode == "push"
    await r.cancel(canceled)
    return await stored(r)


async def test_a_push_job_ends_in_the_single_statement_on_postgresql_and_both_store_the_same_rows(
    runs: tuple[Run, Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    single: list[uuid.UUID] = []
    portable: list[uuid.UUID] = []
    real_single, real_portable = pg.finish, moves.transition

    async def counted_single(conn: AsyncConnection, job_id: uuid.UUID, end: Any) -> Any:
        single.append(job_id)
        return await real_single(conn, job_id, end)

    async def counted_portable(conn: AsyncConnection, job_id: uuid.UUID, *args: Any, **kwargs: Any) -> Any:
        portable.append(job_id)
        return await real_portable(conn, job_id, *args, **kwargs)

    monkeypatch.setattr(pg, "finish", counted_single)
    monkeypatch.setattr(run, "transition", counted_portable)  # what claim and finish do on SQLite
    on_pg = await push_and_finish(runs[0])
    assert (len(single), portable) == (1, [])
    on_sqlite = await push_and_finish(runs[1])
    assert (len(single), len(portable)) == (1, 2)  # SQLite: the claim and the finish

    assert_same(on_pg, on_sqlite)
    done, canceled = job(on_pg, 0), job(on_pg, 1)
    assert usage_of(on_pg, 0) == ("completed", 16, 12, 0.098)
    (delivery,) = done["deliveries"]
    assert (delivery["event_type"], delivery["status"]) == ("job.completed", "pending")
    assert delivery["payload"]["data"]["usage"] == {"input_tokens": 16, "output_tokens": 12, "cost": 0.098}
    assert [d["event_type"] for d in canceled["deliveries"]] == ["job.canceled"]


# --- a job run by a worker's runner, its model calls answered by the model server ---------------------


async def run_by_a_runner(r: Run, make_runner: RunnerFactory, server: ModelServer) -> dict[str, Any]:
    await r.deploy("llm", LLM_PLAN)
    job_id = await r.submit("llm")
    runner = await make_runner(
        runner_engine=r.engine,
        openai_base_url=f"{server.url}/v1",
        openai_api_key=SecretStr("sk-test"),
        anthropic_base_url=server.url,
        anthropic_api_key=SecretStr("ant-test"),
    )
    assert await runner.run(job_id) == S.COMPLETED.value
    snapshot = await stored(r)
    for step in snapshot["jobs"][0]["steps"]:  # measured, so never the same twice
        step["latency_ms"] = step["latency_ms"] is not None
    return snapshot


async def test_a_job_with_model_calls_run_by_a_runner_stores_the_same_rows(
    runs: tuple[Run, Run], make_runner: RunnerFactory, model_server: ModelServer
) -> None:
    on_pg, on_sqlite = [await run_by_a_runner(r, make_runner, model_server) for r in runs]

    assert_same(on_pg, on_sqlite)
    steps = job(on_pg, 0)["steps"]
    # The model server reports prompt words + 3 input tokens, answer words output tokens.
    assert [(s["model"], s["input_tokens"], s["output_tokens"], s["cost"]) for s in steps] == [
        ("openai/gpt-test-0613", 8, 6, pytest.approx(8 / 1000 * 2.0 + 6 / 1000 * 8.0)),
        (None, None, None, None),
        ("anthropic/claude-test", 10, 8, pytest.approx(10 / 1000 * 1.0 + 8 / 1000 * 5.0)),
    ]
    assert usage_of(on_pg, 0) == ("completed", 18, 14, pytest.approx(0.114))


# --- the comparison is not blind -----------------------------------------------------------------------


async def test_the_comparison_sees_a_different_usage_sum(
    runs: tuple[Run, Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    on_pg = await run_and_finish(runs[0])
    real_totals = usage.totals
    monkeypatch.setattr(usage, "totals", lambda steps: real_totals([*steps][1:]))  # SQLite misses a step
    on_sqlite = await run_and_finish(runs[1])

    found = parity.differences(on_pg, on_sqlite)
    assert any(".job.cost" in f for f in found), found
    assert any(".job.input_tokens" in f for f in found), found
