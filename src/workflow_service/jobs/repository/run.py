"""An agent's claim and finish of a job: the hot path of every job.

Both take the same arguments and give the same answer on every database: on PostgreSQL each is one
statement (pg.py), elsewhere (the embedded SQLite) a few portable ones in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

import workflow_service.jobs.repository.pg as pg
from workflow_service.core.db import begin_now
from workflow_service.jobs import usage
from workflow_service.jobs.repository.moves import transition, upsert_steps
from workflow_service.jobs.repository.params import ClaimedRow, ClaimRequest, EndedRow, Finish, Move
from workflow_service.jobs.repository.tables import (
    CACHE_KIND,
    ENDED_COLUMNS,
    env_t,
    is_postgres,
    job_t,
    step_t,
    version_t,
)
from workflow_service.jobs.states import CLAIM_PATH

_CLAIMED = (
    job_t.c.attempt,
    job_t.c.version_id,
    job_t.c.inputs,
    job_t.c.variables,
    job_t.c.started_at,
    job_t.c.mode,
    job_t.c.deadline_at,
    job_t.c.from_step,
    job_t.c.cache_key,
    job_t.c.notify_url,
    job_t.c.workflow_id,
    job_t.c.run_deadline_at,
    job_t.c.trace_context,
)


async def claim_many(
    conn: AsyncConnection, job_ids: Sequence[uuid.UUID], request: ClaimRequest
) -> dict[uuid.UUID, ClaimedRow]:
    """pending -> claimed -> running under a lease, with what running each job needs (its workflow's env
    rows included): the jobs of `job_ids` it claimed. A job is left out when it is not pending in one of the
    request's pools (or is a cache follower and the request does not take those). One statement for all
    of them on PostgreSQL."""
    if is_postgres(conn):
        return await pg.claim_many(conn, job_ids, request)
    claimed = {}
    for job_id in dict.fromkeys(job_ids):
        row = await _claim_portably(conn, job_id, request)
        if row is not None:
            claimed[job_id] = row
    return claimed


async def claim(conn: AsyncConnection, job_id: uuid.UUID, request: ClaimRequest) -> ClaimedRow | None:
    """claim_many for one job: its ClaimedRow, or None."""
    return (await claim_many(conn, [job_id], request)).get(job_id)


async def _claim_portably(conn: AsyncConnection, job_id: uuid.UUID, request: ClaimRequest) -> ClaimedRow | None:
    now = request.now
    guards = [
        job_t.c.pool.in_(request.pools),
        sa.or_(job_t.c.queue_deadline_at.is_(None), job_t.c.queue_deadline_at > now),
    ]
    if not request.followers:
        guards.append(sa.or_(job_t.c.source_kind.is_(None), job_t.c.source_kind != CACHE_KIND))
    values = {
        "attempt": job_t.c.attempt + 1,
        "agent_id": request.agent_id,
        "lease_expires_at": request.lease_until,
        "started_at": sa.func.coalesce(job_t.c.started_at, now),
    }
    move = Move(CLAIM_PATH, request.actor, values=values, guards=guards, at=[now] * (len(CLAIM_PATH) - 1))
    row = await transition(conn, job_id, move, returning=_CLAIMED)
    if row is None:
        return None
    if row.run_deadline_at is None:  # the first claim (PostgreSQL computes this within its one statement)
        await _set_run_deadline(conn, job_id, row)
    env_rows = await conn.execute(
        sa.select(env_t.c.name, env_t.c.value, env_t.c.secure).where(env_t.c.workflow_id == row.workflow_id)
    )
    claimed = {name: row._mapping[name] for name in ClaimedRow._fields if name != "env"}
    return ClaimedRow(**claimed, env=[dict(r._mapping) for r in env_rows])


async def _set_run_deadline(conn: AsyncConnection, job_id: uuid.UUID, row: Any) -> None:
    """The first start plus the definition's timeout, or the push deadline if sooner."""
    definition = (
        await conn.execute(sa.select(version_t.c.definition).where(version_t.c.id == row.version_id))
    ).scalar_one()
    deadline = row.started_at + timedelta(seconds=float(definition.get("timeout_s", pg.DEFAULT_TIMEOUT_S)))
    if row.deadline_at is not None:
        deadline = min(deadline, row.deadline_at)
    await conn.execute(job_t.update().where(job_t.c.id == job_id).values(run_deadline_at=deadline))


async def finish(
    conn: AsyncConnection, job_id: uuid.UUID, end: Finish, *, in_transaction: bool = False
) -> EndedRow | None:
    """Move a running job to its end, with its step records and usage, fenced by attempt and agent.

    Returns the job's ENDED_COLUMNS; None when the job is no longer this agent's (its lease expired and
    it moved on, or it was canceled). On PostgreSQL it is one statement, which commits on its own unless
    `in_transaction`: then `conn`'s transaction is opened first (one BEGIN), so the caller can add its own
    writes (a push job's delivery) to the same commit.
    """
    if is_postgres(conn):
        if in_transaction:
            await begin_now(conn)
        return await pg.finish(conn, job_id, end)
    values: dict[str, Any] = {
        "lease_expires_at": None,
        "finished_at": end.at[-1],
        "output": end.output,
        "error": end.error,
    }
    if not end.with_usage:  # as PostgreSQL's statement stores it: no usage
        values |= {"input_tokens": None, "output_tokens": None, "cost": None}
    guards = [job_t.c.attempt == end.attempt, job_t.c.agent_id == end.agent_id]
    move = Move(end.path, end.actor, end.reason, values=values, guards=guards, at=end.at)

    async def steps_and_usage(conn: AsyncConnection) -> None:  # before the end's events, as on PostgreSQL
        await upsert_steps(conn, job_id, end.records)
        if end.with_usage:
            await _update_usage(conn, job_id)

    won = await transition(conn, job_id, move, returning=ENDED_COLUMNS, then=steps_and_usage)
    return None if won is None else EndedRow(*won)


async def _update_usage(conn: AsyncConnection, job_id: uuid.UUID) -> None:
    """Set the job's input_tokens, output_tokens and cost from its step records (see usage.totals)."""
    columns = (step_t.c.model, step_t.c.input_tokens, step_t.c.output_tokens, step_t.c.cost, step_t.c.detail)
    rows = (await conn.execute(sa.select(*columns).where(step_t.c.job_id == job_id))).all()
    sums = usage.totals(rows)
    await conn.execute(
        job_t.update()
        .where(job_t.c.id == job_id)
        .values(input_tokens=sums.input_tokens, output_tokens=sums.output_tokens, cost=sums.cost)
    )
