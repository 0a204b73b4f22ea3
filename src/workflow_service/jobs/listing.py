"""Finding jobs (`GET /v1/jobs`): the query checked and resolved (422 naming the parameter for a bad value),
the page read in its order from its cursor, and what each row shows besides the job.

Each row's `last_completed_at` (its workflow's last completed job's end) and `step_count` (its version's
steps) cost one query each for the whole page, whatever its size.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.ids import parse_uuid
from workflow_service.core.pagination import (
    decode_cursor,
    decode_json_cursor,
    encode_cursor,
    encode_json_cursor,
    invalid_cursor,
)
from workflow_service.errors import InvalidInput, NotFound
from workflow_service.jobs import repository as repo
from workflow_service.jobs import views
from workflow_service.jobs.intake import Origin
from workflow_service.jobs.schemas import JobListItem, JobListQuery, JobPage
from workflow_service.jobs.states import JobStatus
from workflow_service.people import repository as people_repo
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows import service as workflows
from workflow_service.workflows.refs import ScopedRef

DEFAULT_SORT = "-created"
ID_PREFIX_MIN = 8
"""The fewest hex digits `q` matches as an id prefix: an id starts with its creation time, so a shorter prefix
names a span of time rather than a job."""
_HEX = frozenset(string.hexdigits)
_CREATOR_PREFIXES = ("user", "key", "schedule", "trigger")


def _invalid(parameter: str, message: str) -> InvalidInput:
    return InvalidInput(f"{parameter}: {message}", errors=[{"path": f"query:{parameter}", "message": message}])


@dataclass(frozen=True, slots=True, kw_only=True)
class Lister:
    """Who lists: the workspace, and the creator the listing is limited to (`scope=mine`; None: anyone)."""

    workspace_id: uuid.UUID
    caller: str | None


async def page(conn: AsyncConnection, lister: Lister, query: JobListQuery) -> JobPage:
    """A page of the jobs `query` selects, in its order, after its cursor."""
    where = await _filter(conn, lister, query)
    sort = repo.Sort(query.sort.lstrip("-"), query.sort.startswith("-"))
    after = _decode(query.cursor, query.sort)
    if where is None:  # `created_by` names no one who exists: nothing to read
        return JobPage(items=[], next_cursor=None)
    rows = await repo.list_jobs(conn, where, sort, after=after, limit=query.limit + 1)
    shown = rows[: query.limit]
    completed = await repo.last_completed(conn, {r.workflow_id for r in shown})
    steps = await repo.step_counts(conn, {r.version_id for r in shown})
    items = [
        JobListItem(
            **views.summary_fields(r),
            last_completed_at=completed.get(r.workflow_id),
            step_count=steps.get(r.version_id, 0),
        )
        for r in shown
    ]
    more = len(rows) > query.limit
    return JobPage(items=items, next_cursor=_encode(shown[-1], query.sort) if more else None)


async def _filter(conn: AsyncConnection, lister: Lister, query: JobListQuery) -> repo.JobFilter | None:
    """The repository's filter for `query`; None when it can select no job (see `_creators`)."""
    statuses = _checked(query.statuses, [s.value for s in JobStatus], "status")
    origins = _checked(query.origins, [o.value for o in Origin], "origin")
    created = _span(query.created_from, query.created_to, "created")
    finished = _span(query.finished_from, query.finished_to, "finished")
    durations = _durations(query.min_duration_s, query.max_duration_s)
    workflow_id, version = await _workflow(conn, lister.workspace_id, query)
    callers = await _creators(conn, query.creators)
    if callers == []:
        return None
    return repo.JobFilter(
        lister.workspace_id,
        workflow_id,
        statuses,
        query.pool,
        lister.caller,
        search=await _search(conn, lister.workspace_id, query.q),
        origins=origins,
        callers=callers or (),
        version=version,
        created=created,
        finished=finished,
        duration_us=durations,
    )


def _checked(values: list[str], known: Sequence[str], parameter: str) -> list[str]:
    bad = [v for v in values if v not in known]
    if bad:
        raise _invalid(parameter, f"unknown {parameter} {bad[0]!r}; one of: {', '.join(known)}")
    return values


def _span(start: datetime | None, end: datetime | None, name: str) -> repo.Span:
    if start is not None and end is not None and start >= end:
        raise _invalid(f"{name}_from", f"must be before {name}_to")
    return repo.Span(start, end)


