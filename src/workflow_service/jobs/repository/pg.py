"""PostgreSQL's half of the three writes every job makes: submit, claim and finish.

Each is ONE statement (a data-modifying CTE), so each is atomic on its own and costs one round
trip: the guarded UPDATE, its job_event rows (one per hop) and, on finish, the step records all
commit together or not at all. The rules are the same as moves.transition (paths are checked
against TRANSITIONS before the SQL runs); this module only changes how many round trips they cost.
Callers never come here: the repository's `insert_job`, `claim` and `finish` do, on PostgreSQL.

The statements are text, built once at import: their statuses from jobs/states.py, their step-record
columns from engine/executor.STEP_RECORD_COLUMNS (typed by the job_step table), the copy markers from
jobs/usage.py. The text is the same as written out by hand, so the server plans it the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import UTCDateTime, driver_connection, json_text
from workflow_service.engine.definition import DefinitionModel
from workflow_service.engine.executor import STEP_RECORD_COLUMNS
from workflow_service.jobs import usage
from workflow_service.jobs.events.positions import SLOT
from workflow_service.jobs.repository.events import EVENT_ID_SEQUENCE, PLACE_COLUMNS
from workflow_service.jobs.repository.params import ClaimedRow, ClaimRequest, EndedRow, Finish
from workflow_service.jobs.repository.tables import CACHE_KIND, step_t
from workflow_service.jobs.states import CLAIM_PATH, JobStatus, StepStatus, check_path

DEFAULT_TIMEOUT_S = float(DefinitionModel.model_fields["timeout_s"].default)
"""A definition's job timeout when it sets none."""


def _literal(value: str) -> str:
    """`value` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def _pg_type(column: sa.Column[Any]) -> str:
    """The type a step-record column is read as from the finish statement's JSON records."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "timestamptz"
    if isinstance(kind, sa.JSON):
        return "jsonb"
    if isinstance(kind, sa.Integer):
        return "int"
    if isinstance(kind, sa.Float):
        return "float8"
    if isinstance(kind, sa.String):
        return "text"
    raise TypeError(f"job_step.{column.name}: no PostgreSQL type for {kind!r}")


_PARTS = {
    "pending_status": _literal(JobStatus.PENDING),
    "running_status": _literal(JobStatus.RUNNING),
    "cache_kind": _literal(CACHE_KIND),
    "step_running": _literal(StepStatus.RUNNING),
    "step_skipped": _literal(StepStatus.SKIPPED),
    "event_sequence": _literal(EVENT_ID_SEQUENCE),
    "place_columns": ", ".join(PLACE_COLUMNS),
    "slot": str(SLOT),
    "cost_digits": str(usage.COST_DIGITS),
    "copy_markers": ", ".join(_literal(marker) for marker in usage.COPY_MARKERS),
    "recordset": ", ".join(f"{name} {_pg_type(step_t.c[name])}" for name in STEP_RECORD_COLUMNS),
    "step_columns": ", ".join(STEP_RECORD_COLUMNS),
    "step_values": ", ".join(f"s.{name}" for name in STEP_RECORD_COLUMNS),
    "step_updates": ", ".join(f"{name} = EXCLUDED.{name}" for name in STEP_RECORD_COLUMNS if name != "step_id"),
}
"""What the statements' {names} stand for: constants of the modules that define them, never request data."""


def _statement(template: str) -> str:
    return template.format_map(_PARTS)


_INSERT_JOB = """
WITH j AS (
  INSERT INTO job (id, workflow_id, version_id, version_number, name, status, pool, inputs, variables, metadata,
                   attempt, max_attempts, created_at, enqueued_at, caller, mode, idempotency_key, request_hash,
                   deadline_at, queue_deadline_at, source_job_id, source_kind, from_step, cache_key, parent_job_id,
                   parent_step, workspace_id, origin, trace_context, updated_at, notify_url)
  VALUES ($1, $2, $3, $4, $5, $19, $6, $7::jsonb, $8::jsonb, $9::jsonb, 0, $10, $11, $11, $13, $14, $15, $16,
          $17, $18, $20, $21, $22, $23, $24, $25, $26, $27, $28::jsonb, $11, $29)
  ON CONFLICT (workflow_id, caller, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
  RETURNING id, created_at, status
)
INSERT INTO job_event (job_id, from_status, to_status, at, actor, reason)
SELECT id, NULL, status, created_at, $12, 'submitted' FROM j
RETURNING job_id
"""

_CLAIM = _statement("""
WITH moved AS (
  UPDATE job SET status = {running_status}, attempt = attempt + 1, agent_id = $2, lease_expires_at = $3,
                 started_at = COALESCE(started_at, $4), updated_at = $4,
                 -- the first start plus the definition's timeout ($10 when it has none), or the push deadline
                 run_deadline_at = COALESCE(run_deadline_at, LEAST(deadline_at, COALESCE(started_at, $4)
                   + make_interval(secs => COALESCE((SELECT (v.definition ->> 'timeout_s')::float8
                                                     FROM workflow_version v WHERE v.id = job.version_id), $10))))
  WHERE id = ANY($1::uuid[]) AND status = {pending_status} AND pool = ANY($5::text[])
    AND (queue_deadline_at IS NULL OR queue_deadline_at > $4)
    AND ($9::bool OR source_kind IS DISTINCT FROM {cache_kind})
  RETURNING id, workflow_id, attempt, version_id, inputs, variables, started_at, mode, deadline_at, from_step,
            cache_key, trace_context, notify_url
), ev AS (
  INSERT INTO job_event (job_id, from_status, to_status, at, actor, reason)
  SELECT moved.id, e.f, e.t, $4, $6, NULL FROM moved, unnest($7::text[], $8::text[]) AS e(f, t)
)
SELECT id, attempt, version_id, inputs, variables, started_at, mode, deadline_at, from_step, cache_key,
       trace_context, notify_url,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('name', e.name, 'value', e.value, 'secure', e.secure)),
                        '[]'::jsonb)
        FROM workflow_env e WHERE e.workflow_id = moved.workflow_id) AS env
FROM moved
""")

