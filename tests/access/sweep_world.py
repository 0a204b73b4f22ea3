"""The world of the access sweep (tests/access/test_sweep.py), built once for its module: workspace A (the default
one) with its people, workflows, keys and jobs; workspace B with its owner; the fresh targets that a changing call
consumes; and a fingerprint of workspace A's rows, to show that a call changed none of them."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks.webhooks import Webhook

from tests.apikeys.conftest import issue_key
from tests.conftest import TOKEN, ClientFactory
from tests.deliveries.conftest import enable_push
from tests.jobs.conftest import GREETER, deploy_workflow
from tests.packages.importing import multipart, package
from workflow_service.config import Settings
from workflow_service.models import DEFAULT_WORKSPACE_ID
from workflow_service.worker.arq_worker import WorkerOptions, serve_worker

PRINCIPALS = (
    "operator",
    "owner",
    "admin",
    "viewer",
    "runner",
    "editor",
    "wf-owner",
    "uninvited",
    "key",
    "other-key",
    "b-owner",
    "expired",
    "revoked",
)
"""The sweep's columns, in the tables' order."""
PEOPLE: dict[str, tuple[str, str | None]] = {
    "owner": ("owner", None),
    "admin": ("admin", None),
    "viewer": ("member", "viewer"),
    "runner": ("member", "runner"),
    "editor": ("member", "editor"),
    "wf-owner": ("member", "owner"),
    "uninvited": ("member", None),
}
"""Workspace A's users: their workspace role, and the role they are invited with to the workflows under test."""
ENV = "REGION"
"""The environment variable of greeter that `{name}` names."""
ADA = {"inputs": {"name": "Ada"}}
FINISHED = "finished"
"""The pool of the completed jobs: a worker serves it only while the world is built."""
KEY = Fernet.generate_key().decode()
"""The service's WFS_SECRET_KEY (a trigger's signing secret is stored encrypted)."""

# Workspace A's rows, table by table: what a call that must change nothing of A is checked against. The times of
# a credential's last use are left out: a refused request still counts as a use of the key or token sending it.
_A_WORKFLOWS = "workflow_id IN (SELECT id FROM workflow WHERE workspace_id = :ws)"
_A_JOBS = "job_id IN (SELECT id FROM job WHERE workspace_id = :ws)"
_A_TRIGGERS = f"trigger_id IN (SELECT id FROM event_trigger WHERE {_A_WORKFLOWS})"
_A_ROWS = {
    "workspace": "id = :ws",
    "workflow": "workspace_id = :ws",
    "workflow_version": _A_WORKFLOWS,
    "workflow_backup": _A_WORKFLOWS,
    "workflow_env": _A_WORKFLOWS,
    "api_key": _A_WORKFLOWS,
    "workflow_member": _A_WORKFLOWS,
    "job": "workspace_id = :ws",
    "job_event": _A_JOBS,
    "job_step": _A_JOBS,
    "delivery": _A_JOBS,
    "delivery_attempt": f"delivery_id IN (SELECT id FROM delivery WHERE {_A_JOBS})",
    "membership": "workspace_id = :ws",
    "personal_token": "workspace_id = :ws",
    "app_user": "id IN (SELECT user_id FROM membership WHERE workspace_id = :ws)",
    "audit_entry": "workspace_id = :ws",
    "audit_head": "chain = CAST(:ws AS text)",
    "event_trigger": _A_WORKFLOWS,
    "trigger_event": _A_TRIGGERS,
    "schedule": "workspace_id = :ws",
    "schedule_fire": "schedule_id IN (SELECT id FROM schedule WHERE workspace_id = :ws)",
}
_FINGERPRINT = sa.text(
    " UNION ALL ".join(
        f"SELECT '{table}', count(*), coalesce(sum(hashtextextended((to_jsonb(t) - 'last_used_at')::text, 0)), 0) "
        f"FROM {table} AS t WHERE {where}"
        for table, where in _A_ROWS.items()
    )
)

_GREETINGS = {"type": "webhook", "name": "greetings", "mapping": {"inputs": "{{ event }}"}}

_A_LISTED = {
    "/v1/workflows": "SELECT id FROM workflow WHERE workspace_id = :ws",
    "/v1/jobs?scope=all": "SELECT id FROM job WHERE workspace_id = :ws",
    "/v1/audit-log": "SELECT id FROM audit_entry WHERE workspace_id = :ws",
    "/v1/users": "SELECT user_id FROM membership WHERE workspace_id = :ws",
}


