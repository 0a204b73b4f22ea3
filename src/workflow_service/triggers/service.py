"""Managing a workflow's event triggers: create (the secret shown once), read, change, pause and resume, rotate the
secret, delete. Every lookup is of the workflow in the caller's workspace first: another workspace's trigger, or
another workflow's, is a 404 exactly like a missing one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.audit.redact import Changed, changes
from workflow_service.core.clock import utcnow
from workflow_service.core.db import AnyRow
from workflow_service.core.ids import parse_uuid, uuid7
from workflow_service.core.secrets import Secrets
from workflow_service.engine.definition import PlanCache
from workflow_service.errors import InvalidInput, NotFound
from workflow_service.triggers import credentials, events, history, mapping
from workflow_service.triggers import repository as repo
from workflow_service.triggers.schemas import (
    TriggerCreate,
    TriggerCreated,
    TriggerEventPage,
    TriggerHistory,
    TriggerMapping,
    TriggerRead,
    TriggerUpdate,
    Version,
)
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows import service as workflows
from workflow_service.workflows.refs import ScopedRef
from workflow_service.workflows.schemas import WorkflowRef

HOOKS_PATH = "/v1/hooks"
"""Where triggers' URLs are: `{base}/v1/hooks/{trigger id}`."""


@dataclass(frozen=True, slots=True)
class Setup:
    """What saving a trigger needs besides the database: the compiled versions (to check the variables the mapping
    sets), the keys that encrypt its secret, and the base of its URL."""

    plans: PlanCache
    keys: Secrets
    base_url: str


def hook_url(base_url: str, trigger_id: uuid.UUID) -> str:
    return f"{base_url}{HOOKS_PATH}/{trigger_id}"


