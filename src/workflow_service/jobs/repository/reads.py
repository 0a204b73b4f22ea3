"""Reading jobs: one job and its steps and events, the rows a service locks before it decides,
what lineage and child jobs take from another job, and the history an estimate learns from."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.engine.executor import STEP_RECORD_COLUMNS
from workflow_service.jobs.repository.tables import (
    event_t,
    is_postgres,
    job_t,
    key_t,
    newest_computed,
    step_t,
    user_t,
    version_t,
    workflow_t,
)
from workflow_service.jobs.states import StepStatus
from workflow_service.people import repository as people_repo

SUMMARY_COLUMNS = (
    job_t.c.id,
    job_t.c.workflow_id,
    workflow_t.c.slug,
    job_t.c.version_number,
    job_t.c.name,
    job_t.c.status,
    job_t.c.pool,
    job_t.c.error,
    job_t.c.attempt,
    job_t.c.agent_id,
    job_t.c.created_at,
    job_t.c.updated_at,
    job_t.c.started_at,
    job_t.c.finished_at,
    job_t.c.source_job_id,
    job_t.c.source_kind,
    job_t.c.from_step,
    job_t.c.cache_hit,
    job_t.c.input_tokens,
    job_t.c.output_tokens,
    job_t.c.cost,
    job_t.c.caller,
    job_t.c.origin,
    user_t.c.email.label("creator_email"),
    key_t.c.name.label("creator_key_name"),
)
"""A job's summary, with its creator's name: the user's email or the key's name (see `with_creator`)."""
JOB_COLUMNS = (
    *SUMMARY_COLUMNS,
    job_t.c.inputs,
    job_t.c.variables,
    job_t.c.metadata,
    job_t.c.output,
    job_t.c.max_attempts,
    job_t.c.parent_job_id,
    job_t.c.parent_step,
)
_FROM = job_t.join(workflow_t, workflow_t.c.id == job_t.c.workflow_id)


def _creator_id(conn: AsyncConnection, prefix: str) -> sa.ColumnElement[Any]:
    """SQL for the id in `job.caller` when it starts with `prefix` (`user:`, `key:`), as the id column stores it
    (a UUID on PostgreSQL, 32 hex digits on SQLite), else null: an outer join on it finds the row by its key."""
    rest = sa.func.substr(job_t.c.caller, len(prefix) + 1)
    as_id = sa.cast(rest, sa.Uuid) if is_postgres(conn) else sa.func.replace(rest, "-", "")
    return sa.case((job_t.c.caller.startswith(prefix), as_id))


def with_creator(conn: AsyncConnection, joined: sa.FromClause) -> sa.FromClause:
    """`joined` (which has the job) with the user or API key that created the job, for SUMMARY_COLUMNS: in the
    same query, by primary key, so a listing costs no round trip per job. A revoked key is still found."""
    return joined.outerjoin(user_t, user_t.c.id == _creator_id(conn, "user:")).outerjoin(
        key_t, key_t.c.id == _creator_id(conn, "key:")
    )


def joined_with_creator(conn: AsyncConnection) -> sa.FromClause:
    """The job with its workflow and its creator, for SUMMARY_COLUMNS (a listing's FROM)."""
    return with_creator(conn, _FROM)


async def get_job(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow | None:
    """The job, with its creator's name and its version's default variables (to show the effective ones)."""
    defaults = version_t.c.definition["variables"].label("default_variables")
    joined = with_creator(conn, _FROM.join(version_t, version_t.c.id == job_t.c.version_id))
    stmt = sa.select(*JOB_COLUMNS, defaults).select_from(joined).where(job_t.c.id == job_id)
    return (await conn.execute(stmt)).first()


async def exists(conn: AsyncConnection, job_id: uuid.UUID) -> bool:
    return (await conn.execute(sa.select(job_t.c.id).where(job_t.c.id == job_id))).first() is not None


async def access_facts(conn: AsyncConnection, job_id: uuid.UUID, user_id: uuid.UUID | None) -> AnyRow | None:
    """What the access policy reads of a job: its creator (`caller`), workspace and workflow, and for a user
    their invited role on that workflow (`member_role`, null when not invited or `user_id` is None)."""
    role = sa.null() if user_id is None else people_repo.role_of(user_id, job_t.c.workflow_id)
    stmt = sa.select(job_t.c.caller, job_t.c.workspace_id, job_t.c.workflow_id, role.label("member_role"))
    return (await conn.execute(stmt.where(job_t.c.id == job_id))).first()


async def access_facts_of(
    conn: AsyncConnection, job_ids: Sequence[uuid.UUID], user_id: uuid.UUID | None
) -> dict[uuid.UUID, AnyRow]:
    """`access_facts` of several jobs in one query, by id (a missing job is not in it)."""
    role = sa.null() if user_id is None else people_repo.role_of(user_id, job_t.c.workflow_id)
    columns = (job_t.c.id, job_t.c.caller, job_t.c.workspace_id, job_t.c.workflow_id, role.label("member_role"))
    rows = await conn.execute(sa.select(*columns).where(job_t.c.id.in_(job_ids)))
    return {row.id: row for row in rows}


async def lock_for_update(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow | None:
    """What a change of a job (PATCH) decides on, its row locked."""
    stmt = sa.select(job_t.c.status, job_t.c.name, job_t.c.variables, job_t.c.version_id).where(job_t.c.id == job_id)
    return (await conn.execute(stmt.with_for_update())).first()


async def get_steps(conn: AsyncConnection, job_id: uuid.UUID) -> Sequence[AnyRow]:
    stmt = (
        sa.select(*(step_t.c[name] for name in STEP_RECORD_COLUMNS))
        .where(step_t.c.job_id == job_id)
        .order_by(step_t.c.position)
    )
    return (await conn.execute(stmt)).all()


async def completed_outputs(conn: AsyncConnection, job_id: uuid.UUID) -> dict[str, Any]:
    """The outputs of the job's completed steps, by step id (what a retry or a run from a step skips)."""
    stmt = sa.select(step_t.c.step_id, step_t.c.output).where(
        step_t.c.job_id == job_id, step_t.c.status == StepStatus.COMPLETED.value
    )
    return {row.step_id: row.output for row in await conn.execute(stmt)}


async def get_events(conn: AsyncConnection, job_id: uuid.UUID) -> Sequence[AnyRow]:
    stmt = (
        sa.select(event_t.c.from_status, event_t.c.to_status, event_t.c.at, event_t.c.actor, event_t.c.reason)
        .where(event_t.c.job_id == job_id)
        .order_by(event_t.c.id)
    )
    return (await conn.execute(stmt)).all()


async def find_idempotent(conn: AsyncConnection, workflow_id: uuid.UUID, caller: str, key: str) -> AnyRow | None:
    stmt = sa.select(job_t.c.id, job_t.c.request_hash).where(
        job_t.c.workflow_id == workflow_id, job_t.c.caller == caller, job_t.c.idempotency_key == key
    )
    return (await conn.execute(stmt)).first()


async def lock_for_cancel(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow | None:
    stmt = sa.select(job_t.c.status, job_t.c.mode).where(job_t.c.id == job_id).with_for_update()
    return (await conn.execute(stmt)).first()


async def lock_for_start(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow | None:
    stmt = sa.select(job_t.c.status, job_t.c.pool, job_t.c.workflow_id).where(job_t.c.id == job_id).with_for_update()
    return (await conn.execute(stmt)).first()


async def get_source(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow | None:
    """What a rerun, run-from-step or duplicate copies from a job."""
    stmt = sa.select(
        job_t.c.id,
        job_t.c.workspace_id,
        job_t.c.workflow_id,
        job_t.c.version_id,
        job_t.c.version_number,
        job_t.c.name,
        job_t.c.pool,
        job_t.c.inputs,
        job_t.c.variables,
        job_t.c.metadata,
    ).where(job_t.c.id == job_id)
    return (await conn.execute(stmt)).first()


async def get_parent(conn: AsyncConnection, job_id: uuid.UUID) -> AnyRow:
    """What a child job takes from its parent: pool, caller, and the parent's own parent."""
    stmt = sa.select(job_t.c.pool, job_t.c.caller, job_t.c.parent_job_id, job_t.c.workspace_id).where(
        job_t.c.id == job_id
    )
    return (await conn.execute(stmt)).one()


async def child_of(conn: AsyncConnection, parent_id: uuid.UUID, step_id: str) -> uuid.UUID | None:
    """The newest child job the parent's step `step_id` started, if any."""
    stmt = (
        sa.select(job_t.c.id)
        .where(job_t.c.parent_job_id == parent_id, job_t.c.parent_step == step_id)
        .order_by(job_t.c.id.desc())
        .limit(1)
    )
    child: uuid.UUID | None = (await conn.execute(stmt)).scalar_one_or_none()
    return child


async def parent_of(conn: AsyncConnection, job_id: uuid.UUID) -> uuid.UUID | None:
    stmt = sa.select(job_t.c.parent_job_id).where(job_t.c.id == job_id)
    parent: uuid.UUID | None = (await conn.execute(stmt)).scalar_one_or_none()
    return parent


async def mean_output_tokens(
    conn: AsyncConnection, workflow_id: uuid.UUID, version_id: uuid.UUID, jobs: int
) -> dict[str, float]:
    """Mean output tokens per step over the version's last `jobs` completed (not cached) jobs."""
    recent = newest_computed(workflow_id, job_t.c.version_id == version_id).limit(jobs).subquery()
    stmt = (
        sa.select(step_t.c.step_id, sa.func.avg(step_t.c.output_tokens).label("mean"))
        .where(step_t.c.job_id.in_(sa.select(recent.c.id)), step_t.c.output_tokens.is_not(None))
        .group_by(step_t.c.step_id)
    )
    return {row.step_id: float(row.mean) for row in await conn.execute(stmt)}
