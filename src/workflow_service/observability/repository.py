"""The queries behind the metrics: what a scrape reads of the database, and the workflow slugs labels name."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.models import Agent, Job, Workflow

job_t: sa.Table = Job.__table__  # type: ignore[assignment]
agent_t: sa.Table = Agent.__table__  # type: ignore[assignment]
workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]


async def jobs_by_status(conn: AsyncConnection, statuses: Collection[str]) -> dict[tuple[str, str], int]:
    """How many jobs are in each of `statuses` (the unfinished ones: index ix_job_status_pool), by pool."""
    stmt = (
        sa.select(job_t.c.status, job_t.c.pool, sa.func.count())
        .where(job_t.c.status.in_(sorted(statuses)))
        .group_by(job_t.c.status, job_t.c.pool)
    )
    return {(status, pool): int(n) for status, pool, n in (await conn.execute(stmt)).all()}


@dataclass(frozen=True, slots=True)
class AgentSeen:
    name: str
    status: str
    last_heartbeat_at: datetime


async def agents(conn: AsyncConnection, online: str) -> tuple[dict[str, int], list[AgentSeen]]:
    """How many agents are in each status, and the `online` ones with their last heartbeat."""
    counts = await conn.execute(sa.select(agent_t.c.status, sa.func.count()).group_by(agent_t.c.status))
    rows = await conn.execute(
        sa.select(agent_t.c.name, agent_t.c.status, agent_t.c.last_heartbeat_at).where(agent_t.c.status == online)
    )
    return {status: int(n) for status, n in counts.all()}, [AgentSeen(*row) for row in rows.all()]


async def workflow_slugs(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The slugs of the workflows `ids` (a deleted one is left out)."""
    rows = await conn.execute(sa.select(workflow_t.c.id, workflow_t.c.slug).where(workflow_t.c.id.in_(ids)))
    return {row.id: row.slug for row in rows.all()}
