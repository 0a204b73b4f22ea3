"""Deleting jobs: one (DELETE /v1/jobs/{id}) or many (POST /v1/jobs/delete), with their steps, events and
deliveries, an active job canceled first through the lifecycle; and a worker whose job is deleted stops."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import issue_key
from tests.conftest import ClientFactory, WorkerFactory, eventually, wait_for_job
from tests.deliveries.conftest import enable_push
from tests.invocation.conftest import http_step, http_workflow
from tests.jobs.conftest import GREETER, RunnerFactory, deploy_workflow, submit
from tests.jobs.people.conftest import People, refused_own_job_action
from tests.servers import EchoServer
from tests.workflows.conftest import assert_problem
from workflow_service.agents import service as agents
from workflow_service.engine.executor import Outcome
from workflow_service.jobs.ends import Ended
from workflow_service.jobs.run.claim import Claim
from workflow_service.jobs.run.errors import LostLease

OWNED = ("job_step", "job_event", "delivery")
"""The tables whose rows belong to a job (delivery_attempt belongs to a delivery)."""


async def rows_of(engine: AsyncEngine, job_id: str) -> dict[str, int]:
    """How many rows the job has in each table: its own, its steps, events, deliveries and their attempts."""
    jid = uuid.UUID(job_id)
    async with engine.connect() as conn:
        counts = {"job": (await conn.execute(sa.text("SELECT count(*) FROM job WHERE id = :j"), {"j": jid})).scalar()}
        for table in OWNED:
            query = sa.text(f"SELECT count(*) FROM {table} WHERE job_id = :j")
            counts[table] = (await conn.execute(query, {"j": jid})).scalar()
        attempts = "SELECT count(*) FROM delivery_attempt a JOIN delivery d ON d.id = a.delivery_id WHERE d.job_id = :j"
        counts["delivery_attempt"] = (await conn.execute(sa.text(attempts), {"j": jid})).scalar()
    return {table: int(count or 0) for table, count in counts.items()}


async def _all_there(engine: AsyncEngine, job_id: str) -> dict[str, int] | None:
    counts = await rows_of(engine, job_id)
    return counts if all(counts.values()) else None


async def test_a_job_is_deleted_with_its_steps_events_and_deliveries(
    admin: httpx.AsyncClient, engine: AsyncEngine, start_worker: WorkerFactory
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    await enable_push(admin, "greeter", "http://127.0.0.1:9/callback")
    await start_worker()  # its callback: one attempt at once (refused: nothing listens there), the next in 5 s
    job = (await admin.post("/v1/workflows/greeter/versions/current/push", json={"inputs": {"name": "Ada"}})).json()
    kept = await submit(admin, "greeter", {"name": "Bo"})
    await wait_for_job(admin, job["id"])
    await wait_for_job(admin, kept["id"])
    before = await eventually(lambda: _all_there(engine, job["id"]), "an attempt of the callback")
    kept_before = await rows_of(engine, kept["id"])

    response = await admin.delete(f"/v1/jobs/{job['id']}")

    assert (response.status_code, response.content) == (204, b"")
    assert await rows_of(engine, job["id"]) == dict.fromkeys(before, 0)
    assert_problem(await admin.get(f"/v1/jobs/{job['id']}"), 404, "not_found")
    assert_problem(await admin.get(f"/v1/jobs/{job['id']}/events"), 404, "not_found")
    assert_problem(await admin.delete(f"/v1/jobs/{job['id']}"), 404, "not_found")  # it cannot be undone
    assert await rows_of(engine, kept["id"]) == kept_before  # nothing else is touched


async def test_an_active_job_is_canceled_through_the_lifecycle_then_deleted(
    admin: httpx.AsyncClient, engine: AsyncEngine, ends: list[Ended]
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    await enable_push(admin, "greeter", "http://127.0.0.1:9/callback")
    pending = (await admin.post("/v1/workflows/greeter/versions/current/push", json={"inputs": {"name": "A"}})).json()
    assert (await admin.delete(f"/v1/jobs/{pending['id']}")).status_code == 204
    assert [(e.job_id, e.previous, e.status, e.actor) for e in ends] == [
        (uuid.UUID(pending["id"]), "pending", "canceled", "admin")
    ]
    # its callback was made with the end (the follow-up ran), and deleted with the job: none is sent
    assert await rows_of(engine, pending["id"]) == dict.fromkeys(["job", *OWNED, "delivery_attempt"], 0)


async def test_a_worker_running_a_job_that_is_deleted_stops_it(
    admin: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    """Through the API with a real worker: the deletion's cancel reaches the worker, which stops the job and
    goes on running others."""
    await deploy_workflow(admin, "slow", http_workflow(http_step("wait", f"{echo_server.url}/slow/3")))
    await deploy_workflow(admin, "greeter", GREETER)
    await start_worker(concurrency=1)  # one job at a time: the next one runs only once the deleted one stopped
    job = (await admin.post("/v1/workflows/slow/versions/current/async", json={"inputs": {}})).json()
    await wait_for_job(admin, job["id"], ("running",))
    assert (await admin.delete(f"/v1/jobs/{job['id']}")).status_code == 204
    after = await submit(admin, "greeter", {"name": "Ada"})
    done = await wait_for_job(admin, after["id"], wait_s=2.5)  # before the deleted job's step would have ended
    assert done["status"] == "completed"


async def test_a_runner_whose_job_is_deleted_mid_step_finds_no_row_and_stops(
    admin: httpx.AsyncClient,
    engine: AsyncEngine,
    make_runner: RunnerFactory,
    echo_server: EchoServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The runner is not told (its notifier is not the api's): its next checkpoint finds no row; it logs and
    stops, writing nothing back."""
    slow_then_more = http_workflow(
        http_step("wait", f"{echo_server.url}/slow/1"), {"id": "after", "type": "transform", "output": 1}
    )
    await deploy_workflow(admin, "slow", slow_then_more)
    job = await submit(admin, "slow", {})
    runner = await make_runner()
    running = asyncio.create_task(runner.run(uuid.UUID(job["id"])))
    await wait_for_job(admin, job["id"], ("running",))
    with caplog.at_level(logging.WARNING):
        assert (await admin.delete(f"/v1/jobs/{job['id']}")).status_code == 204
        assert await asyncio.wait_for(running, 10) is None  # not ours any more: no status to report
    assert "lost its lease" in caplog.text
    assert await rows_of(engine, job["id"]) == dict.fromkeys(["job", *OWNED, "delivery_attempt"], 0)
    assert runner.running == []