def read(row: Any, workflow: Any, base_url: str) -> TriggerRead:
    """A trigger row of `workflow` (anything with its id and slug) as shown (never its secrets: how many work)."""
    return TriggerRead(
        id=row.id,
        workflow=WorkflowRef(id=workflow.id, slug=workflow.slug),
        type=row.type,
        name=row.name,
        description=row.description,
        auth=row.auth,
        url=hook_url(base_url, row.id),
        version="current" if row.version is None else row.version,
        mapping=TriggerMapping.model_validate(row.mapping),
        pool=row.pool,
        paused=row.paused,
        secrets=len(credentials.active(row.secrets, utcnow())),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _workflow(conn: AsyncConnection, ref: ScopedRef) -> AnyRow:
    row = await workflow_repo.get(conn, ref)
    if row is None:
        raise NotFound(f"workflow {ref!r} does not exist")
    return row


async def _trigger(
    conn: AsyncConnection, ref: ScopedRef, trigger_id: str, *, for_update: bool = False
) -> tuple[AnyRow, AnyRow]:
    """The workflow `ref` names in its workspace, and its trigger `trigger_id` (404 for either missing)."""
    workflow = await _workflow(conn, ref)
    parsed = parse_uuid(trigger_id)
    row = None if parsed is None else await repo.get(conn, workflow.id, parsed, for_update=for_update)
    if row is None:
        raise NotFound(f"workflow {workflow.slug!r} has no trigger {trigger_id!r}")
    return workflow, row


async def _check_target(conn: AsyncConnection, plans: PlanCache, workflow: AnyRow, data: TriggerCreate) -> None:
    """422 when the version is a number the workflow has not deployed, or the mapping sets a variable that version
    (or the current one) does not define. Before the first deploy there is nothing to check `current` against."""
    number = workflow.current_version if data.version == "current" else data.version
    version = None if number is None else await workflow_repo.get_version(conn, workflow.id, number)
    if version is None:
        if data.version != "current":
            message = f"workflow {workflow.slug!r} has no version {data.version}"
            raise InvalidInput(message, errors=[{"path": "$.version", "message": message}])
        return
    mapping.check_variables(await workflows.plan_for(conn, plans, version.id), data.mapping)


def _stored_version(version: Version) -> int | None:
    return None if version == "current" else int(version)


async def create(
    conn: AsyncConnection, ref: ScopedRef, data: TriggerCreate, setup: Setup, actor: str
) -> TriggerCreated:
    """Create a trigger of the workflow; the answer is the only time its secret is shown."""
    workflow = await _workflow(conn, ref)
    mapping.compile_mapping(data.mapping)
    await _check_target(conn, setup.plans, workflow, data)
    now = utcnow()
    secret = credentials.new_secret(data.auth)
    values = {
        "id": uuid7(),
        "workspace_id": ref.workspace_id,
        "workflow_id": workflow.id,
        "type": data.type,
        "name": data.name,
        "description": data.description,
        "auth": data.auth,
        "secrets": [credentials.stored(data.auth, secret, setup.keys, now)],
        "version": _stored_version(data.version),
        "mapping": data.mapping.model_dump(mode="json"),
        "pool": data.pool,
        "paused": False,
        "created_by": actor,
        "created_at": now,
        "updated_at": now,
    }
    await repo.insert(conn, values)
    row = await repo.get(conn, workflow.id, values["id"])
    assert row is not None, "inserted in this transaction"
    return TriggerCreated(**read(row, workflow, setup.base_url).model_dump(), secret=secret)


async def get(conn: AsyncConnection, ref: ScopedRef, trigger_id: str, base_url: str) -> TriggerRead:
    workflow, row = await _trigger(conn, ref, trigger_id)
    return read(row, workflow, base_url)


def _config(row: Any) -> dict[str, Any]:
    """What a change compares (for its audit entry)."""
    return {
        "name": row.name,
        "description": row.description,
        "version": row.version,
        "mapping": row.mapping,
        "pool": row.pool,
        "paused": row.paused,
    }


async def _changed(
    conn: AsyncConnection, workflow: AnyRow, row: AnyRow, values: dict[str, Any], base_url: str
) -> Changed[TriggerRead]:
    """Apply `values` to the trigger `row` (locked): what it is now, and what changed (nothing: no write)."""
    before = _config(row)
    found = changes(before, {**before, **{k: v for k, v in values.items() if k in before}})
    if found or "secrets" in values:
        await repo.update(conn, row.id, {**values, "updated_at": utcnow()})
        now = await repo.get(conn, workflow.id, row.id)
        assert now is not None, "locked in this transaction"
        row = now
    return Changed(read(row, workflow, base_url), found)


async def update(
    conn: AsyncConnection, ref: ScopedRef, trigger_id: str, data: TriggerUpdate, setup: Setup
) -> Changed[TriggerRead]:
    """Change what was sent of the trigger (the mapping is compiled, and checked as at creation)."""
    workflow, row = await _trigger(conn, ref, trigger_id, for_update=True)
    sent = data.model_dump(exclude_unset=True, mode="json")
    values: dict[str, Any] = {k: v for k, v in sent.items() if k in ("name", "description", "pool")}
    if data.mapping is not None or data.version is not None:
        merged = TriggerCreate(
            type=row.type,
            name=row.name,
            version=data.version if data.version is not None else ("current" if row.version is None else row.version),
            mapping=data.mapping if data.mapping is not None else TriggerMapping.model_validate(row.mapping),
        )
        mapping.compile_mapping(merged.mapping)
        await _check_target(conn, setup.plans, workflow, merged)
        values |= {"version": _stored_version(merged.version), "mapping": merged.mapping.model_dump(mode="json")}
    return await _changed(conn, workflow, row, values, setup.base_url)


async def set_paused(
    conn: AsyncConnection, ref: ScopedRef, trigger_id: str, paused: bool, base_url: str
) -> Changed[TriggerRead]:
    """Pause (its URL refuses events with 409) or resume the trigger; already so, nothing changes."""
    workflow, row = await _trigger(conn, ref, trigger_id, for_update=True)
    return await _changed(conn, workflow, row, {"paused": paused}, base_url)


async def rotate(conn: AsyncConnection, ref: ScopedRef, trigger_id: str, setup: Setup) -> TriggerCreated:
    """A new secret, shown only in this answer; the ones before keep working for 24 hours."""
    workflow, row = await _trigger(conn, ref, trigger_id, for_update=True)
    now = utcnow()
    secret = credentials.new_secret(row.auth)
    entries = credentials.rotated(row.secrets, credentials.stored(row.auth, secret, setup.keys, now), now)
    done = await _changed(conn, workflow, row, {"secrets": entries}, setup.base_url)
    return TriggerCreated(**done.value.model_dump(), secret=secret)


@dataclass(frozen=True, slots=True)
class Deleted:
    workflow: WorkflowRef
    id: uuid.UUID
    name: str


async def delete(conn: AsyncConnection, ref: ScopedRef, trigger_id: str) -> Deleted:
    """Delete the trigger with its events; its URL is a 404 from then on (the jobs it made stay)."""
    workflow, row = await _trigger(conn, ref, trigger_id, for_update=True)
    await repo.delete(conn, row.id)
    return Deleted(WorkflowRef(id=workflow.id, slug=workflow.slug), row.id, row.name)


async def events_page(
    conn: AsyncConnection, ref: ScopedRef, trigger_id: str, cursor: str | None, limit: int
) -> TriggerEventPage:
    """The trigger's events, newest first: the job each created, or why it was refused."""
    _, row = await _trigger(conn, ref, trigger_id)
    return await events.page(conn, row.id, cursor, limit)


async def history_of(conn: AsyncConnection, ref: ScopedRef) -> TriggerHistory:
    """The workflow's trigger history (triggers/history.py)."""
    return await history.history(conn, (await _workflow(conn, ref)).id)


async def reseal_all(conn: AsyncConnection, keys: Secrets) -> int:
    """Re-encrypt every trigger's signing secrets with the newest key; how many secrets that was."""
    count = 0
    for row in await repo.sealed(conn):
        await repo.update(conn, row.id, {"secrets": credentials.resealed(row.secrets, keys)})
        count += len(row.secrets)
    return count
