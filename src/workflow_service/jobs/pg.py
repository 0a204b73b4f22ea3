"""PostgreSQL fast path for the three writes every job makes: submit, claim and finish.

Each is ONE statement (a data-modifying CTE), so each is atomic on its own and costs one round
trip: the guarded UPDATE, its job_event rows (one per hop) and, on finish, the step records all
commit together or not at all. The rules are the same as repository.transition (paths are checked
against TRANSITIONS before the SQL runs); this module only changes how many round trips they cost.
Other databases (the embedded SQLite) use the portable statements in repository.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import driver_connection, json_text
from workflow_service.engine.definition import DefinitionModel
from workflow_service.engine.executor import StepRecord
from workflow_service.jobs.states import JobStatus, check_path

DEFAULT_TIMEOUT_S = float(DefinitionModel.model_fields["timeout_s"].default)
"""A definition's job timeout when it sets none."""

_INSERT_JOB = """
WITH j AS (
  INSERT INTO job (id, workflow_id, version_id, version_number, name, status, pool, inputs, variables, metadata,
                   attempt, max_attempts, created_at, enqueued_at, caller, mode, idempotency_key, request_hash,
                   deadline_at, queue_deadline_at, source_job_id, source_kind, from_step, cache_key, parent_job_id,
                   parent_step)
  VALUES ($1, $2, $3, $4, $5, $19, $6, $7::jsonb, $8::jsonb, $9::jsonb, 0, $10, $11, $11, $13, $14, $15, $16,
          $17, $18, $20, $21, $22, $23, $24, $25)
  ON CONFLICT (workflow_id, caller, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING id, created_at, status
)
INSERT INTO job_event (job_id, from_status, to_status, at, actor, reason)
SELECT id, NULL, status, created_at, $12, 'submitted' FROM j
RETURNING job_id
"""

_CLAIM = """
WITH moved AS (
  UPDATE job SET status = 'running', attempt = attempt + 1, agent_id = $2, lease_expires_at = $3,
                 started_at = COALESCE(started_at, $4),
                 -- the first start plus the definition's timeout ($10 when it has none), or the push deadline
                 run_deadline_at = COALESCE(run_deadline_at, LEAST(deadline_at, COALESCE(started_at, $4)
                   + make_interval(secs => COALESCE((SELECT (v.definition ->> 'timeout_s')::float8
                                                     FROM workflow_version v WHERE v.id = job.version_id), $10))))
  WHERE id = $1 AND status = 'pending' AND pool = ANY($5::text[])
    AND (queue_deadline_at IS NULL OR queue_deadline_at > $4)
    AND ($9::bool OR source_kind IS DISTINCT FROM 'cache')
  RETURNING id, workflow_id, attempt, version_id, inputs, variables, started_at, mode, deadline_at, from_step,
            cache_key
), ev AS (
  INSERT INTO job_event (job_id, from_status, to_status, at, actor, reason)
  SELECT moved.id, e.f, e.t, $4, $6, NULL FROM moved, unnest($7::text[], $8::text[]) AS e(f, t)
)
SELECT attempt, version_id, inputs, variables, started_at, mode, deadline_at, from_step, cache_key,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('name', e.name, 'value', e.value, 'secure', e.secure)),
                        '[]'::jsonb)
        FROM workflow_env e WHERE e.workflow_id = moved.workflow_id) AS env
FROM moved
"""

_FINISH = """
WITH records AS (
  SELECT * FROM jsonb_to_recordset($13::jsonb) AS s(step_id text, position int, type text, status text, input jsonb,
                                                    output jsonb, error jsonb, attempt int, started_at timestamptz,
                                                    finished_at timestamptz, model text, input_tokens int,
                                                    output_tokens int, latency_ms float8, detail jsonb, cost float8)
), usage AS (  -- the job's usage over its steps as they will be (see usage.totals: copied steps do not count)
  SELECT sum(u.input_tokens) AS input_tokens, sum(u.output_tokens) AS output_tokens,
         CASE WHEN bool_and(u.cost IS NOT NULL) FILTER (WHERE u.model IS NOT NULL)
              THEN round(sum(u.cost)::numeric, 10)::float8 END AS cost
  FROM (SELECT model, input_tokens, output_tokens, cost, detail FROM job_step
        WHERE $14::bool AND job_id = $1 AND step_id NOT IN (SELECT step_id FROM records)
        UNION ALL
        SELECT model, input_tokens, output_tokens, cost, detail FROM records WHERE $14::bool) AS u
  WHERE u.detail IS NULL OR NOT (u.detail ?| array['copied_from', 'cached_from'])
), moved AS (
  UPDATE job SET status = $4, output = $5::jsonb, error = $6::jsonb, finished_at = $7, lease_expires_at = NULL,
                 input_tokens = usage.input_tokens, output_tokens = usage.output_tokens, cost = usage.cost
  FROM usage
  WHERE job.id = $1 AND job.status = 'running' AND job.attempt = $2 AND job.agent_id = $3
  RETURNING job.id, job.mode, job.cache_key, job.cache_hit, job.parent_job_id
), ev AS (
  INSERT INTO job_event (job_id, from_status, to_status, at, actor, reason)
  SELECT moved.id, e.f, e.t, e.at, $8, $9
  FROM moved, unnest($10::text[], $11::text[], $12::timestamptz[]) AS e(f, t, at)
), st AS (
  INSERT INTO job_step (job_id, step_id, position, type, status, input, output, error, attempt, started_at,
                        finished_at, model, input_tokens, output_tokens, latency_ms, detail, cost)
  SELECT moved.id, s.step_id, s.position, s.type, s.status, s.input, s.output, s.error, s.attempt, s.started_at,
         s.finished_at, s.model, s.input_tokens, s.output_tokens, s.latency_ms, s.detail, s.cost
  FROM moved, records AS s
  ON CONFLICT (job_id, step_id) DO UPDATE SET status = EXCLUDED.status, input = EXCLUDED.input,
    output = EXCLUDED.output, error = EXCLUDED.error, attempt = EXCLUDED.attempt,
    started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, position = EXCLUDED.position,
    type = EXCLUDED.type, model = EXCLUDED.model, input_tokens = EXCLUDED.input_tokens,
    output_tokens = EXCLUDED.output_tokens, latency_ms = EXCLUDED.latency_ms, detail = EXCLUDED.detail,
    cost = EXCLUDED.cost
)
SELECT mode, cache_key, cache_hit, parent_job_id FROM moved
"""


