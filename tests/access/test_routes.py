"""Every /v1 route declares its access rule with `access.routes.require`, and the rules hold through the app:
on PostgreSQL, on SQLite, and without a query for callers whose answer does not depend on one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.access.conftest import ClientFactory, issue_key
from tests.conftest import connections
from tests.jobs.conftest import GREETER, deploy_workflow, submit
from tests.workflows.conftest import assert_problem
from workflow_service.access.policy import Action
from workflow_service.access.routes import ResourceLoader, declared, job, job_own_transaction, service, workflow
from workflow_service.agents.router import router as agents_router
from workflow_service.apikeys.router import router as apikeys_router
from workflow_service.app import create_app
from workflow_service.audit.router import router as audit_router
from workflow_service.config import Settings
from workflow_service.deliveries.router import router as deliveries_router
from workflow_service.jobs.invoke_router import router as invoke_router
from workflow_service.jobs.router import router as jobs_router
from workflow_service.migrate import upgrade
from workflow_service.monitor.router import router as monitor_router
from workflow_service.outputs.router import router as outputs_router
from workflow_service.packages.import_router import router as package_import_router
from workflow_service.packages.router import router as packages_router
from workflow_service.people.router import router as people_router
from workflow_service.people.sharing_router import router as sharing_router
from workflow_service.people.users_router import router as users_router
from workflow_service.schedules.router import router as schedules_router
from workflow_service.tools.router import router as tools_router
from workflow_service.triggers.hook_router import router as hook_router
from workflow_service.triggers.router import router as triggers_router
from workflow_service.workflows.router import router as workflows_router

RULES: dict[tuple[str, str], tuple[Action, ResourceLoader]] = {
    ("POST", "/v1/workflows"): (Action.WORKFLOW_CREATE, service),
    ("GET", "/v1/workflows"): (Action.WORKFLOW_LIST, service),
    ("GET", "/v1/workflows/{workflow}"): (Action.WORKFLOW_READ, workflow),
    ("DELETE", "/v1/workflows/{workflow}"): (Action.WORKFLOW_DELETE, workflow),
    ("PUT", "/v1/workflows/{workflow}/draft"): (Action.WORKFLOW_EDIT, workflow),
    ("POST", "/v1/workflows/{workflow}/validate"): (Action.WORKFLOW_EDIT, workflow),
    ("POST", "/v1/workflows/{workflow}/deploy"): (Action.WORKFLOW_EDIT, workflow),
    ("GET", "/v1/workflows/{workflow}/versions"): (Action.WORKFLOW_READ, workflow),
    ("GET", "/v1/workflows/{workflow}/versions/{version}"): (Action.WORKFLOW_READ, workflow),
    ("GET", "/v1/workflows/{workflow}/settings"): (Action.WORKFLOW_READ, workflow),
    ("GET", "/v1/workflows/{workflow}/export"): (Action.WORKFLOW_EXPORT, workflow),
    ("POST", "/v1/workflows/import"): (Action.WORKFLOW_CREATE, service),
    ("POST", "/v1/workflows/{workflow}/import"): (Action.WORKFLOW_EDIT, workflow),
    ("GET", "/v1/workflows/{workflow}/backups"): (Action.WORKFLOW_EXPORT, workflow),
    ("GET", "/v1/workflows/{workflow}/backups/{backup_id}"): (Action.WORKFLOW_EXPORT, workflow),
    ("PATCH", "/v1/workflows/{workflow}/settings"): (Action.WORKFLOW_MANAGE, workflow),
    ("POST", "/v1/workflows/{workflow}/settings/rotate-signing-secret"): (Action.WORKFLOW_MANAGE, workflow),
    ("GET", "/v1/workflows/{workflow}/env"): (Action.WORKFLOW_READ, workflow),
    ("GET", "/v1/workflows/{workflow}/env/{name}"): (Action.WORKFLOW_READ, workflow),
    ("PUT", "/v1/workflows/{workflow}/env/{name}"): (Action.WORKFLOW_MANAGE, workflow),
    ("DELETE", "/v1/workflows/{workflow}/env/{name}"): (Action.WORKFLOW_MANAGE, workflow),
    ("POST", "/v1/workflows/{workflow}/api-keys"): (Action.APIKEY_MANAGE, workflow),
    ("GET", "/v1/workflows/{workflow}/api-keys"): (Action.APIKEY_MANAGE, workflow),
    ("DELETE", "/v1/workflows/{workflow}/api-keys/{key_id}"): (Action.APIKEY_MANAGE, workflow),
    ("POST", "/v1/workflows/{workflow}/versions/{version}/async"): (Action.JOB_SUBMIT, workflow),
    ("POST", "/v1/workflows/{workflow}/versions/{version}/push"): (Action.JOB_SUBMIT, workflow),
    ("POST", "/v1/workflows/{workflow}/versions/{version}/sync"): (Action.JOB_SUBMIT, workflow),
    ("POST", "/v1/workflows/{workflow}/versions/{version}/estimate"): (Action.JOB_ESTIMATE, workflow),
    ("GET", "/v1/jobs"): (Action.JOB_LIST, service),
    ("POST", "/v1/jobs/delete"): (Action.JOB_LIST, service),
    ("GET", "/v1/jobs/{job_id}"): (Action.JOB_READ, job_own_transaction),
    ("PATCH", "/v1/jobs/{job_id}"): (Action.JOB_UPDATE, job),
    ("DELETE", "/v1/jobs/{job_id}"): (Action.JOB_DELETE, job),
    ("GET", "/v1/jobs/{job_id}/events"): (Action.JOB_READ, job_own_transaction),
    ("GET", "/v1/jobs/{job_id}/output"): (Action.JOB_READ, job_own_transaction),
    ("GET", "/v1/jobs/{job_id}/steps/{step}/output"): (Action.JOB_READ, job_own_transaction),
    ("POST", "/v1/jobs/{job_id}/cancel"): (Action.JOB_CANCEL, job),
    ("POST", "/v1/jobs/{job_id}/rerun"): (Action.JOB_RERUN, job),
    ("POST", "/v1/jobs/{job_id}/run-from-step"): (Action.JOB_RERUN, job),
    ("POST", "/v1/jobs/{job_id}/duplicate"): (Action.JOB_RERUN, job),
    ("POST", "/v1/jobs/{job_id}/start"): (Action.JOB_START, job),
    ("GET", "/v1/jobs/{job_id}/deliveries"): (Action.JOB_READ, job),
    ("POST", "/v1/jobs/{job_id}/deliveries/redeliver"): (Action.JOB_REDELIVER, job_own_transaction),
    ("GET", "/v1/agents"): (Action.AGENT_READ, service),
    ("GET", "/v1/tools"): (Action.TOOL_READ, service),
    ("POST", "/v1/workspaces"): (Action.WORKSPACE_CREATE, service),
    ("GET", "/v1/workspaces"): (Action.WORKSPACE_LIST, service),
    ("GET", "/v1/workspace"): (Action.WORKSPACE_READ, service),
    ("PATCH", "/v1/workspace"): (Action.WORKSPACE_MANAGE, service),
    ("GET", "/v1/me"): (Action.WORKSPACE_READ, service),
    ("POST", "/v1/me/tokens"): (Action.TOKEN_MANAGE, service),
    ("GET", "/v1/me/tokens"): (Action.TOKEN_MANAGE, service),
    ("DELETE", "/v1/me/tokens/{token_id}"): (Action.TOKEN_MANAGE, service),
    ("POST", "/v1/users"): (Action.MEMBER_MANAGE, service),
    ("GET", "/v1/users"): (Action.MEMBER_READ, service),
    ("GET", "/v1/users/{user_id}"): (Action.MEMBER_READ, service),
    ("PATCH", "/v1/users/{user_id}"): (Action.MEMBER_MANAGE, service),
    ("DELETE", "/v1/users/{user_id}"): (Action.MEMBER_MANAGE, service),
    ("GET", "/v1/users/{user_id}/tokens"): (Action.MEMBER_MANAGE, service),
    ("DELETE", "/v1/users/{user_id}/tokens/{token_id}"): (Action.MEMBER_MANAGE, service),
    ("GET", "/v1/workflows/{workflow}/members"): (Action.WORKFLOW_MEMBERS_READ, workflow),
    ("PUT", "/v1/workflows/{workflow}/members/{user_id}"): (Action.WORKFLOW_SHARE, workflow),
    ("DELETE", "/v1/workflows/{workflow}/members/{user_id}"): (Action.WORKFLOW_SHARE, workflow),
    ("GET", "/v1/audit-log"): (Action.AUDIT_READ, service),
    ("GET", "/v1/audit-log/verify"): (Action.AUDIT_READ, service),
    ("GET", "/v1/workflows/{workflow}/audit-log"): (Action.WORKFLOW_AUDIT, workflow),
    ("GET", "/v1/workflows/{workflow}/monitor"): (Action.WORKFLOW_MONITOR, workflow),
    ("GET", "/v1/workflows/{workflow}/runs"): (Action.WORKFLOW_MONITOR, workflow),
    ("GET", "/v1/workflows/{workflow}/model-runs"): (Action.WORKFLOW_MONITOR, workflow),
    ("GET", "/v1/workflows/{workflow}/triggers"): (Action.TRIGGERS_READ, workflow),
    ("POST", "/v1/workflows/{workflow}/triggers"): (Action.TRIGGERS_WRITE, workflow),
    ("GET", "/v1/workflows/{workflow}/triggers/{trigger_id}"): (Action.TRIGGERS_READ, workflow),
    ("PATCH", "/v1/workflows/{workflow}/triggers/{trigger_id}"): (Action.TRIGGERS_WRITE, workflow),
    ("DELETE", "/v1/workflows/{workflow}/triggers/{trigger_id}"): (Action.TRIGGERS_WRITE, workflow),
    ("POST", "/v1/workflows/{workflow}/triggers/{trigger_id}/pause"): (Action.TRIGGERS_WRITE, workflow),
    ("POST", "/v1/workflows/{workflow}/triggers/{trigger_id}/resume"): (Action.TRIGGERS_WRITE, workflow),
    ("POST", "/v1/workflows/{workflow}/triggers/{trigger_id}/rotate-secret"): (Action.TRIGGERS_WRITE, workflow),
    ("GET", "/v1/workflows/{workflow}/triggers/{trigger_id}/events"): (Action.TRIGGERS_READ, workflow),
    ("POST", "/v1/workflows/{workflow}/schedules"): (Action.SCHEDULE_MANAGE, workflow),
    ("GET", "/v1/workflows/{workflow}/schedules"): (Action.SCHEDULE_READ, workflow),
    ("GET", "/v1/workflows/{workflow}/schedules/{schedule_id}"): (Action.SCHEDULE_READ, workflow),
    ("PATCH", "/v1/workflows/{workflow}/schedules/{schedule_id}"): (Action.SCHEDULE_MANAGE, workflow),
    ("DELETE", "/v1/workflows/{workflow}/schedules/{schedule_id}"): (Action.SCHEDULE_MANAGE, workflow),
    ("POST", "/v1/workflows/{workflow}/schedules/{schedule_id}/pause"): (Action.SCHEDULE_MANAGE, workflow),
    ("POST", "/v1/workflows/{workflow}/schedules/{schedule_id}/resume"): (Action.SCHEDULE_MANAGE, workflow),
    ("POST", "/v1/workflows/{workflow}/schedules/{schedule_id}/backfill"): (Action.SCHEDULE_MANAGE, workflow),
}
BY_TRIGGER_SECRET = {("POST", "/v1/hooks/{trigger_id}")}
"""The /v1 operations no credential of the service opens and no rule of the policy decides: an event trigger's URL,
authenticated by the trigger's own secret (tests/triggers/test_hook_auth.py)."""
ROUTERS = (
    workflows_router,
    packages_router,
    package_import_router,
    apikeys_router,
    invoke_router,
    jobs_router,
    outputs_router,
    deliveries_router,
    monitor_router,
    agents_router,
    tools_router,
    people_router,
    users_router,
    sharing_router,
    audit_router,
    triggers_router,
    schedules_router,
)


