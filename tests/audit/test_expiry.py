"""Keys and tokens expiring: the sweep marks those past `expires_at` revoked as of it and records each once,
by `system` (`apikey.expired`, `token.expired`), on PostgreSQL and SQLite, however many sweeps run at once;
every worker runs it where it runs the reconciler."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.audit.conftest import entries_since, make_user
from tests.conftest import DEFAULT_CREATOR, ClientFactory, WorkerFactory, connections, default_ref, eventually
from tests.jobs.conftest import GREETER
from workflow_service.access.expiry import Expired, expire_credentials
from workflow_service.apikeys import service as keys
from workflow_service.apikeys.schemas import ApiKeyCreate
from workflow_service.config import Settings
from workflow_service.core.clock import utcnow
from workflow_service.core.db import make_engine
from workflow_service.migrate import upgrade
from workflow_service.models import DEFAULT_WORKSPACE_ID, ApiKey, PersonalToken
from workflow_service.workflows import service as workflows
from workflow_service.workflows.schemas import WorkflowCreate


async def _keys(engine: AsyncEngine, *days: int | None) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A workflow `greeter` with a key per entry of `days` (expiring in that many days; None: never)."""
    async with engine.begin() as conn:
        made = await workflows.create(conn, WorkflowCreate(name="greeter", definition=GREETER), "", DEFAULT_CREATOR)
        ids = []
        for n, expiring in enumerate(days):
            data = ApiKeyCreate(name=f"key {n}", expires_in_days=expiring)
            ids.append((await keys.create(conn, default_ref("greeter"), data, "admin")).id)
    return made.id, ids


async def _revoked_at(
    engine: AsyncEngine, table: type[ApiKey] | type[PersonalToken], row_id: uuid.UUID
) -> tuple[datetime | None, datetime | None]:
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(table.revoked_at, table.expires_at).where(table.id == row_id))).one()
    return row.revoked_at, row.expires_at


async def test_expired_keys_and_tokens_are_revoked_and_recorded_once(db: AsyncEngine) -> None:
    workflow_id, (soon, later, never) = await _keys(db, 1, 3, None)
    now = utcnow()
    person = await make_user(db, "ada@example.com", expires_at=now + timedelta(days=1))
    gone = await make_user(db, "bob@example.com", expires_at=now + timedelta(hours=1))
    async with db.begin() as conn:  # revoked before it expired: nothing left to do
        await conn.execute(sa.update(PersonalToken).where(PersonalToken.id == gone.token_id).values(revoked_at=now))

    assert await expire_credentials(db, now + timedelta(hours=12)) == Expired(0, 0)
    assert await expire_credentials(db, now + timedelta(days=2)) == Expired(1, 1)
    assert await expire_credentials(db, now + timedelta(days=2)) == Expired(0, 0)

    revoked_at, expires_at = await _revoked_at(db, ApiKey, soon)
    assert revoked_at == expires_at
    for other in (later, never):
        assert (await _revoked_at(db, ApiKey, other))[0] is None
    key_entry, token_entry = await entries_since(db, 0)
    assert (key_entry["action"], key_entry["category"], key_entry["actor"]) == ("apikey.expired", "apikey", "system")
    assert (key_entry["target_id"], key_entry["target_name"]) == (str(soon), "key 0")
    assert (key_entry["workspace_id"], key_entry["workflow_id"]) == (DEFAULT_WORKSPACE_ID, workflow_id)
    assert datetime.fromisoformat(key_entry["changes"]["revoked_at"]["after"]) == expires_at
    assert key_entry["changes"]["revoked_at"]["before"] is None
    assert (token_entry["action"], token_entry["category"], token_entry["actor"]) == (
        "token.expired",
        "token",
        "system",
    )
    assert (token_entry["target_id"], token_entry["workspace_id"]) == (str(person.token_id), DEFAULT_WORKSPACE_ID)
    assert person.email in token_entry["description"]
    token_revoked_at, token_expires_at = await _revoked_at(db, PersonalToken, person.token_id)
    assert token_revoked_at == token_expires_at


async def test_concurrent_sweeps_revoke_and_record_each_key_once(engine: AsyncEngine) -> None:
    _, ids = await _keys(engine, *([1] * 30))
    later = utcnow() + timedelta(days=2)
    done = await asyncio.gather(*(expire_credentials(engine, later, batch=7) for _ in range(6)))
    assert sum(d.keys for d in done) == 30
    targets = [e["target_id"] for e in await entries_since(engine, 0)]
    assert sorted(targets) == sorted(str(i) for i in ids)


async def test_an_expired_key_still_says_it_expired_once_the_sweep_revoked_it(
    admin: httpx.AsyncClient, connect: ClientFactory, engine: AsyncEngine
) -> None:
    assert (await admin.post("/v1/workflows", json={"name": "greeter", "definition": GREETER})).is_success
    created = await admin.post("/v1/workflows/greeter/api-keys", json={"name": "ci", "expires_in_days": 1})
    key_id = created.json()["id"]
    async with engine.begin() as conn:
        await conn.execute(sa.update(ApiKey).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await expire_credentials(engine) == Expired(1, 0)
    refused = await connect(created.json()["key"]).get("/v1/workflows/greeter")
    assert (refused.status_code, refused.json()["detail"]) == (401, "the API key has expired")
    listed = (await admin.get("/v1/workflows/greeter/api-keys")).json()["items"]
    assert key_id not in [k["id"] for k in listed]


async def test_a_worker_sweeps_where_it_reconciles(engine: AsyncEngine, start_worker: WorkerFactory) -> None:
    _, [key_id] = await _keys(engine, 1)
    async with engine.begin() as conn:
        await conn.execute(sa.update(ApiKey).values(expires_at=utcnow() - timedelta(seconds=1)))
    await start_worker()

    async def recorded() -> list[str]:
        return [e["target_id"] for e in await entries_since(engine, 0) if e["action"] == "apikey.expired"]

    assert await eventually(recorded, "the expiry entry") == [str(key_id)]


async def test_the_embedded_worker_sweeps_too(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, admin_token=SecretStr("embedded"), database_url=None, redis_url=None)
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    async with connections(settings) as connect, connect("embedded") as admin:
        assert (await admin.post("/v1/workflows", json={"name": "greeter", "definition": GREETER})).is_success
        created = await admin.post("/v1/workflows/greeter/api-keys", json={"name": "ci", "expires_in_days": 1})
    database = make_engine(settings.effective_database_url)
    try:
        async with database.begin() as conn:
            await conn.execute(sa.update(ApiKey).values(expires_at=utcnow() - timedelta(seconds=1)))
    finally:
        await database.dispose()
    async with connections(settings) as connect, connect("embedded") as admin:  # its worker starts with it

        async def recorded() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = (await admin.get("/v1/audit-log?action=apikey.expired")).json()["items"]
            return found

        [entry] = await eventually(recorded, "the expiry entry")
    assert (entry["actor"], entry["target_id"]) == ("system", created.json()["id"])
