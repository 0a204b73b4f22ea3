from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.core.ids import parse_uuid
from workflow_service.models import Workflow, WorkflowVersion
from workflow_service.workflows import pg

workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]
version_t: sa.Table = WorkflowVersion.__table__  # type: ignore[assignment]


def _by_ref(ref: str) -> sa.ColumnElement[bool]:
    as_id = parse_uuid(ref)
    return workflow_t.c.id == as_id if as_id is not None else workflow_t.c.slug == ref


async def get(conn: AsyncConnection, ref: str, *, for_update: bool = False) -> AnyRow | None:
    stmt = sa.select(workflow_t).where(_by_ref(ref))
    if for_update:
        stmt = stmt.with_for_update()
    return (await conn.execute(stmt)).first()


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(workflow_t.insert().values(values))


async def update(conn: AsyncConnection, workflow_id: uuid.UUID, values: dict[str, Any]) -> None:
    await conn.execute(workflow_t.update().where(workflow_t.c.id == workflow_id).values(values))


async def list_page(conn: AsyncConnection, before: uuid.UUID | None, limit: int) -> Sequence[AnyRow]:
    stmt = sa.select(
        workflow_t.c.id,
        workflow_t.c.slug,
        workflow_t.c.name,
        workflow_t.c.description,
        workflow_t.c.current_version,
        workflow_t.c.created_at,
        workflow_t.c.updated_at,
    )
    if before is not None:
        stmt = stmt.where(workflow_t.c.id < before)
    return (await conn.execute(stmt.order_by(workflow_t.c.id.desc()).limit(limit))).all()


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


async def resolve_for_submit(conn: AsyncConnection, ref: str, number: int | None) -> Any:
    """The workflow and the version a submission targets (`number` None means current), in one query.

    The version columns are null when the workflow exists but that version does not.
    """
    if conn.dialect.name == "postgresql":
        return await pg.resolve_for_submit(conn, parse_uuid(ref), ref, number)
    on = version_t.c.workflow_id == workflow_t.c.id
    on = sa.and_(on, version_t.c.number == (number if number is not None else workflow_t.c.current_version))
    stmt = (
        sa.select(
            workflow_t.c.id.label("workflow_id"),
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