def _json(value: Any) -> str | None:
    return None if value is None else json_text(value)


async def insert_job(conn: AsyncConnection, values: dict[str, Any], actor: str) -> bool:
    """False when a job with the same idempotency key (same workflow and caller) already exists."""
    apg = await driver_connection(conn)
    inserted = await apg.fetchval(
        _INSERT_JOB,
        values["id"],
        values["workflow_id"],
        values["version_id"],
        values["version_number"],
        values["name"],
        values["pool"],
        _json(values["inputs"]),
        _json(values["variables"]),
        _json(values["metadata"]),
        values["max_attempts"],
        values["created_at"],
        actor,
        values["caller"],
        values["mode"],
        values.get("idempotency_key"),
        values.get("request_hash"),
        values.get("deadline_at"),
        values.get("queue_deadline_at"),
        values["status"],
        values.get("source_job_id"),
        values.get("source_kind"),
        values.get("from_step"),
        values.get("cache_key"),
        values.get("parent_job_id"),
        values.get("parent_step"),
    )
    return inserted is not None


class ClaimedRow(NamedTuple):
    attempt: int
    version_id: uuid.UUID
    inputs: dict[str, Any]
    variables: dict[str, Any]
    started_at: datetime
    mode: str
    deadline_at: datetime | None
    from_step: str | None
    cache_key: str | None
    env: list[dict[str, Any]]
    """The workflow's environment variables as stored ({name, value, secure}), read with the claim."""


async def claim(
    conn: AsyncConnection,
    job_id: uuid.UUID,
    *,
    agent_id: uuid.UUID,
    pools: Sequence[str],
    lease_until: datetime,
    now: datetime,
    actor: str,
    followers: bool = False,
) -> ClaimedRow | None:
    path = [JobStatus.PENDING, JobStatus.CLAIMED, JobStatus.RUNNING]
    check_path(path)
    apg = await driver_connection(conn)
    row = await apg.fetchrow(
        _CLAIM,
        job_id,
        agent_id,
        lease_until,
        now,
        list(pools),
        actor,
        [s.value for s in path[:-1]],
        [s.value for s in path[1:]],
        followers,
        DEFAULT_TIMEOUT_S,
    )
    return None if row is None else ClaimedRow(*row)


class EndedRow(NamedTuple):
    """repository.ENDED_COLUMNS of a finished job."""

    mode: str
    cache_key: str | None
    cache_hit: bool
    parent_job_id: uuid.UUID | None


async def finish(
    conn: AsyncConnection,
    job_id: uuid.UUID,
    *,
    attempt: int,
    agent_id: uuid.UUID,
    path: Sequence[JobStatus],
    at: Sequence[datetime],
    output: Any,
    error: dict[str, Any] | None,
    actor: str,
    reason: str | None,
    records: Sequence[StepRecord],
    with_usage: bool = True,
) -> EndedRow | None:
    """running -> ... -> completed|failed, with events and step records; None if the job is not ours.

    `with_usage` False (a plan without model calls) skips summing the steps' usage: it would be null."""
    check_path(list(path))
    assert path[0] is JobStatus.RUNNING
    steps = [r.as_row() for r in records]
    apg = await driver_connection(conn)
    row = await apg.fetchrow(
        _FINISH,
        job_id,
        attempt,
        agent_id,
        path[-1].value,
        _json(output),
        _json(error),
        at[-1],
        actor,
        reason,
        [s.value for s in path[:-1]],
        [s.value for s in path[1:]],
        list(at),
        _json(steps),
        with_usage,
    )
    return None if row is None else EndedRow(*row)
