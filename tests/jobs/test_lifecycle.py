"""Every way a job ends (and returns to pending) goes through jobs/lifecycle.py, and each follow-up
registered there runs exactly once per end: driven through the API, a real worker and its reconciler,
on PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.conftest import WorkerFactory, eventually, wait_for_job
from tests.deliveries.conftest import enable_push
from tests.invocation.conftest import GREETER, http_step, http_workflow, patch_settings
from tests.jobs.conftest import deploy_workflow
from tests.servers import EchoServer
from tests.workflows.conftest import set_push_timeout
from workflow_service.agents import service as agents
from workflow_service.core.clock import utcnow
from workflow_service.core.db import UnitOfWork, unit_of_work
from workflow_service.jobs import lifecycle
from workflow_service.jobs import repository as repo
from workflow_service.jobs.ends import EndContext, Ended, FollowUp
from workflow_service.jobs.follow_ups import FOLLOW_UPS
from workflow_service.jobs.repository import job_t
from workflow_service.jobs.repository import pg as jobs_pg
from workflow_service.jobs.run import claim as claiming
from workflow_service.jobs.states import TERMINAL, JobStatus

Runs = Counter[tuple[str, str, str, str]]
"""(follow-up, phase, job id, status reached) -> how many times it ran."""


def _counted(follow_up: FollowUp, runs: Runs) -> FollowUp:
    """`follow_up`, counting its runs."""
    in_tx, after = follow_up.in_transaction, follow_up.after_commit

    async def in_transaction(conn: AsyncConnection, ended: Ended) -> None:
        runs[(follow_up.name, "transaction", str(ended.job_id), ended.status.value)] += 1
        assert in_tx is not None
        await in_tx(conn, ended)

    async def after_commit(ended: Ended, ends: EndContext) -> None:
        runs[(follow_up.name, "after_commit", str(ended.job_id), ended.status.value)] += 1
        assert after is not None
        await after(ended, ends)

    return replace(
        follow_up,
        in_transaction=in_transaction if in_tx is not None else None,
        after_commit=after_commit if after is not None else None,
    )


@pytest.fixture
def runs() -> Iterator[Runs]:
    """Counts the runs of the built-in follow-ups and of one more registered here for every end and retry."""
    counted: Runs = Counter()
    registry = FOLLOW_UPS
    replacements = [_counted(f, counted) for f in registry.items]
    originals = dict(zip(map(id, replacements), registry.items, strict=True))
    registry.items[:] = replacements

    async def nothing(*_: Any) -> None:
        return None

    remove = registry.register(
        "test_counter", in_transaction=nothing, after_commit=nothing, statuses=TERMINAL | {JobStatus.PENDING}
    )
    registry.items[-1] = _counted(registry.items[-1], counted)
    try:
        yield counted
    finally:
        remove()
        # Put the built-ins back; what registered meanwhile (a worker's own follow-up) unregisters itself.
        registry.items[:] = [originals.get(id(f), f) for f in registry.items if f.name != "test_counter"]


@pytest.fixture
def seen(runs: Runs) -> Iterator[dict[str, Ended]]:
    """The last `Ended` each job's moves handed their follow-ups, by job id."""
    ended_by_job: dict[str, Ended] = {}

    async def record(ended: Ended, ends: EndContext) -> None:
        ended_by_job[str(ended.job_id)] = ended

    remove = FOLLOW_UPS.register("test_seen", after_commit=record, statuses=TERMINAL)
    try:
        yield ended_by_job
    finally:
        remove()


def _expected_follow_ups(status: str) -> list[tuple[str, str]]:
    """The (follow-up, phase) pairs registered for a move into `status`."""
    pairs = [("test_counter", "transaction"), ("test_counter", "after_commit")]
    if status in {s.value for s in TERMINAL}:
        pairs += [
            ("push_delivery", "transaction"),
            ("notify_delivery", "transaction"),
            ("ended_notice", "after_commit"),
            ("metrics", "after_commit"),
        ]
    if status == JobStatus.COMPLETED.value:
        pairs.append(("cache_followers", "after_commit"))
    if status == JobStatus.PENDING.value:
        pairs.append(("changed_notice", "after_commit"))
    if status == JobStatus.FAILED.value:
        pairs.append(("schedule_pause", "after_commit"))
    return pairs