@dataclass
class World:
    """What the sweep calls with and on. Workspace A: workflows `greeter` (deployed, push on, shared with the
    members by their role, with an hourly schedule) and `other` (deployed), a key of each, the environment variable
    ENV, a spare member (`{user_id}` of the users routes) with a token; jobs of greeter that stay (`standing`: by
    the operator, the runner and the key, each submitted to push, then canceled, so that it has a delivery to send
    again); and completed jobs of greeter by the same three (`completed`: their outputs, and their steps', are there
    to download).
    Workspace B: `globex`, with its owner. The owner of A also holds an expired and a revoked token. Greeter has
    a webhook trigger (`trigger`) whose events are greetings."""

    connect: ClientFactory
    engine: AsyncEngine
    callback_url: str
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    """Workspace A's users by column (and `spare`): their ids."""
    ids: dict[str, str] = field(default_factory=dict)
    """greeter, other, key (greeter's), spare_token, b_workspace."""
    standing: dict[str, str] = field(default_factory=dict)
    """A standing job of greeter by its creator's column: operator, runner, key."""
    completed: dict[str, str] = field(default_factory=dict)
    """A completed job of greeter by its creator's column: operator, runner, key."""
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def operator(self) -> httpx.AsyncClient:
        return self.clients["operator"]

    async def build(self) -> None:
        self.clients["operator"] = self.connect(TOKEN)
        self.ids["greeter"] = (await deploy_workflow(self.operator, "greeter", GREETER))["id"]
        self.ids["other"] = (await deploy_workflow(self.operator, "other", GREETER))["id"]
        await enable_push(self.operator, "greeter", self.callback_url)
        await self.ok("PUT", f"/v1/workflows/greeter/env/{ENV}", {"value": "eu"})
        for column, (role, _) in PEOPLE.items():
            created = await self.ok("POST", "/v1/users", {"email": f"{column}@a.example", "name": column, "role": role})
            self.users[column] = created["id"]
            self.clients[column] = self.connect(created["token"])
        await self.share("greeter")
        key = await issue_key(self.operator, "greeter", "sweep")
        self.ids["key"] = key["id"]
        self.clients["key"] = self.connect(key["key"])
        self.clients["other-key"] = self.connect((await issue_key(self.operator, "other", "elsewhere"))["key"])
        self.users["spare"], self.ids["spare_token"] = await self.user_with_token()
        await self._workspace_b()
        await self._dead_tokens()
        for column in ("operator", "runner", "key"):
            self.standing[column] = await self.ended_push_job(column)
        made = await self.ok("POST", "/v1/workflows/greeter/triggers", _GREETINGS)
        self.ids["trigger"], self.ids["trigger_secret"] = made["id"], made["secret"]
        self.ids["schedule"] = await self.schedule()
        self.ids["backup"] = await self.backup()
        for column in ("operator", "runner", "key"):
            body = {**ADA, "pool": FINISHED, "cache": "never"}
            self.completed[column] = (
                await self.ok("POST", "/v1/workflows/greeter/versions/current/async", body, column)
            )["id"]

    async def finish_jobs(self, settings: Settings) -> None:
        """Run the `completed` jobs to their end with a worker serving their pool, then stop it."""
        stop = asyncio.Event()
        options = WorkerOptions(pools=(FINISHED,), concurrency=3, grace_s=2.0, handle_signals=False)
        worker = asyncio.create_task(serve_worker(settings, options, stop))
        try:
            for job_id in self.completed.values():
                for _ in range(500):
                    job = await self.ok("GET", f"/v1/jobs/{job_id}?steps=false")
                    if job["status"] == "completed":
                        break
                    await asyncio.sleep(0.02)
                assert job["status"] == "completed", job
        finally:
            stop.set()
            await worker

    async def ok(self, method: str, url: str, body: Any = None, column: str = "operator") -> Any:
        """Make a call that must succeed; its JSON body (None for a 204)."""
        response = await self.clients[column].request(method, url, json=body)
        assert response.is_success, (method, url, response.text)
        return None if response.status_code == 204 else response.json()

    async def share(self, slug: str) -> None:
        """Invite the members to the workflow with their roles."""
        for column, (_, role) in PEOPLE.items():
            if role is not None:
                await self.ok("PUT", f"/v1/workflows/{slug}/members/{self.users[column]}", {"role": role})

    async def _workspace_b(self) -> None:
        body = {"slug": "globex", "name": "Globex", "owner": {"email": "boss@b.example", "name": "Boss"}}
        created = await self.ok("POST", "/v1/workspaces", body)
        self.ids["b_workspace"] = created["workspace"]["id"]
        self.clients["b-owner"] = self.connect(created["owner_token"])

    async def _dead_tokens(self) -> None:
        """Two tokens of A's owner: one expired (its expiry moved into the past), one revoked."""
        expired = await self.ok("POST", "/v1/me/tokens", {"name": "expired"}, "owner")
        revoked = await self.ok("POST", "/v1/me/tokens", {"name": "revoked"}, "owner")
        await self.ok("DELETE", f"/v1/me/tokens/{revoked['id']}", column="owner")
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.text("UPDATE personal_token SET expires_at = now() - interval '1 day' WHERE id = :id"),
                {"id": uuid.UUID(expired["id"])},
            )
        self.clients["expired"] = self.connect(expired["token"])
        self.clients["revoked"] = self.connect(revoked["token"])

    def number(self) -> int:
        return next(self.numbers)

    async def job(self, column: str = "operator") -> str:
        """A fresh job of greeter by `column`, pending (no worker runs)."""
        return str((await self.ok("POST", "/v1/workflows/greeter/versions/current/async", ADA, column))["id"])

    async def new_job(self, column: str = "operator") -> str:
        """A fresh `new` job (made but not started) of greeter by `column`."""
        made = await self.ok("POST", f"/v1/jobs/{self.standing[column]}/duplicate", {"start": False}, column)
        return str(made["id"])

    async def ended_push_job(self, column: str) -> str:
        """A job by `column` submitted to push, then canceled: ended, with a delivery."""
        job_id = (await self.ok("POST", "/v1/workflows/greeter/versions/current/push", ADA, column))["id"]
        await self.ok("POST", f"/v1/jobs/{job_id}/cancel", column=column)
        return str(job_id)

    async def trigger(self) -> str:
        """A fresh webhook trigger of greeter."""
        return str((await self.ok("POST", "/v1/workflows/greeter/triggers", _GREETINGS))["id"])

    def signed_event(self) -> tuple[bytes, dict[str, str]]:
        """A greeting event for the standing trigger, and its Standard Webhooks headers (signed with its secret)."""
        body = json.dumps({"name": "Ada"}).encode()
        msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
        signature = Webhook(self.ids["trigger_secret"]).sign(msg_id, now, body)
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}
        return body, {**headers, "content-type": "application/json"}

    async def env_var(self) -> str:
        name = f"GONE_{self.number()}"
        await self.ok("PUT", f"/v1/workflows/greeter/env/{name}", {"value": "soon"})
        return name

    async def schedule(self) -> str:
        """A fresh hourly schedule of greeter."""
        body = {"interval": 3600, "inputs": ADA["inputs"], "name": f"hourly {self.number()}"}
        return str((await self.ok("POST", "/v1/workflows/greeter/schedules", body))["id"])

    async def backup(self) -> str:
        """A backup of greeter's draft, made by importing greeter's definition over it."""
        content, headers = multipart(package(GREETER), backup="true")
        response = await self.operator.post("/v1/workflows/greeter/import", content=content, headers=headers)
        assert response.status_code == 200, response.text
        return str(response.json()["report"]["backup"]["id"])

    async def api_key(self) -> str:
        return str((await issue_key(self.operator, "greeter", f"revoke {self.number()}"))["id"])

    async def user(self) -> str:
        """A fresh member of A, with no token."""
        body = {"email": f"user-{self.number()}@a.example", "name": "Fresh", "issue_token": False}
        return str((await self.ok("POST", "/v1/users", body))["id"])

    async def user_with_token(self) -> tuple[str, str]:
        """A fresh member of A with a token: their id, and the token's."""
        created = await self.ok("POST", "/v1/users", {"email": f"user-{self.number()}@a.example", "name": "Fresh"})
        tokens = await self.ok("GET", f"/v1/users/{created['id']}/tokens")
        return str(created["id"]), str(tokens["items"][0]["id"])

    async def invited_user(self) -> str:
        """A fresh member of A, invited to greeter as a viewer."""
        user_id = await self.user()
        await self.ok("PUT", f"/v1/workflows/greeter/members/{user_id}", {"role": "viewer"})
        return user_id

    async def own_token(self, column: str) -> str:
        """A fresh token of the column's user when it is one of A's users, else of A's owner."""
        holder = column if column in PEOPLE else "owner"
        return str((await self.ok("POST", "/v1/me/tokens", {"name": f"t{self.number()}"}, holder))["id"])

    async def scratch_workflow(self) -> tuple[str, httpx.AsyncClient]:
        """A fresh deployed workflow shared like greeter, and a client with a key of its own."""
        slug = f"scratch-{self.number()}"
        await deploy_workflow(self.operator, slug, GREETER)
        await self.share(slug)
        return slug, self.connect((await issue_key(self.operator, slug))["key"])

    async def ids_in_a(self) -> dict[str, set[str]]:
        """The ids of workspace A's workflows, jobs, audit entries and users, by the listing that shows them."""
        async with self.engine.connect() as conn:
            found = {
                url: {str(i) for i in (await conn.execute(sa.text(query), {"ws": DEFAULT_WORKSPACE_ID})).scalars()}
                for url, query in _A_LISTED.items()
            }
        return found

    async def a_rows(self) -> dict[str, tuple[int, int]]:
        """A fingerprint of workspace A's rows: per table, how many and a hash of their content."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(_FINGERPRINT, {"ws": DEFAULT_WORKSPACE_ID})).all()
        return {table: (count, digest) for table, count, digest in rows}