_FINISH = _statement("""
WITH records AS (
  SELECT * FROM ROWS FROM (jsonb_to_recordset($13::jsonb) AS ({recordset})) WITH ORDINALITY AS s
), usage AS (  -- the job's usage over its steps as they will be (see usage.totals: copied steps do not count)
  SELECT sum(u.input_tokens) AS input_tokens, sum(u.output_tokens) AS output_tokens,
         CASE WHEN bool_and(u.cost IS NOT NULL) FILTER (WHERE u.model IS NOT NULL)
              THEN round((sum(u.cost) FILTER (WHERE u.model IS NOT NULL))::numeric, {cost_digits})::float8
         END AS cost
  FROM (SELECT model, input_tokens, output_tokens, cost, detail FROM job_step
        WHERE $14::bool AND job_id = $1 AND step_id NOT IN (SELECT step_id FROM records)
        UNION ALL
        SELECT model, input_tokens, output_tokens, cost, detail FROM records WHERE $14::bool) AS u
  WHERE u.detail IS NULL OR NOT (u.detail ?| array[{copy_markers}])
), moved AS (
  UPDATE job SET status = $4, output = $5::jsonb, error = $6::jsonb, finished_at = $7, updated_at = $7,
                 lease_expires_at = NULL, input_tokens = usage.input_tokens, output_tokens = usage.output_tokens,
                 cost = usage.cost
  FROM usage
  WHERE job.id = $1 AND job.status = {running_status} AND job.attempt = $2 AND job.agent_id = $3
  RETURNING job.id, job.mode, job.cache_key, job.cache_hit, job.parent_job_id, job.origin, job.workflow_id,
            job.created_at, job.started_at, job.finished_at, job.notify_url
), place AS (  -- the records' places among the job's events (events.py): a fresh slot, once the row is ours
  SELECT nextval({event_sequence}) * {slot} AS base FROM moved
), st AS (
  INSERT INTO job_step (job_id, {step_columns}, {place_columns})
  SELECT moved.id, {step_values},
         CASE WHEN s.status <> {step_skipped} THEN place.base + 2 * s.ordinality - 1 END,
         CASE WHEN s.status <> {step_running} THEN place.base + 2 * s.ordinality END
  FROM moved, place, records AS s
  ON CONFLICT (job_id, step_id) DO UPDATE SET {step_updates}, end_seq = EXCLUDED.end_seq,
    start_seq = CASE WHEN job_step.status = {step_running} AND EXCLUDED.attempt = job_step.attempt
                     THEN job_step.start_seq ELSE EXCLUDED.start_seq END
  RETURNING 1
), ev AS (  -- after the step records (reading st makes it wait for them): the job's end is its last event
  INSERT INTO job_event (job_id, from_status, to_status, at, actor, reason)
  SELECT moved.id, e.f, e.t, e.at, $8, $9
  FROM moved, unnest($10::text[], $11::text[], $12::timestamptz[]) AS e(f, t, at)
  WHERE (SELECT count(*) FROM st) >= 0
)
SELECT mode, cache_key, cache_hit, parent_job_id, origin, workflow_id, created_at, started_at, finished_at, notify_url
FROM moved
""")

_CLAIM_FROM = [s.value for s in CLAIM_PATH[:-1]]
_CLAIM_TO = [s.value for s in CLAIM_PATH[1:]]


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
        values["workspace_id"],
        values["origin"],
        _json(values.get("trace_context")),
        values.get("notify_url"),
    )
    return inserted is not None


async def claim_many(
    conn: AsyncConnection, job_ids: Sequence[uuid.UUID], request: ClaimRequest
) -> dict[uuid.UUID, ClaimedRow]:
    """CLAIM_PATH under a lease, the first claim's run deadline and the workflow's env rows, in one statement
    for all of `job_ids`; the jobs it claimed. (Its UPDATE locks the rows in index order, whatever the order
    of `job_ids`, so two agents claiming overlapping sets cannot deadlock.)"""
    check_path(list(CLAIM_PATH))
    apg = await driver_connection(conn)
    rows = await apg.fetch(
        _CLAIM,
        list(job_ids),
        request.agent_id,
        request.lease_until,
        request.now,
        list(request.pools),
        request.actor,
        _CLAIM_FROM,
        _CLAIM_TO,
        request.followers,
        DEFAULT_TIMEOUT_S,
    )
    return {row[0]: ClaimedRow(*row[1:]) for row in rows}


async def finish(conn: AsyncConnection, job_id: uuid.UUID, end: Finish) -> EndedRow | None:
    """running -> ... -> completed|failed, with events, step records and usage; None if the job is not ours."""
    path = end.path
    check_path(list(path))
    assert path[0] is JobStatus.RUNNING
    steps = [r.as_row() for r in end.records]
    apg = await driver_connection(conn)
    row = await apg.fetchrow(
        _FINISH,
        job_id,
        end.attempt,
        end.agent_id,
        path[-1].value,
        _json(end.output),
        _json(end.error),
        end.at[-1],
        end.actor,
        end.reason,
        [s.value for s in path[:-1]],
        [s.value for s in path[1:]],
        list(end.at),
        _json(steps),
        end.with_usage,
    )
    return None if row is None else EndedRow(*row)
