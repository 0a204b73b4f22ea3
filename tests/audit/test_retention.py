"""Retention in the audit log: setting a workflow's retention is `settings.updated` (what changed:
`retention_days`), a workspace's default is `workspace.updated`, and each batch of the sweep that deletes jobs
records one `job.expired` entry by `system` on the workflow, in the batch's transaction; with a clock the test
controls."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.audit.conftest import entries_since, last_entry_id
from tests.jobs.conftest import GREETER, deploy_workflow, submit
from workflow_service.core.clock import utcnow
from workflow_service.jobs.retention import Sweep, sweep
from workflow_service.models import DEFAULT_WORKSPACE_ID


async def _ended(admin: httpx.AsyncClient, slug: str) -> str:
    job = await submit(admin, slug, {"name": "Ada"}, pool="idle")
    assert (await admin.post(f"/v1/jobs/{job['id']}/cancel")).status_code == 200
    job_id: str = job["id"]
    return job_id


async def test_retention_settings_and_each_sweep_batch_are_recorded(
    admin: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    greeter = await deploy_workflow(admin, "greeter", GREETER)
    await deploy_workflow(admin, "kept", GREETER)
    before = await last_entry_id(engine)
    assert (await admin.patch("/v1/workflows/greeter/settings", json={"retention_days": 1})).status_code == 200
    assert (await admin.patch("/v1/workspace", json={"retention_days": 30})).status_code == 200
    setting, workspace = await entries_since(engine, before)
    assert (setting["action"], setting["changes"]) == (
        "settings.updated",
        {"retention_days": {"before": None, "after": 1}},
    )
    assert (workspace["action"], workspace["changes"]) == (
        "workspace.updated",
        {"retention_days": {"before": None, "after": 30}},
    )
    for _ in range(5):
        await _ended(admin, "greeter")
    await _ended(admin, "kept")  # its workspace's 30 days apply: kept

    before = await last_entry_id(engine)
    report = await sweep(engine, Sweep(now=utcnow() + timedelta(days=2), batch=2, pause_s=0))
    assert (report.deleted, report.batches) == (5, 3)
    written = await entries_since(engine, before)
    assert [(e["action"], e["actor"], str(e["workflow_id"])) for e in written] == [
        ("job.expired", "system", greeter["id"])
    ] * 3
    assert [e["description"] for e in written] == [
        f"deleted {n} ended job(s) of workflow 'greeter' past its retention of 1 day(s)" for n in (2, 2, 1)
    ]
    assert {(e["workspace_id"], e["target_id"], e["request_id"]) for e in written} == {
        (DEFAULT_WORKSPACE_ID, greeter["id"], None)
    }
    assert (await sweep(engine, Sweep(now=utcnow() + timedelta(days=2), pause_s=0))).deleted == 0
    assert await entries_since(engine, written[-1]["id"]) == []
    assert (await admin.get("/v1/audit-log/verify")).json()["ok"] is True