def _durations(shortest: float | None, longest: float | None) -> tuple[int | None, int | None]:
    if shortest is not None and longest is not None and shortest > longest:
        raise _invalid("min_duration_s", "must not be more than max_duration_s")

    def micros(seconds: float | None) -> int | None:
        return None if seconds is None else round(seconds * 1_000_000)

    return micros(shortest), micros(longest)


async def _workflow(
    conn: AsyncConnection, workspace_id: uuid.UUID, query: JobListQuery
) -> tuple[uuid.UUID | None, int | None]:
    """The workflow's id (404 when it does not exist) and the version number asked for."""
    if query.workflow is None:
        if query.version is not None:
            raise _invalid("version", "needs `workflow`: a version number belongs to one workflow")
        return None, None
    wf = await workflow_repo.get(conn, ScopedRef(query.workflow, workspace_id))
    if wf is None:
        raise NotFound(f"workflow {query.workflow!r} does not exist")
    if query.version is None:
        return wf.id, None
    try:
        number = workflows.parse_version(query.version)
    except InvalidInput:
        raise _invalid("version", f"expected a version number or `current`, not {query.version!r}") from None
    if number is None:  # current; never deployed: no job is of it (a version number no job has)
        return wf.id, wf.current_version if wf.current_version is not None else 0
    return wf.id, number


async def _creators(conn: AsyncConnection, values: list[str]) -> list[str] | None:
    """The `job.caller` values `created_by` names (None: not asked; empty: it names no one who exists)."""
    if not values:
        return None
    callers: list[str] = []
    for value in values:
        callers += await _creator(conn, value)
    return callers


async def _creator(conn: AsyncConnection, value: str) -> list[str]:
    if value == "operator":
        return ["admin"]
    if "@" in value:
        user = await people_repo.user_by_email(conn, value)
        return [] if user is None else [f"user:{user.id}"]
    prefix, colon, rest = value.partition(":")
    ident = parse_uuid(rest if colon else value)
    if ident is None or (colon and prefix not in _CREATOR_PREFIXES):
        raise _invalid(
            "created_by",
            f"{value!r} names no creator; use a user's id or email, an API key's id, user:<id>, key:<id>, "
            "schedule:<id>, trigger:<id> or operator",
        )
    if colon:
        return [f"{prefix}:{ident}"]
    return [f"user:{ident}", f"key:{ident}"]  # ids are unique: at most one of them exists


async def _search(conn: AsyncConnection, workspace_id: uuid.UUID, q: str | None) -> repo.Search | None:
    text = (q or "").strip()
    if not text:
        return None
    pattern = repo.like_pattern(text)
    return repo.Search(pattern, await repo.matching_workflows(conn, workspace_id, pattern), _id_range(text))


def _id_range(text: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The ids starting with `text` (hex digits, dashes anywhere), if it is long enough to be an id prefix."""
    digits = text.replace("-", "").lower()
    if not ID_PREFIX_MIN <= len(digits) <= 32 or not set(digits) <= _HEX:
        return None
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


# --- cursors -------------------------------------------------------------------------------------------------
# The default order's cursor is the last id, as it always was; the others hold the sort, the last row's key
# and id, and are refused for another sort.


def _encode(row: Any, sort: str) -> str:
    if sort == DEFAULT_SORT:
        return encode_cursor(row.id)
    key = row.sort_key
    if isinstance(key, datetime):
        key = key.isoformat()
    elif isinstance(key, uuid.UUID):
        key = None  # `created`: the id is the key
    return encode_json_cursor({"sort": sort, "key": key, "id": row.id.hex})


def _decode(cursor: str | None, sort: str) -> repo.After | None:
    if not cursor:
        return None
    if sort == DEFAULT_SORT:
        last = decode_cursor(cursor)
        return None if last is None else repo.After(None, last)
    position = decode_json_cursor(cursor)
    if position.get("sort") != sort:
        raise invalid_cursor(f"it belongs to another order than sort={sort}")
    last = parse_uuid(str(position.get("id")))
    if last is None:
        raise invalid_cursor()
    return repo.After(_key(sort, position.get("key")), last)


def _key(sort: str, raw: Any) -> Any:
    """The sort key a cursor holds, as the query compares it."""
    key = sort.lstrip("-")
    if raw is None and key in ("created", "finished", "duration", "name"):
        return None
    if key in ("duration", "status", "steps") and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if key in ("name", "workflow") and isinstance(raw, str):
        return raw
    if key in ("updated", "finished") and isinstance(raw, str):
        try:
            at = datetime.fromisoformat(raw)
        except ValueError:
            raise invalid_cursor() from None
        if at.tzinfo is not None:
            return at
    raise invalid_cursor()
