from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.core.ids import parse_uuid
from workflow_service.models import Workflow, WorkflowEnv, WorkflowMember, WorkflowVersion, Workspace
from workflow_service.workflows import pg
from workflow_service.workflows.refs import ScopedRef

workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]
member_t: sa.Table = WorkflowMember.__table__  # type: ignore[assignment]
version_t: sa.Table = WorkflowVersion.__table__  # type: ignore[assignment]
env_t: sa.Table = WorkflowEnv.__table__  # type: ignore[assignment]
workspace_t: sa.Table = Workspace.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Visible:
    """Which workflows a listing shows: a workspace's, and for a member only those they were invited to."""

    workspace_id: uuid.UUID
    member: uuid.UUID | None = None
    """The user id of a workspace member (not an owner or admin), else None: every workflow of the workspace."""


def _by_ref(ref: ScopedRef) -> sa.ColumnElement[bool]:
    as_id = parse_uuid(ref)
    named = workflow_t.c.id == as_id if as_id is not None else workflow_t.c.slug == str(ref)
    return sa.and_(named, workflow_t.c.workspace_id == ref.workspace_id)


async def get(conn: AsyncConnection, ref: ScopedRef, *, for_update: bool = False) -> AnyRow | None:
    """The workflow `ref` names in its workspace."""
    stmt = sa.select(workflow_t).where(_by_ref(ref))
    if for_update:
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).first()


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(workflow_t.insert().values(values))


async def update(conn: AsyncConnection, workflow_id: uuid.UUID, values: dict[str, Any]) -> None:
    await conn.execute(workflow_t.update().where(workflow_t.c.id == workflow_id).values(values))


async def list_page(conn: AsyncConnection, visible: Visible, before: uuid.UUID | None, limit: int) -> Sequence[AnyRow]:
    """The workflows of a workspace `visible` shows, newest first, from before the workflow `before`."""
    stmt = sa.select(
        workflow_t.c.id,
        workflow_t.c.slug,
        workflow_t.c.name,
        workflow_t.c.description,
        workflow_t.c.current_version,
        workflow_t.c.created_at,
        workflow_t.c.updated_at,
    )
    stmt = stmt.where(workflow_t.c.workspace_id == visible.workspace_id)
    if visible.member is not None:
        invited = sa.select(member_t.c.workflow_id).where(member_t.c.user_id == visible.member)
        stmt = stmt.where(workflow_t.c.id.in_(invited))
    if before is not None:
        stmt = stmt.where(workflow_t.c.id < before)
    return (await conn.execute(stmt.order_by(workflow_t.c.id.desc()).limit(limit))).all()


async def delete(conn: AsyncConnection, workflow_id: uuid.UUID) -> None:
    """Delete the workflow; its versions, API keys, environment variables, members and deliveries go with it (ON
    DELETE CASCADE). Its jobs must be deleted first (jobs/deletion.py): they hold its versions."""
    await conn.execute(workflow_t.delete().where(workflow_t.c.id == workflow_id))


async def workspace_retention(conn: AsyncConnection, workspace_id: uuid.UUID) -> int | None:
    """The workspace's default retention in days (null: ended jobs are kept forever)."""
    stmt = sa.select(workspace_t.c.retention_days).where(workspace_t.c.id == workspace_id)
    days: int | None = (await conn.execute(stmt)).scalar_one_or_none()
    return days