async def test_an_agents_end_checkpoint_and_heartbeat_of_a_deleted_job_find_nothing(
    admin: httpx.AsyncClient, engine: AsyncEngine, make_runner: RunnerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    job = await submit(admin, "greeter", {"name": "Ada"})
    runner = await make_runner()
    claim = await runner.claimer.claim(uuid.UUID(job["id"]))
    assert isinstance(claim, Claim)
    assert (await admin.delete(f"/v1/jobs/{job['id']}")).status_code == 204

    with pytest.raises(LostLease):
        await runner.steps._checkpoint(claim, [])
    with caplog.at_level(logging.WARNING):
        assert await runner.finisher.finish(claim, Outcome(output={"greeting": "Hi"})) is None
    assert "no longer ours" in caplog.text
    lost = await agents.heartbeat(engine, runner.agent_id, runner.steps.lease, [claim.job_id])
    assert (lost.jobs, lost.canceled) == ([claim.job_id], [])
    assert await rows_of(engine, job["id"]) == dict.fromkeys(["job", *OWNED, "delivery_attempt"], 0)


async def test_child_jobs_of_a_deleted_job_stay(admin: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    parent, child = await submit(admin, "greeter", {"name": "A"}), await submit(admin, "greeter", {"name": "B"})
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE job SET parent_job_id = :p, parent_step = 'call' WHERE id = :c"),
            {"p": uuid.UUID(parent["id"]), "c": uuid.UUID(child["id"])},
        )
    assert (await admin.delete(f"/v1/jobs/{parent['id']}")).status_code == 204
    kept = (await admin.get(f"/v1/jobs/{child['id']}")).json()
    assert kept["parent"] == {"job_id": parent["id"], "step": "call"}


async def test_who_may_delete_a_job(admin: httpx.AsyncClient, people: People) -> None:
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    creator = await people.member(workflow, "runner")
    jobs = [await submit(creator.client, "greeter", {"name": "Ada"}) for _ in range(3)]
    url = f"/v1/jobs/{jobs[0]['id']}"
    for client, status, code in await refused_own_job_action(people, admin, workflow):
        assert_problem(await client.delete(url), status, code)
    assert (await admin.get(url)).status_code == 200
    owner = await people.member(workflow, "owner")
    for client, job in [(creator.client, jobs[0]), (owner.client, jobs[1]), (admin, jobs[2])]:
        assert (await client.delete(f"/v1/jobs/{job['id']}")).status_code == 204
    assert_problem(await admin.delete(f"/v1/jobs/{uuid.uuid4()}"), 404, "not_found")
    assert_problem(await admin.delete("/v1/jobs/not-an-id"), 404, "not_found")


async def test_a_bulk_delete_reports_each_id(
    admin: httpx.AsyncClient, engine: AsyncEngine, people: People, ends: list[Ended]
) -> None:
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    await deploy_workflow(admin, "hidden", GREETER)
    runner = await people.member(workflow, "runner")
    own_ended = await submit(runner.client, "greeter", {"name": "A"})
    await runner.client.post(f"/v1/jobs/{own_ended['id']}/cancel")
    own_pending = await submit(runner.client, "greeter", {"name": "B"})
    others = await submit(admin, "greeter", {"name": "C"})  # readable by a runner of the workflow, not deletable
    hidden = await submit(admin, "hidden", {"name": "D"})  # of a workflow the runner was not invited to
    missing = str(uuid.uuid4())
    ids = [own_ended["id"], own_pending["id"], others["id"], hidden["id"], missing, "nope", own_ended["id"]]
    ends.clear()

    response = await runner.client.post("/v1/jobs/delete", json={"ids": ids})

    assert response.status_code == 200, response.text
    results = [(r["id"], r["status"]) for r in response.json()["results"]]
    assert results == [
        (own_ended["id"], "deleted"),
        (own_pending["id"], "deleted"),
        (others["id"], "forbidden"),
        (hidden["id"], "not_found"),
        (missing, "not_found"),
        ("nope", "invalid"),
    ]
    details = {r["id"]: r["detail"] for r in response.json()["results"]}
    assert details[own_ended["id"]] is None
    assert details[own_pending["id"]] == "it was pending: canceled, then deleted"
    assert details[hidden["id"]] == details[missing].replace(missing, hidden["id"])  # no hint it exists
    assert "creator" in details[others["id"]]
    assert [(e.job_id, e.status) for e in ends] == [(uuid.UUID(own_pending["id"]), "canceled")]
    for kept in (others, hidden):
        assert (await admin.get(f"/v1/jobs/{kept['id']}")).json()["status"] == "pending"
    for gone in (own_ended, own_pending):
        assert (await rows_of(engine, gone["id"]))["job"] == 0


async def test_a_key_bulk_deletes_its_own_jobs_only(admin: httpx.AsyncClient, connect: ClientFactory) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    key = connect((await issue_key(admin, "greeter"))["key"])
    own, admins = await submit(key, "greeter", {"name": "A"}), await submit(admin, "greeter", {"name": "B"})
    response = await key.post("/v1/jobs/delete", json={"ids": [own["id"], admins["id"]]})
    assert [r["status"] for r in response.json()["results"]] == ["deleted", "not_found"]
    assert (await admin.get(f"/v1/jobs/{admins['id']}")).status_code == 200
    everything = await admin.post("/v1/jobs/delete", json={"ids": [own["id"], admins["id"]]})
    assert [r["status"] for r in everything.json()["results"]] == ["not_found", "deleted"]


@pytest.mark.parametrize(
    "body",
    [
        {"ids": []},
        {"ids": [str(uuid.uuid4()) for _ in range(501)]},
        {"ids": "not a list"},
        {"ids": ["x" * 65]},
        {"ids": [str(uuid.uuid4())], "force": True},
        {},
    ],
)
async def test_a_bad_bulk_delete_is_refused_and_deletes_nothing(admin: httpx.AsyncClient, body: Any) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    job = await submit(admin, "greeter", {"name": "A"})
    if body.get("ids") and isinstance(body["ids"], list) and len(body["ids"]) > 1:
        body = {"ids": [job["id"], *body["ids"][1:]]}
    assert_problem(await admin.post("/v1/jobs/delete", json=body), 422, "invalid_request")
    assert (await admin.get(f"/v1/jobs/{job['id']}")).status_code == 200
