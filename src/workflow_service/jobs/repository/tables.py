"""The tables the job queries use, and the column sets several of them share."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.jobs.states import JobStatus
from workflow_service.models import ApiKey, Job, JobEvent, JobStep, User, Workflow, WorkflowEnv, WorkflowVersion

job_t: sa.Table = Job.__table__  # type: ignore[assignment]
event_t: sa.Table = JobEvent.__table__  # type: ignore[assignment]
step_t: sa.Table = JobStep.__table__  # type: ignore[assignment]
workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]
version_t: sa.Table = WorkflowVersion.__table__  # type: ignore[assignment]
env_t: sa.Table = WorkflowEnv.__table__  # type: ignore[assignment]
user_t: sa.Table = User.__table__  # type: ignore[assignment]
key_t: sa.Table = ApiKey.__table__  # type: ignore[assignment]

ENDED_COLUMNS = (
    job_t.c.mode,
    job_t.c.cache_key,
    job_t.c.cache_hit,
    job_t.c.parent_job_id,
    job_t.c.origin,
    job_t.c.workflow_id,
    job_t.c.created_at,
    job_t.c.started_at,
    job_t.c.finished_at,
    job_t.c.notify_url,
)
"""What the follow-ups of an end learn about the job (jobs/lifecycle.py), from the transition's RETURNING."""

CACHE_KIND = "cache"
"""The `source_kind` of a job that waits for an identical one in flight (a cache follower, jobs/cache.py)."""


def newest_computed(workflow_id: uuid.UUID, *where: sa.ColumnElement[bool]) -> sa.Select[uuid.UUID]:
    """The ids of the workflow's completed jobs that computed their result themselves (not cache hits),
    newest first: the result cache's sources, the estimate's history."""
    return (
        sa.select(job_t.c.id)
        .where(
            job_t.c.workflow_id == workflow_id,
            job_t.c.status == JobStatus.COMPLETED.value,
            job_t.c.cache_hit.is_(False),
            *where,
        )
        .order_by(job_t.c.id.desc())
    )


def is_postgres(conn: AsyncConnection) -> bool:
    """Whether `conn` takes the PostgreSQL single statements (pg.py) rather than the portable ones."""
    return conn.dialect.name == "postgresql"