async def insert_version(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(version_t.insert().values(values))


async def max_version(conn: AsyncConnection, workflow_id: uuid.UUID) -> int:
    stmt = sa.select(sa.func.coalesce(sa.func.max(version_t.c.number), 0)).where(version_t.c.workflow_id == workflow_id)
    return int((await conn.execute(stmt)).scalar_one())


async def get_version(conn: AsyncConnection, workflow_id: uuid.UUID, number: int) -> AnyRow | None:
    stmt = sa.select(version_t).where(version_t.c.workflow_id == workflow_id, version_t.c.number == number)
    return (await conn.execute(stmt)).first()


async def list_versions(conn: AsyncConnection, workflow_id: uuid.UUID) -> Sequence[AnyRow]:
    stmt = (
        sa.select(version_t.c.number, version_t.c.content_hash, version_t.c.created_at)
        .where(version_t.c.workflow_id == workflow_id)
        .order_by(version_t.c.number.desc())
    )
    return (await conn.execute(stmt)).all()


async def get_by_id(conn: AsyncConnection, workflow_id: uuid.UUID) -> AnyRow | None:
    """A workflow by its id, whatever its workspace: for what the service itself reads (a job's workflow)."""
    return (await conn.execute(sa.select(workflow_t).where(workflow_t.c.id == workflow_id))).first()


async def resolve_for_submit(conn: AsyncConnection, ref: ScopedRef, number: int | None) -> Any:
    """The workflow and the version a submission targets (`number` None means current), in one query.

    The version columns are null when the workflow exists but that version does not.
    """
    if conn.dialect.name == "postgresql":
        return await pg.resolve_for_submit(conn, ref, number)
    on = version_t.c.workflow_id == workflow_t.c.id
    on = sa.and_(on, version_t.c.number == (number if number is not None else workflow_t.c.current_version))
    stmt = (
        sa.select(
            workflow_t.c.id.label("workflow_id"),
            workflow_t.c.workspace_id,
            workflow_t.c.slug,
            workflow_t.c.current_version,
            version_t.c.id.label("version_id"),
            version_t.c.number,
            version_t.c.content_hash,
            workflow_t.c.settings,
        )
        .select_from(workflow_t.outerjoin(version_t, on))
        .where(_by_ref(ref))
    )
    return (await conn.execute(stmt)).first()


async def get_definition(conn: AsyncConnection, version_id: uuid.UUID) -> AnyRow | None:
    stmt = sa.select(version_t.c.definition, version_t.c.content_hash).where(version_t.c.id == version_id)
    return (await conn.execute(stmt)).first()


async def lock_all_settings(conn: AsyncConnection) -> Sequence[AnyRow]:
    """Every workflow's id and endpoint settings, locked (the secret key rotation rewrites them)."""
    return (await conn.execute(sa.select(workflow_t.c.id, workflow_t.c.settings).with_for_update())).all()


async def set_settings(conn: AsyncConnection, workflow_id: uuid.UUID, settings: dict[str, Any]) -> None:
    """Replace the workflow's endpoint settings row value."""
    await conn.execute(workflow_t.update().where(workflow_t.c.id == workflow_id).values(settings=settings))


# Environment variables (workflows/env.py).


async def get_env_var(conn: AsyncConnection, workflow_id: uuid.UUID, name: str) -> AnyRow | None:
    stmt = sa.select(env_t).where(env_t.c.workflow_id == workflow_id, env_t.c.name == name)
    return (await conn.execute(stmt)).first()


async def list_env_vars(conn: AsyncConnection, workflow_id: uuid.UUID) -> Sequence[AnyRow]:
    """The workflow's variables by name."""
    stmt = sa.select(env_t).where(env_t.c.workflow_id == workflow_id).order_by(env_t.c.name)
    return (await conn.execute(stmt)).all()


async def insert_env_var(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(env_t.insert().values(values))


async def update_env_var(conn: AsyncConnection, var_id: uuid.UUID, values: dict[str, Any]) -> None:
    await conn.execute(env_t.update().where(env_t.c.id == var_id).values(values))


async def delete_env_var(conn: AsyncConnection, workflow_id: uuid.UUID, name: str) -> bool:
    """Remove the variable; False when there is none by that name."""
    result = await conn.execute(env_t.delete().where(env_t.c.workflow_id == workflow_id, env_t.c.name == name))
    return bool(result.rowcount)


async def env_rows(conn: AsyncConnection, workflow_id: uuid.UUID) -> list[dict[str, Any]]:
    """The workflow's variables as stored ({name, value, secure})."""
    stmt = sa.select(env_t.c.name, env_t.c.value, env_t.c.secure).where(env_t.c.workflow_id == workflow_id)
    return [dict(row._mapping) for row in await conn.execute(stmt)]


async def lock_secure_env_vars(conn: AsyncConnection) -> Sequence[AnyRow]:
    """Every secure variable's id and stored value, locked (the secret key rotation rewrites them)."""
    return (await conn.execute(sa.select(env_t.c.id, env_t.c.value).where(env_t.c.secure).with_for_update())).all()


async def lock_settings(conn: AsyncConnection, workflow_id: uuid.UUID) -> dict[str, Any] | None:
    """The workflow's endpoint settings, its row locked until the transaction ends."""
    stmt = sa.select(workflow_t.c.settings).where(workflow_t.c.id == workflow_id).with_for_update()
    settings: dict[str, Any] | None = (await conn.execute(stmt)).scalar_one()
    return settings