async def _submit(client: httpx.AsyncClient, slug: str, body: dict[str, Any], mode: str = "async") -> str:
    response = await client.post(f"/v1/workflows/{slug}/versions/current/{mode}", json=body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


async def _claim_elsewhere(engine: AsyncEngine, agent_id: uuid.UUID, job_id: str, **then: Any) -> None:
    """Claim the job for an agent that will never run it, then set `then` on its row."""
    now = utcnow()
    async with engine.begin() as conn:
        request = repo.ClaimRequest(
            agent_id=agent_id,
            actor=f"agent:{agent_id}",
            pools=("elsewhere",),
            now=now,
            lease_until=now + timedelta(seconds=60),
        )
        claimed = await repo.claim(conn, uuid.UUID(job_id), request)
        assert claimed is not None
        if then:
            await conn.execute(job_t.update().where(job_t.c.id == uuid.UUID(job_id)).values(**then))


async def _delivery_count(engine: AsyncEngine, job_id: str) -> int:
    async with engine.connect() as conn:
        return int(
            (
                await conn.execute(sa.text("SELECT count(*) FROM delivery WHERE job_id = :j"), {"j": uuid.UUID(job_id)})
            ).scalar_one()
        )


async def test_every_end_runs_each_follow_up_exactly_once(
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    start_worker: WorkerFactory,
    echo_server: EchoServer,
    runs: Runs,
    seen: dict[str, Ended],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow = http_step("slow", f"{echo_server.url}/slow/2")
    await deploy_workflow(client, "greeter", GREETER)
    await deploy_workflow(client, "stepfail", http_workflow(http_step("boom", f"{echo_server.url}/status/500")))
    await deploy_workflow(client, "invalid", {**GREETER, "output_schema": {"type": "object", "required": ["nope"]}})
    await deploy_workflow(client, "slow", http_workflow(slow))
    await deploy_workflow(client, "short", http_workflow(http_step("slow", f"{echo_server.url}/slow/4"), timeout_s=1))
    await deploy_workflow(client, "queued", GREETER)
    assert (await patch_settings(client, "queued", {"queue_timeout_s": 0.5}))["queue_timeout_s"] == 0.5
    await deploy_workflow(client, "pushy", GREETER)
    await enable_push(client, "pushy", f"{echo_server.url}/hook")
    await deploy_workflow(client, "late", GREETER)
    await enable_push(client, "late", f"{echo_server.url}/hook")
    await set_push_timeout(engine, "late", 1)
    await deploy_workflow(client, "cached", http_workflow(http_step("slow", f"{echo_server.url}/slow/2")))
    await deploy_workflow(client, "child", GREETER)
    await deploy_workflow(
        client,
        "parent",
        {"steps": [{"id": "call", "type": "workflow", "workflow": "child", "inputs": {"name": "Bo"}}]},
    )
    await start_worker()
    stuck = await agents.register(engine, ("elsewhere",), "stuck")

    ends: dict[str, tuple[str, str | None]] = {}
    """job id -> (the status it must reach, its error code)"""
    ends[await _submit(client, "greeter", {"inputs": {"name": "Ada"}})] = ("completed", None)
    push_done = await _submit(client, "pushy", {"inputs": {"name": "Ada"}}, mode="push")
    ends[push_done] = ("completed", None)
    ends[await _submit(client, "stepfail", {"inputs": {}})] = ("failed", "http_status")
    ends[await _submit(client, "invalid", {"inputs": {"name": "Ada"}})] = ("failed", "output_invalid")
    ends[await _submit(client, "short", {"inputs": {}})] = ("failed", "job_timeout")
    ends[await _submit(client, "queued", {"inputs": {"name": "Ada"}, "pool": "nobody"})] = ("failed", "queue_timeout")
    push_late = await _submit(client, "late", {"inputs": {"name": "Ada"}, "pool": "nobody"}, mode="push")
    ends[push_late] = ("failed", "push_timeout")
    parent = await _submit(client, "parent", {})
    ends[parent] = ("completed", None)

    # Canceled while pending, and while its step runs.
    pending = await _submit(client, "greeter", {"inputs": {"name": "Ada"}, "pool": "nobody"})
    running = await _submit(client, "slow", {"inputs": {}})
    await wait_for_job(client, running, ("running",), wait_s=15)
    for job_id in (pending, running):
        assert (await client.post(f"/v1/jobs/{job_id}/cancel")).status_code == 200
        ends[job_id] = ("canceled", "canceled")

    # A cache source, a follower waiting for it, and (once it completed) a hit at submission.
    source = await _submit(client, "cached", {"inputs": {}, "cache": "always"})
    follower = await _submit(client, "cached", {"inputs": {}, "cache": "always"})
    ends[source] = ends[follower] = ("completed", None)

    # Held by an agent that stopped: retried, failed past max attempts, failed past its run deadline.
    retried = await _submit(client, "greeter", {"inputs": {"name": "Ada"}, "pool": "elsewhere"})
    exhausted = await _submit(client, "greeter", {"inputs": {"name": "Ada"}, "pool": "elsewhere"})
    overdue = await _submit(client, "greeter", {"inputs": {"name": "Ada"}, "pool": "elsewhere"})
    past = utcnow() - timedelta(seconds=1)
    await _claim_elsewhere(engine, stuck, retried, lease_expires_at=past)
    await _claim_elsewhere(engine, stuck, exhausted, lease_expires_at=past, max_attempts=1)
    await _claim_elsewhere(engine, stuck, overdue, run_deadline_at=past - timedelta(seconds=60))
    ends[exhausted] = ("failed", "lease_expired")
    ends[overdue] = ("failed", "job_timeout")

    for job_id, (status, code) in ends.items():
        job = await wait_for_job(client, job_id, ("completed", "failed", "canceled"), wait_s=30)
        assert (job["status"], (job["error"] or {}).get("code")) == (status, code), job
    hit = await _submit(client, "cached", {"inputs": {}, "cache": "always"})
    ends[hit] = ("completed", None)
    assert (await wait_for_job(client, hit))["cache_hit"] is True
    assert (await wait_for_job(client, follower))["source"]["job_id"] == source
    await eventually(lambda: _status_is(client, retried, "pending"), "the retry", wait_s=20.0)

    # An unexpected error while preparing a claimed job ends it with internal_error.
    async def plan_for(*args: Any) -> Any:
        raise RuntimeError("the definition cannot be compiled")

    monkeypatch.setattr(claiming, "plan_for", plan_for)
    broken = await _submit(client, "greeter", {"inputs": {"name": "Ada"}})
    ends[broken] = ("failed", "internal_error")
    assert (await wait_for_job(client, broken))["error"]["code"] == "internal_error"
    monkeypatch.undo()

    child = (await client.get(f"/v1/jobs/{parent}")).json()["steps"][0]["detail"]["child_job_id"]
    ends[child] = ("completed", None)
    moves = {job_id: status for job_id, (status, _) in ends.items()} | {retried: "pending"}

    def expected() -> Runs:
        want: Runs = Counter()
        for job_id, status in moves.items():
            for name, phase in _expected_follow_ups(status):
                want[(name, phase, job_id, status)] = 1
        return want

    async def all_ran() -> bool:
        return all(runs[key] >= 1 for key in expected())

    await eventually(all_ran, "every follow-up of every end", wait_s=20.0)
    # A duplicate would come from a later reconciler pass or a second writer: give them a few passes.
    await asyncio.sleep(3 * 0.5)
    ours = Counter({key: n for key, n in runs.items() if key[2] in moves})
    assert ours == expected()
    # Each end tells its follow-ups where the job came from and when it was made, started and ended.
    for job_id, status in moves.items():
        if status == "pending":
            continue
        job = (await client.get(f"/v1/jobs/{job_id}")).json()
        ended = seen[job_id]
        assert ended.origin == job["origin"] == ("child" if job_id == child else "api"), job_id
        assert str(ended.workflow_id) == job["workflow"]["id"]
        times = (ended.created_at, ended.started_at, ended.finished_at)
        assert [t.isoformat() if t else None for t in times] == [
            _iso(job[name]) if job[name] else None for name in ("created_at", "started_at", "finished_at")
        ], job_id
        assert ended.finished_at is not None
    # The real effects, once each: one callback per ended push job, none for the others.
    assert await _delivery_count(engine, push_done) == 1
    assert await _delivery_count(engine, push_late) == 1
    assert await _delivery_count(engine, pending) == 0


def _iso(text: str) -> str:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()


async def _status_is(client: httpx.AsyncClient, job_id: str, status: str) -> bool:
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    return bool(job["status"] == status)


async def test_a_push_job_ends_in_one_statement_that_commits_with_its_delivery_or_not_at_all(
    engine: AsyncEngine, client: httpx.AsyncClient, echo_server: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    await deploy_workflow(client, "pushy", GREETER)
    await enable_push(client, "pushy", f"{echo_server.url}/hook")
    stuck = await agents.register(engine, ("elsewhere",), "stuck")
    job_id = await _submit(client, "pushy", {"inputs": {"name": "Ada"}, "pool": "elsewhere"}, mode="push")
    await _claim_elsewhere(engine, stuck, job_id)
    fast: list[str] = []
    real_finish = jobs_pg.finish

    async def counted_finish(conn: AsyncConnection, job: uuid.UUID, *args: Any, **kwargs: Any) -> Any:
        fast.append(str(job))
        return await real_finish(conn, job, *args, **kwargs)

    monkeypatch.setattr(jobs_pg, "finish", counted_finish)
    path = [JobStatus.RUNNING, JobStatus.VALIDATING, JobStatus.UPLOADING, JobStatus.COMPLETED]

    async def finish(uow: UnitOfWork) -> Ended | None:
        end = lifecycle.Finish(
            job_id=uuid.UUID(job_id),
            mode="push",
            attempt=1,
            agent_id=stuck,
            path=path,
            at=[utcnow()] * 3,
            output={"greeting": "Hello, Ada!"},
            error=None,
            actor=f"agent:{stuck}",
            records=[],
        )
        return await lifecycle.finish(uow, EndContext(engine, None, FOLLOW_UPS), end)

    class Abandon(Exception):
        pass

    async def abandoned() -> None:
        async with unit_of_work(engine) as uow:
            assert await finish(uow) is not None
            delivered = sa.text("SELECT count(*) FROM delivery WHERE job_id = :j")
            assert await uow.conn.scalar(delivered, {"j": uuid.UUID(job_id)}) == 1
            raise Abandon  # whatever fails before the commit takes the end back with the delivery

    with pytest.raises(Abandon):
        await abandoned()

    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert (job["status"], job["output"]) == ("running", None)
    assert await _delivery_count(engine, job_id) == 0

    async with unit_of_work(engine) as uow:
        assert await finish(uow) is not None
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert (job["status"], job["output"]) == ("completed", {"greeting": "Hello, Ada!"})
    assert await _delivery_count(engine, job_id) == 1
    assert fast == [job_id, job_id]  # the single-statement finish, both times
