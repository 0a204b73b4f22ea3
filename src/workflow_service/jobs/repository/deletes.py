"""Deleting jobs: by id, every job of a workflow, and the retention sweep's batches.

A job's row is all there is to delete: its steps, events, deliveries and their attempts go with it (ON DELETE
CASCADE, each on an indexed column). Audit entries have no foreign key and stay.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.core.ids import uuid7_floor
from workflow_service.jobs.repository.tables import job_t, workflow_t
from workflow_service.jobs.states import TERMINAL, values
from workflow_service.models import Workspace

workspace_t: sa.Table = Workspace.__table__  # type: ignore[assignment]

_ENDED = values(TERMINAL)
ID_MARGIN = timedelta(days=1)
"""How far past a cutoff the retention sweep's id range reaches: more than any gap between a job's id (made by
the clock that then stamps its created_at) and its creation."""


async def lock_jobs(conn: AsyncConnection, job_ids: Sequence[uuid.UUID]) -> Sequence[AnyRow]:
    """The jobs of `job_ids` that exist, with their status, locked in id order (so that two deletes of
    overlapping sets cannot deadlock)."""
    stmt = sa.select(job_t.c.id, job_t.c.status).where(job_t.c.id.in_(job_ids)).order_by(job_t.c.id)
    return (await conn.execute(stmt.with_for_update())).all()


async def delete_jobs(conn: AsyncConnection, job_ids: Sequence[uuid.UUID]) -> int:
    """Delete the jobs `job_ids` with everything of theirs; how many there were."""
    if not job_ids:
        return 0
    return int((await conn.execute(job_t.delete().where(job_t.c.id.in_(job_ids)))).rowcount)


async def count_active(conn: AsyncConnection, workflow_id: uuid.UUID) -> int:
    """How many of the workflow's jobs have not ended (`new` ones included)."""
    stmt = sa.select(sa.func.count()).where(job_t.c.workflow_id == workflow_id, job_t.c.status.not_in(_ENDED))
    return int((await conn.execute(stmt)).scalar_one())


async def lock_active(conn: AsyncConnection, workflow_id: uuid.UUID) -> Sequence[AnyRow]:
    """The workflow's jobs that have not ended, with their status, locked in id order."""
    stmt = (
        sa.select(job_t.c.id, job_t.c.status)
        .where(job_t.c.workflow_id == workflow_id, job_t.c.status.not_in(_ENDED))
        .order_by(job_t.c.id)
    )
    return (await conn.execute(stmt.with_for_update())).all()


async def delete_workflow_jobs(conn: AsyncConnection, workflow_id: uuid.UUID) -> int:
    """Delete every job of the workflow (they must have ended) with everything of theirs; how many."""
    return int((await conn.execute(job_t.delete().where(job_t.c.workflow_id == workflow_id))).rowcount)


async def retention_policies(conn: AsyncConnection) -> Sequence[AnyRow]:
    """Every workflow's `retention_days` endpoint setting (a number, `forever`, or null: unset) and its
    workspace's `retention_days` (null: kept forever), read without the rest of the settings."""
    stmt = sa.select(
        workflow_t.c.id,
        workflow_t.c.settings["retention_days"].label("retention_days"),
        workspace_t.c.retention_days.label("workspace_retention_days"),
    ).select_from(workflow_t.join(workspace_t, workspace_t.c.id == workflow_t.c.workspace_id))
    return (await conn.execute(stmt.order_by(workflow_t.c.id))).all()


async def expired(
    conn: AsyncConnection, workflow_id: uuid.UUID, cutoff: datetime, *, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """Up to `limit` of the workflow's ended jobs that finished before `cutoff`, in id order after the id
    `after`, locked (those another transaction holds are skipped, never waited for).

    No index was added for this, so that job inserts pay nothing for it: the query walks the existing
    (workflow_id, id) index, in id order. Job ids are UUIDv7 (core/ids.py), ordered by creation time, and a job
    finishes after it is created: every job that finished before `cutoff` has an id below the first id of
    `cutoff` (plus ID_MARGIN). That bound ends the walk at the cutoff, so the last, empty batch does not read
    the workflow's recent jobs; `after` (the previous batch's last id) keeps the batches from reading again the
    jobs they passed over (still active, or locked). The status and `finished_at` are checked on the rows.
    """
    stmt = sa.select(job_t.c.id).where(
        job_t.c.workflow_id == workflow_id,
        job_t.c.id < uuid7_floor(cutoff + ID_MARGIN),
        job_t.c.status.in_(_ENDED),
        job_t.c.finished_at < cutoff,
    )
    if after is not None:
        stmt = stmt.where(job_t.c.id > after)
    stmt = stmt.order_by(job_t.c.id).limit(limit).with_for_update(skip_locked=True)
    return list((await conn.execute(stmt)).scalars())
