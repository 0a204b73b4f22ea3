"""The tables the job queries use, and the column sets several of them share."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.models import Job, JobEvent, JobStep, Workflow, WorkflowEnv, WorkflowVersion

job_t: sa.Table = Job.__table__  # type: ignore[assignment]
event_t: sa.Table = JobEvent.__table__  # type: ignore[assignment]
step_t: sa.Table = JobStep.__table__  # type: ignore[assignment]
workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]
version_t: sa.Table = WorkflowVersion.__table__  # type: ignore[assignment]
env_t: sa.Table = WorkflowEnv.__table__  # type: ignore[assignment]

ENDED_COLUMNS = (job_t.c.mode, job_t.c.cache_key, job_t.c.cache_hit, job_t.c.parent_job_id)
"""What the follow-ups of an end learn about the job (jobs/lifecycle.py), from the transition's RETURNING."""

CACHE_KIND = "cache"
"""The `source_kind` of a job that waits for an identical one in flight (a cache follower, jobs/cache.py)."""


def is_postgres(conn: AsyncConnection) -> bool:
    """Whether `conn` takes the PostgreSQL single statements (pg.py) rather than the portable ones."""
    return conn.dialect.name == "postgresql"
