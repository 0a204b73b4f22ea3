"""The embedded mode, end to end: `workflow-service dev` as a real process on SQLite, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import EchoServer, Process, clean_env, running

TOKEN = "embedded-test-token"


@dataclass
class Service:
    """`workflow-service dev` running, and the data directory it made."""

    process: Process
    data_dir: Path

    @property
    def url(self) -> str:
        return self.process.url

    def output(self) -> str:
        return self.process.output()


@contextmanager
def embedded(cwd: Path, **settings: str) -> Iterator[Service]:
    """`workflow-service dev` in the fresh directory `cwd`, with no database or Redis configured and callbacks
    to 127.0.0.1 allowed (and `settings`, more WFS_ variables)."""
    env = clean_env(WFS_ADMIN_TOKEN=TOKEN, WFS_LOG_LEVEL="WARNING", WFS_OUTBOUND_ALLOWLIST="127.0.0.1", **settings)
    with running("dev", env, cwd) as process:
        yield Service(process, cwd / ".data")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with embedded(tmp_path_factory.mktemp("embedded")) as svc:
        yield svc


@asynccontextmanager
async def admin_client(service: Service, request_timeout_s: float) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the running service with the admin token, once the service answers /readyz."""
    await asyncio.to_thread(service.process.wait_until_ready)
    async with httpx.AsyncClient(
        base_url=service.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=request_timeout_s
    ) as client:
        yield client