def _rules(dependant: Dependant) -> Iterator[tuple[Action, ResourceLoader]]:
    for sub in dependant.dependencies:
        rule = declared(sub.call)
        if rule is not None:
            yield rule
        yield from _rules(sub)


def test_every_v1_route_declares_exactly_its_one_rule() -> None:
    found: dict[tuple[str, str], list[tuple[Action, ResourceLoader]]] = {}
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute)
            for method in route.methods or ():
                found[(method, route.path)] = list(_rules(route.dependant))
    assert found == {operation: [rule] for operation, rule in RULES.items()}
    hooks: dict[tuple[str, str], list[tuple[Action, ResourceLoader]]] = {}
    for route in hook_router.routes:
        assert isinstance(route, APIRoute)
        hooks |= {(method, route.path): list(_rules(route.dependant)) for method in route.methods or ()}
    assert hooks == {operation: [] for operation in BY_TRIGGER_SECRET}
    # and these routers are all the /v1 routes there are
    schema = create_app(Settings(admin_token=SecretStr("x"))).openapi()
    operations = {(m.upper(), p) for p, item in schema["paths"].items() if p.startswith("/v1/") for m in item}
    assert operations == set(RULES) | BY_TRIGGER_SECRET


@pytest.fixture
def job_caller_lookups() -> Iterator[list[str]]:
    """The `SELECT job.caller, job.workspace_id ...` statements any engine runs meanwhile (the job loader's
    lookup)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("SELECT job.caller, job.workspace_id"):
            seen.append(statement)

    sa.event.listen(Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(Engine, "before_cursor_execute", record)


JOB_READS = ("", "/events", "/deliveries")
ADA = {"inputs": {"name": "Ada"}}


async def test_the_admin_reads_jobs_without_looking_up_who_submitted_them(
    connect: ClientFactory, admin: httpx.AsyncClient, engine: AsyncEngine, job_caller_lookups: list[str]
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    key = connect((await issue_key(admin, "greeter"))["key"])
    by_key = await submit(key, "greeter", {"name": "Ada"})
    for suffix in JOB_READS:
        assert (await admin.get(f"/v1/jobs/{by_key['id']}{suffix}")).status_code == 200
    assert job_caller_lookups == []
    for suffix in JOB_READS:
        assert (await key.get(f"/v1/jobs/{by_key['id']}{suffix}")).status_code == 200
    assert len(job_caller_lookups) == len(JOB_READS)  # one lookup per request a key makes, no more


async def test_a_key_on_job_routes_on_sqlite(tmp_path: Path) -> None:
    """On SQLite (one write lock) a key's job routes answer at once, whether the route keeps a request
    transaction (the lookup runs in it) or not (redeliver: the lookup is a transaction of its own, closed
    before the route's own ones open)."""
    settings = Settings(data_dir=tmp_path, admin_token=SecretStr("embedded-admin"), database_url=None, redis_url=None)
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    async with connections(settings) as connect, connect("embedded-admin") as admin:
        await deploy_workflow(admin, "greeter", GREETER)
        created = (await admin.post("/v1/workflows/greeter/api-keys", json={"name": "ci"})).json()
        admins = (await admin.post("/v1/workflows/greeter/versions/current/async", json=ADA)).json()
        async with connect(created["key"]) as key:
            own = (await key.post("/v1/workflows/greeter/versions/current/async", json=ADA)).json()
            cases = [
                ("GET", own["id"], "", 200, None),
                ("GET", own["id"], "/deliveries", 200, None),
                # allowed, but nothing to redeliver: not a push job
                ("POST", own["id"], "/deliveries/redeliver", 404, "not_found"),
                ("GET", admins["id"], "", 404, "not_found"),
                ("GET", admins["id"], "/deliveries", 404, "not_found"),
                ("POST", admins["id"], "/deliveries/redeliver", 404, "not_found"),
                ("POST", admins["id"], "/cancel", 404, "not_found"),
                ("GET", str(uuid.uuid4()), "/events", 404, "not_found"),
            ]
            for method, job_id, suffix, status, code in cases:
                # Far below the 30 s busy timeout that nested transactions would wait out.
                response = await asyncio.wait_for(key.request(method, f"/v1/jobs/{job_id}{suffix}"), 10)
                if code is None:
                    assert response.status_code == status, (method, suffix, response.text)
                else:
                    assert_problem(response, status, code)
        assert (await admin.get(f"/v1/jobs/{admins['id']}")).json()["status"] != "canceled"
