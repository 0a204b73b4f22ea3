"""Listing jobs: filters, the text search, the orders a page can take and its keyset, and what each listed row
shows besides the job itself (its workflow's last completion, its version's step count), one query a page.

The orders are keysets over (sort key, id), the id breaking ties the same way: `created` is the id itself (a
time-ordered UUIDv7 made when the job is), which the (workspace_id, id) index serves in either direction. The
other keys are read from the jobs the filters select. Jobs without a key (not finished, or never started, for
`finished` and `duration`; no name, for `name`) come last in either direction, newest first (or oldest,
ascending) among themselves.

Text keys (`name`, case-insensitive, and `workflow`, its slug) compare byte by byte ("C" collation on
PostgreSQL, SQLite's own), so that both databases, and a cursor, agree whatever the database's locale. `status`
is its place in a job's life (STATUS_ORDER), `steps` its version's step count.

A duration is in whole microseconds, computed alike by both databases, so that a cursor compares exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.jobs.repository.params import After, JobFilter, Search, Sort
from workflow_service.jobs.repository.reads import SUMMARY_COLUMNS, joined_with_creator
from workflow_service.jobs.repository.tables import is_postgres, job_t, version_t, workflow_t
from workflow_service.jobs.states import JobStatus

ESCAPE = "\\"
SORT_KEY = "sort_key"
"""The label of a listed row's sort key (for the next page's cursor)."""


def like_pattern(text: str) -> str:
    """A case-insensitive LIKE pattern matching `text` anywhere, its `%`, `_` and `\\` matched literally."""
    escaped = text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return f"%{escaped}%"


def error_message(conn: AsyncConnection) -> sa.ColumnElement[str]:
    """A job's error message, as the trigram index of migration 0012 reads it on PostgreSQL."""
    if is_postgres(conn):
        return job_t.c.error.op("->>", return_type=sa.Text)(sa.literal_column("'message'"))
    return sa.func.json_extract(job_t.c.error, "$.message", type_=sa.Text)


def duration_us(conn: AsyncConnection) -> sa.ColumnElement[int]:
    """Whole microseconds from a job's start to its end (null without either)."""
    started, finished = job_t.c.started_at, job_t.c.finished_at
    if is_postgres(conn):
        return sa.cast(sa.extract("epoch", finished - started) * 1_000_000, sa.BigInteger)

    # SQLite stores `YYYY-MM-DD HH:MM:SS.ffffff`: whole seconds from strftime, microseconds from the text.
    def seconds(at: sa.Column[Any]) -> sa.ColumnElement[int]:
        return sa.cast(sa.func.strftime("%s", at), sa.BigInteger)

    def micros(at: sa.Column[Any]) -> sa.ColumnElement[int]:
        return sa.cast(sa.func.substr(at, 21, 6), sa.BigInteger)

    return (seconds(finished) - seconds(started)) * 1_000_000 + (micros(finished) - micros(started))


STATUS_ORDER = tuple(s.value for s in JobStatus)
"""The `status` order: a job's life from `new` to its ends (JobStatus's order)."""