@pytest.fixture
async def api(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(service, request_timeout_s=10) as client:
        yield client


async def finished(api: httpx.AsyncClient, job_id: str, wait_s: float = 15.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        response = await api.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in ("completed", "failed", "canceled"):
            return job
        assert asyncio.get_running_loop().time() < deadline, f"job still {job['status']}"
        await asyncio.sleep(0.05)


async def test_ready_on_sqlite_without_redis(api: httpx.AsyncClient, service: Service) -> None:
    ready = await api.get("/readyz")
    assert ready.json()["status"] == "ok"
    assert ready.json()["checks"] == {"database": "ok"}  # no redis check: there is no Redis
    assert (service.data_dir / "workflow-service.db").is_file()
    assert not (service.data_dir / "admin_token").exists()  # the token came from WFS_ADMIN_TOKEN
    unauthenticated = await api.get("/v1/jobs", headers={"Authorization": ""})
    assert unauthenticated.status_code == 401
    wrong = await api.get("/v1/jobs", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


async def test_the_hello_sample_runs(api: httpx.AsyncClient, service: Service) -> None:
    sample = await api.get("/v1/workflows/hello")
    assert sample.status_code == 200
    assert sample.json()["current_version"] == 1
    made = (await api.get("/v1/workflows/hello/audit-log")).json()["items"]
    assert [(e["action"], e["actor"]) for e in made[-2:]] == [
        ("workflow.deployed", "system"),
        ("workflow.created", "system"),
    ]
    submitted = await api.post("/v1/workflows/hello/versions/current/async", json={"inputs": {"name": "Ada"}})
    assert submitted.status_code == 202, submitted.text
    assert submitted.headers["Location"] == f"{service.url}/v1/jobs/{submitted.json()['id']}"
    job = await finished(api, submitted.json()["id"])
    assert job["status"] == "completed", job
    assert job["output"] == {"greeting": "Hello, Ada!", "loud": "HELLO, ADA!"}
    assert [s["id"] for s in job["steps"]] == ["compose", "shout"]

    events = (await api.get(f"/v1/jobs/{job['id']}/events")).json()["items"]
    assert [e["to_status"] for e in events] == ["pending", "claimed", "running", "validating", "uploading", "completed"]
    agents = (await api.get("/v1/agents")).json()["items"]
    assert [(a["pools"], a["status"]) for a in agents] == [(["default"], "online")]
    assert job["agent_id"] == agents[0]["id"]

    refused = await api.post("/v1/workflows/hello/versions/current/async", json={"inputs": {"name": ""}})
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")


async def test_a_new_workflow_is_created_deployed_and_run(api: httpx.AsyncClient) -> None:
    definition = {
        "input_schema": {"type": "object", "properties": {"items": {"type": "array"}}, "required": ["items"]},
        "variables": {"label": "total"},
        "steps": [
            {"id": "count", "type": "transform", "output": {"n": "{{ inputs['items'] | length }}"}},
            {
                "id": "report",
                "type": "transform",
                "output": {"label": "{{ vars.label }}", "value": "{{ steps.count.output.n }}"},
            },
        ],
        "output": {"report": "{{ steps.report.output }}", "first": "{{ inputs['items'][0] }}"},
    }
    created = await api.post("/v1/workflows", json={"name": "Counter", "definition": definition})
    assert created.status_code == 201, created.text
    deployed = await api.post("/v1/workflows/counter/deploy")
    assert deployed.status_code == 201, deployed.text

    submitted = await api.post(
        "/v1/workflows/counter/versions/1/async", json={"inputs": {"items": ["a", "b", "c"]}, "variables": {}}
    )
    assert submitted.status_code == 202, submitted.text
    job = await finished(api, submitted.json()["id"])
    assert job["status"] == "completed", job
    assert job["output"]["first"] == "a"
    assert job["output"]["report"] == {"label": "total", "value": 3}

    broken = await api.post("/v1/workflows/counter/versions/current/async", json={"inputs": {"items": []}})
    failed = await finished(api, broken.json()["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "template_error"


async def test_many_jobs_at_once_all_complete_on_sqlite(api: httpx.AsyncClient) -> None:
    async def one(i: int) -> str:
        response = await api.post("/v1/workflows/hello/versions/current/async", json={"inputs": {"name": f"n{i}"}})
        assert response.status_code == 202, response.text
        job_id: str = response.json()["id"]
        return job_id

    ids = await asyncio.gather(*(one(i) for i in range(20)))
    jobs = [await finished(api, job_id) for job_id in ids]
    assert [j["output"]["greeting"] for j in jobs] == [f"Hello, n{i}!" for i in range(20)]
    listed = (await api.get("/v1/jobs", params={"workflow": "hello", "status": "completed", "limit": 200})).json()
    assert set(ids) <= {item["id"] for item in listed["items"]}


async def test_a_step_whose_output_is_a_bare_number_reads_back(api: httpx.AsyncClient) -> None:
    definition = {"steps": [{"id": "answer", "type": "transform", "output": "{{ 6 * 7 }}"}]}
    assert (await api.post("/v1/workflows", json={"name": "Answer", "definition": definition})).status_code == 201
    assert (await api.post("/v1/workflows/answer/deploy")).status_code == 201
    submitted = await api.post("/v1/workflows/answer/versions/current/async", json={"inputs": {}})
    job = await finished(api, submitted.json()["id"])
    assert job["status"] == "completed", job
    assert job["output"] == 42
    assert job["steps"][0]["output"] == 42


async def test_sync_idempotency_and_cancel_work_in_process(api: httpx.AsyncClient) -> None:
    """Sync completion and cancel travel through the in-process notifier when there is no Redis."""
    started = asyncio.get_running_loop().time()
    sync = await api.post("/v1/workflows/hello/versions/current/sync", json={"inputs": {"name": "Lin"}})
    assert sync.status_code == 200, sync.text
    assert sync.json()["output"]["greeting"] == "Hello, Lin!"
    assert asyncio.get_running_loop().time() - started < 1.5  # woken by the event, not the 2 s safety poll

    headers = {"Idempotency-Key": "embedded-1"}
    first = await api.post(
        "/v1/workflows/hello/versions/current/async", json={"inputs": {"name": "K"}}, headers=headers
    )
    again = await api.post(
        "/v1/workflows/hello/versions/current/async", json={"inputs": {"name": "K"}}, headers=headers
    )
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"

    echo = EchoServer()
    echo.start()
    try:
        definition = {
            "steps": [
                {"id": "wait", "type": "http", "url": f"{echo.url}/slow/5"},
                {"id": "after", "type": "http", "url": f"{echo.url}/after"},
            ]
        }
        assert (await api.post("/v1/workflows", json={"name": "slowpoke", "definition": definition})).is_success
        assert (await api.post("/v1/workflows/slowpoke/deploy")).is_success
        submitted = await api.post(
            "/v1/workflows/slowpoke/versions/current/sync", json={}, headers={"Prefer": "wait=1"}
        )
        assert submitted.status_code == 202
        assert submitted.headers["Preference-Applied"] == "wait=1"
        canceled_at = asyncio.get_running_loop().time()
        canceled = await api.post(f"/v1/jobs/{submitted.json()['id']}/cancel")
        assert canceled.json()["status"] == "canceled"
        job = await finished(api, submitted.json()["id"])
        assert asyncio.get_running_loop().time() - canceled_at < 2
        assert [(s["id"], s["status"], (s["error"] or {}).get("code")) for s in job["steps"]] == [
            ("wait", "failed", "canceled")
        ]
        await asyncio.sleep(0.3)
        assert [r.path for r in echo.requests] == ["/slow/5"]  # the next step never started
    finally:
        echo.stop()


async def test_rerun_run_from_step_and_duplicate_work_on_sqlite(api: httpx.AsyncClient) -> None:
    submitted = await api.post("/v1/workflows/hello/versions/current/async", json={"inputs": {"name": "Ada"}})
    source = await finished(api, submitted.json()["id"])
    rerun = await api.post(f"/v1/jobs/{source['id']}/rerun")
    assert rerun.status_code == 201, rerun.text
    assert (await finished(api, rerun.json()["id"]))["output"] == source["output"]

    from_step = await api.post(f"/v1/jobs/{source['id']}/run-from-step", json={"step": "shout"})
    assert from_step.status_code == 201, from_step.text
    job = await finished(api, from_step.json()["id"])
    assert job["output"] == source["output"]
    compose, shout = job["steps"]
    assert compose["detail"]["copied_from"] == source["id"]
    assert compose["started_at"] == source["steps"][0]["started_at"]
    assert shout["detail"] is None or "copied_from" not in shout["detail"]

    duplicate = await api.post(f"/v1/jobs/{source['id']}/duplicate", json={"start": False})
    assert duplicate.json()["status"] == "new"
    await asyncio.sleep(0.3)
    assert (await api.get(f"/v1/jobs/{duplicate.json()['id']}")).json()["status"] == "new"
    assert (await api.post(f"/v1/jobs/{duplicate.json()['id']}/start")).status_code == 200
    assert (await finished(api, duplicate.json()["id"]))["status"] == "completed"
