"""A job's inputs, variables, step inputs and model requests are shown to its creator only; everyone else who
may read the job sees them withheld (null, and flagged), never as if they were empty."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import issue_key
from tests.conftest import ClientFactory, WorkerFactory, wait_for_job
from tests.deliveries.conftest import enable_push
from tests.jobs.conftest import deploy_workflow, submit
from tests.jobs.events.conftest import Received, events_of, receive
from tests.jobs.people.conftest import People
from tests.llm.conftest import ModelServer
from workflow_service.jobs.events.stream import STATUS, STEP_ENDED, STEP_STARTED

DEFINITION: dict[str, Any] = {
    "model": {"provider": "openai", "name": "gpt-test", "temperature": 0},
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "variables": {"greeting": "Hello", "tone": "warm"},
    "steps": [
        {"id": "compose", "type": "transform", "output": {"text": "{{ vars.greeting }}, {{ inputs.name }}!"}},
        {"id": "ask", "type": "llm", "prompt": "Write to {{ inputs.name }}"},
    ],
    "output": {"greeting": "{{ steps.compose.output.text }}", "reply": "{{ steps.ask.output }}"},
}
SUBMISSION = {"inputs": {"name": "Ada"}, "variables": {"greeting": "Hi"}}


def assert_shown(job: dict[str, Any]) -> None:
    assert (job["inputs"], job["inputs_withheld"]) == ({"name": "Ada"}, False)
    assert (job["variables"], job["variables_withheld"]) == ({"greeting": "Hi"}, False)
    assert job["effective_variables"] == {"greeting": "Hi", "tone": "warm"}
    steps = {s["id"]: s for s in job["steps"]}
    assert (steps["compose"]["input"], steps["compose"]["input_withheld"]) == ({"output": {"text": "Hi, Ada!"}}, False)
    assert steps["ask"]["input"]["prompt"] == "Write to Ada"
    assert steps["ask"]["detail"]["request"]["body"]["messages"][-1]["content"] == "Write to Ada"
    assert not steps["ask"]["detail_withheld"]


def assert_withheld(job: dict[str, Any]) -> None:
    assert (job["inputs"], job["inputs_withheld"]) == (None, True)
    assert (job["variables"], job["variables_withheld"], job["effective_variables"]) == (None, True, None)
    assert job["overridden_variables"] == ["greeting"]  # which were overridden, not their values
    assert job["output"] == {"greeting": "Hi, Ada!", "reply": "echo: Write to Ada"}  # outputs are not withheld
    steps = {s["id"]: s for s in job["steps"]}
    for step in steps.values():
        assert (step["input"], step["input_withheld"]) == (None, True)
        assert step["status"] == "completed"
    assert (steps["ask"]["detail"], steps["ask"]["detail_withheld"]) == (None, True)
    assert steps["ask"]["model"].startswith("openai/gpt-test")  # what ran, and its usage, stay
    assert (steps["compose"]["detail"], steps["compose"]["detail_withheld"]) == (None, False)


async def running(admin: httpx.AsyncClient, start_worker: WorkerFactory, model_server: ModelServer) -> dict[str, Any]:
    """The workflow deployed, and a worker whose model calls go to the model server."""
    workflow = await deploy_workflow(admin, "greeter", DEFINITION)
    await start_worker(openai_base_url=f"{model_server.url}/v1", openai_api_key=SecretStr("k"))
    return workflow


async def test_only_the_creator_sees_the_inputs_of_a_job(
    admin: httpx.AsyncClient, people: People, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    workflow = await running(admin, start_worker, model_server)
    creator = await people.member(workflow, "runner")
    viewer = await people.member(workflow, "viewer")
    owner = await people.member(workflow, "owner")
    workspace_admin = await people.user("admin")
    submitted = (await creator.client.post("/v1/workflows/greeter/versions/current/async", json=SUBMISSION)).json()
    assert submitted["inputs"] == {"name": "Ada"}

    assert_shown(await wait_for_job(creator.client, submitted["id"]))
    for reader in (viewer.client, owner.client, workspace_admin.client, admin):
        assert_withheld(await wait_for_job(reader, submitted["id"]))
    without_steps = (await viewer.client.get(f"/v1/jobs/{submitted['id']}", params={"steps": "false"})).json()
    assert (without_steps["inputs"], without_steps["inputs_withheld"], without_steps["steps"]) == (None, True, None)
    long_poll = await viewer.client.get(f"/v1/jobs/{submitted['id']}", headers={"Prefer": "wait=1"})
    assert long_poll.json()["inputs_withheld"] is True


async def test_the_operator_sees_the_inputs_of_its_own_jobs_not_a_keys(
    admin: httpx.AsyncClient, connect: ClientFactory
) -> None:
    await deploy_workflow(admin, "greeter", DEFINITION)
    key = connect((await issue_key(admin, "greeter"))["key"])
    by_key = await submit(key, "greeter", {"name": "Ada"})
    by_admin = await submit(admin, "greeter", {"name": "Bo"})
    assert (await key.get(f"/v1/jobs/{by_key['id']}")).json()["inputs"] == {"name": "Ada"}
    assert (await admin.get(f"/v1/jobs/{by_key['id']}")).json()["inputs_withheld"] is True
    assert (await admin.get(f"/v1/jobs/{by_admin['id']}")).json()["inputs"] == {"name": "Bo"}


async def test_routes_that_answer_with_a_job_withhold_its_inputs_from_others(
    admin: httpx.AsyncClient, people: People
) -> None:
    """Cancel and start answer with the job as the caller sees it; a rerun or duplicate is a new job of its
    caller's, who sees the inputs it copied (a workflow owner may rerun anyone's job: docs/invocation.md)."""
    workflow = await deploy_workflow(admin, "greeter", DEFINITION)
    creator = await people.member(workflow, "runner")
    owner = await people.member(workflow, "owner")
    manager = await people.user("admin")
    job = (await creator.client.post("/v1/workflows/greeter/versions/current/async", json=SUBMISSION)).json()

    copy = await owner.client.post(f"/v1/jobs/{job['id']}/duplicate", json={"start": False})
    assert copy.status_code == 201, copy.text
    assert (copy.json()["inputs"], copy.json()["created_by"]["id"]) == ({"name": "Ada"}, str(owner.user_id))
    started = (await manager.client.post(f"/v1/jobs/{copy.json()['id']}/start")).json()
    assert (started["status"], started["inputs"], started["inputs_withheld"]) == ("pending", None, True)
    canceled = await owner.client.post(f"/v1/jobs/{job['id']}/cancel")
    assert canceled.status_code == 200, canceled.text
    assert (canceled.json()["status"], canceled.json()["inputs"], canceled.json()["inputs_withheld"]) == (
        "canceled",
        None,
        True,
    )
    rerun = (await owner.client.post(f"/v1/jobs/{job['id']}/rerun")).json()
    assert (rerun["inputs"], rerun["variables"], rerun["created_by"]["kind"]) == (
        {"name": "Ada"},
        {"greeting": "Hi"},
        "user",
    )


async def test_the_event_stream_carries_no_inputs_to_withhold(
    admin: httpx.AsyncClient, people: People, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    workflow = await running(admin, start_worker, model_server)
    creator = await people.member(workflow, "runner")
    viewer = await people.member(workflow, "viewer")
    job = (await creator.client.post("/v1/workflows/greeter/versions/current/async", json=SUBMISSION)).json()
    await wait_for_job(creator.client, job["id"])
    received: list[Received] = []
    assert (await receive(viewer.client, job["id"], received)).status_code == 200
    documented = {
        STATUS: {"from_status", "to_status", "at", "actor", "reason"},
        STEP_STARTED: {"step", "type", "attempt", "at"},
        STEP_ENDED: {"step", "type", "attempt", "status", "at", "error"},
    }
    events = events_of(received)
    assert {e.event for e in events} == set(documented)
    for event in events:
        assert set(event.data) == documented[event.event or ""], event
        assert "Ada" not in str(event.data)
    history = (await viewer.client.get(f"/v1/jobs/{job['id']}/events")).json()["items"]
    assert history
    assert "Ada" not in str(history)


async def test_push_callbacks_and_sync_answers_go_to_the_creator_in_full(
    admin: httpx.AsyncClient, people: People, engine: AsyncEngine
) -> None:
    workflow = await deploy_workflow(admin, "greeter", DEFINITION)
    await enable_push(admin, "greeter", "http://127.0.0.1:9/callback")
    creator = await people.member(workflow, "runner")
    owner = await people.member(workflow, "owner")
    pushed = await creator.client.post("/v1/workflows/greeter/versions/current/push", json=SUBMISSION)
    assert pushed.status_code == 202, pushed.text
    assert pushed.json()["inputs"] == {"name": "Ada"}
    # ended by someone else: its callback still carries what its creator sees
    assert (await owner.client.post(f"/v1/jobs/{pushed.json()['id']}/cancel")).status_code == 200
    async with engine.connect() as conn:
        payload = (await conn.execute(sa.text("SELECT payload FROM delivery"))).scalar_one()
    assert payload["data"]["id"] == pushed.json()["id"]
    assert (payload["data"]["inputs"], payload["data"]["inputs_withheld"]) == ({"name": "Ada"}, False)
    assert payload["data"]["variables"] == {"greeting": "Hi"}

    sync = await creator.client.post(
        "/v1/workflows/greeter/versions/current/sync", json=SUBMISSION, headers={"Prefer": "wait=1"}
    )
    assert sync.status_code == 202, sync.text  # no worker: it does not end, and answers as its creator sees it
    assert (sync.json()["inputs"], sync.json()["variables"]) == ({"name": "Ada"}, {"greeting": "Hi"})


GREETER: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "steps": [{"id": "compose", "type": "transform", "output": {"text": "Hello, {{ inputs.name }}!"}}],
}


async def test_those_who_manage_a_schedule_or_trigger_see_the_inputs_of_the_jobs_it_made(
    admin: httpx.AsyncClient, people: People
) -> None:
    """A schedule's or a trigger's jobs have no person as creator: whoever may manage the schedule or trigger (who
    set its inputs, or the mapping that made them) reads them as the creator; the other readers see them withheld."""
    workflow = await deploy_workflow(admin, "greeter", GREETER)
    made = await admin.post("/v1/workflows/greeter/schedules", json={"cron": "0 * * * *", "inputs": {"name": "Sched"}})
    assert made.status_code == 201, made.text
    backfill = {"from": "2026-06-01T00:00:00Z", "to": "2026-06-01T00:30:00Z"}
    assert (await admin.post(f"/v1/workflows/greeter/schedules/{made.json()['id']}/backfill", json=backfill)).is_success
    trigger = await admin.post(
        "/v1/workflows/greeter/triggers",
        json={"type": "webhook", "name": "t", "auth": "bearer", "mapping": {"inputs": {"name": "{{ event.who }}"}}},
    )
    assert trigger.status_code == 201, trigger.text
    hook, token = trigger.json()["url"], trigger.json()["secret"]
    event = await admin.post(hook, json={"who": "Trig"}, headers={"Authorization": f"Bearer {token}"})
    assert event.status_code == 202, event.text
    listed = (await admin.get("/v1/jobs", params={"scope": "all", "origin": "schedule,trigger"})).json()["items"]
    jobs = {job["origin"]: job["id"] for job in listed}
    assert set(jobs) == {"schedule", "trigger"}, listed

    editor, owner = await people.member(workflow, "editor"), await people.member(workflow, "owner")
    viewer, runner = await people.member(workflow, "viewer"), await people.member(workflow, "runner")
    workspace_admin = await people.user("admin")
    for origin, name in (("schedule", "Sched"), ("trigger", "Trig")):
        for reader in (admin, editor.client, owner.client, workspace_admin.client):
            job = (await reader.get(f"/v1/jobs/{jobs[origin]}")).json()
            assert (job["inputs"], job["inputs_withheld"]) == ({"name": name}, False), (origin, job)
        for reader in (viewer.client, runner.client):
            job = (await reader.get(f"/v1/jobs/{jobs[origin]}")).json()
            assert (job["inputs"], job["inputs_withheld"]) == (None, True), (origin, job)