def _text_key(conn: AsyncConnection, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    lowered = sa.func.lower(column, type_=sa.Text)
    return lowered.collate("C") if is_postgres(conn) else lowered


def step_count(conn: AsyncConnection, definition: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    """How many steps a version's `definition` has (its top-level `steps`; 0 without any)."""
    if is_postgres(conn):
        steps = sa.func.jsonb_array_length(definition.op("->", return_type=sa.JSON)(sa.literal_column("'steps'")))
    else:
        steps = sa.func.json_array_length(definition, "$.steps")
    return sa.func.coalesce(steps, 0, type_=sa.Integer)


def _sort_key(conn: AsyncConnection, key: str) -> sa.ColumnElement[Any] | None:
    """The column a listing is sorted by; None for `created`, which is the id."""
    if key == "updated":
        return job_t.c.updated_at
    if key == "finished":
        return job_t.c.finished_at
    if key == "duration":
        return duration_us(conn)
    if key == "name":
        return _text_key(conn, job_t.c.name)
    if key == "workflow":
        slug = sa.select(workflow_t.c.slug).where(workflow_t.c.id == job_t.c.workflow_id)
        return _text_key(conn, slug.correlate(job_t).scalar_subquery())
    if key == "status":
        return sa.case({status: rank for rank, status in enumerate(STATUS_ORDER)}, value=job_t.c.status)
    if key == "steps":
        definition = version_t.c.definition
        count = sa.select(step_count(conn, definition)).where(version_t.c.id == job_t.c.version_id)
        return count.correlate(job_t).scalar_subquery()
    return None


def _searched(conn: AsyncConnection, search: Search) -> sa.ColumnElement[bool]:
    matches = [
        job_t.c.name.ilike(search.pattern, escape=ESCAPE),
        error_message(conn).ilike(search.pattern, escape=ESCAPE),
    ]
    if search.workflow_ids:
        matches.append(job_t.c.workflow_id.in_(search.workflow_ids))
    if search.ids is not None:
        matches.append(job_t.c.id.between(*search.ids))
    return sa.or_(*matches)


def _conditions(conn: AsyncConnection, where: JobFilter) -> list[sa.ColumnElement[bool]]:
    """The SQL of `where`."""
    found: list[sa.ColumnElement[bool]] = [job_t.c.workspace_id == where.workspace_id]
    equal: list[tuple[sa.ColumnElement[Any], Any]] = [
        (job_t.c.caller, where.caller),
        (job_t.c.workflow_id, where.workflow_id),
        (job_t.c.version_number, where.version),
        (job_t.c.pool, where.pool),
    ]
    found += [column == value for column, value in equal if value is not None]
    among: list[tuple[sa.ColumnElement[Any], Sequence[str]]] = [
        (job_t.c.caller, where.callers),
        (job_t.c.status, where.statuses),
        (job_t.c.origin, where.origins),
    ]
    found += [column.in_(values) for column, values in among if values]
    duration = duration_us(conn)
    shortest, longest = where.duration_us
    at_least: list[tuple[sa.ColumnElement[Any], Any]] = [
        (job_t.c.created_at, where.created.start),
        (job_t.c.finished_at, where.finished.start),
        (duration, shortest),
    ]
    found += [column >= value for column, value in at_least if value is not None]
    below = [(job_t.c.created_at, where.created.end), (job_t.c.finished_at, where.finished.end)]
    found += [column < value for column, value in below if value is not None]
    if longest is not None:
        found.append(duration <= longest)
    if where.search is not None:
        found.append(_searched(conn, where.search))
    return found


def _after(key: sa.ColumnElement[Any] | None, sort: Sort, after: After) -> sa.ColumnElement[bool]:
    """The rows after `after` in `sort`'s order (a keyset; rows without a key come last)."""

    def beyond(column: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[bool]:
        later: sa.ColumnElement[bool] = column < value if sort.descending else column > value
        return later

    id_beyond = beyond(job_t.c.id, after.id)
    if key is None:
        return id_beyond
    if after.key is None:  # among the rows without a key: only by id
        return sa.and_(key.is_(None), id_beyond)
    return sa.or_(beyond(key, after.key), sa.and_(key == after.key, id_beyond), key.is_(None))


async def list_jobs(
    conn: AsyncConnection, where: JobFilter, sort: Sort, *, after: After | None, limit: int
) -> Sequence[AnyRow]:
    """Up to `limit` jobs `where` selects, in `sort`'s order from after `after` (a page's cursor): their
    summaries, version ids and sort keys (labelled SORT_KEY; the id for `created`).

    In id order (`created`) the index gives the rows in order and the joins with their workflow and creator
    stop at the page's end. In another order the page's ids are chosen from the job table alone first, and
    only those rows are joined: the sort orders the selected jobs, not their joins."""
    key = _sort_key(conn, sort.key)
    by_id = job_t.c.id.desc() if sort.descending else job_t.c.id.asc()
    order = [by_id] if key is None else [(key.desc() if sort.descending else key.asc()).nulls_last(), by_id]
    conditions = _conditions(conn, where)
    if after is not None:
        conditions.append(_after(key, sort, after))
    shown = sa.select(*SUMMARY_COLUMNS, job_t.c.version_id, (job_t.c.id if key is None else key).label(SORT_KEY))
    shown = shown.select_from(joined_with_creator(conn))
    if key is None:
        stmt = shown.where(*conditions).order_by(*order).limit(limit)
    else:
        chosen = sa.select(job_t.c.id).where(*conditions).order_by(*order).limit(limit)
        stmt = shown.where(job_t.c.id.in_(chosen)).order_by(*order)
    return (await conn.execute(stmt)).all()


async def matching_workflows(conn: AsyncConnection, workspace_id: uuid.UUID, pattern: str) -> list[uuid.UUID]:
    """The workspace's workflows whose slug or name matches the LIKE `pattern` (see like_pattern)."""
    stmt = sa.select(workflow_t.c.id).where(
        workflow_t.c.workspace_id == workspace_id,
        sa.or_(workflow_t.c.slug.ilike(pattern, escape=ESCAPE), workflow_t.c.name.ilike(pattern, escape=ESCAPE)),
    )
    return list((await conn.execute(stmt)).scalars())


async def last_completed(conn: AsyncConnection, workflow_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """When each workflow's last completed job ended (None: none has), in one query: per workflow, the newest
    end in the index of completed jobs by end (ix_job_workflow_completed)."""
    if not workflow_ids:
        return {}
    newest = (
        sa.select(sa.func.max(job_t.c.finished_at))
        .where(job_t.c.workflow_id == workflow_t.c.id, job_t.c.status == JobStatus.COMPLETED.value)
        .scalar_subquery()
    )
    stmt = sa.select(workflow_t.c.id, newest.label("at")).where(workflow_t.c.id.in_(workflow_ids))
    return {row.id: row.at for row in await conn.execute(stmt)}


async def step_counts(conn: AsyncConnection, version_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many steps each version's definition has (its top-level `steps`), in one query."""
    if not version_ids:
        return {}
    count = step_count(conn, version_t.c.definition)
    stmt = sa.select(version_t.c.id, count.label("steps")).where(version_t.c.id.in_(version_ids))
    return {row.id: int(row.steps or 0) for row in await conn.execute(stmt)}
