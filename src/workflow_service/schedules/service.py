"""Managing schedules: create, read, change, delete, pause and resume (the firing is in firing.py).

A schedule belongs to a workflow of the caller's workspace: another workspace's is not found, like a missing one.
Its inputs and variables are checked against the version it names when it is made or changed (422 with their
paths, as for a submission); the version `current` is looked up again at each run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.audit.redact import Changed, changes
from workflow_service.context import Context
from workflow_service.core.clock import utcnow
from workflow_service.core.db import AnyRow
from workflow_service.core.ids import parse_uuid, uuid7
from workflow_service.errors import InvalidInput, NotFound, ProblemItem
from workflow_service.jobs import intake
from workflow_service.schedules import pausing
from workflow_service.schedules import repository as repo
from workflow_service.schedules.reads import RECENT, iso, schedule_read
from workflow_service.schedules.schemas import ScheduleCreate, ScheduleList, ScheduleRead, ScheduleUpdate
from workflow_service.schedules.timing import EPSILON, Timing
from workflow_service.schedules.words import frequency
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows import service as workflows
from workflow_service.workflows.refs import ScopedRef
from workflow_service.workflows.schemas import WorkflowRef

COMPARED = (
    "name",
    "description",
    "cron",
    "interval_s",
    "timezone",
    "start_at",
    "end_at",
    "version",
    "inputs",
    "variables",
    "overlap",
    "pause_after_failure",
    "catchup_s",
)
"""What a change of a schedule is compared on, for its audit entry."""
TIMING = frozenset({"cron", "interval_s", "timezone", "start_at", "end_at"})
"""The fields whose change moves its next run."""
_COUNT_CAP = 100_000
"""Times a summary of skipped ones counts exactly; beyond it, it says "more than"."""


@dataclass(frozen=True, slots=True)
class ScheduleRef:
    """The schedule a route's path names: `{workflow}/schedules/{schedule_id}`."""

    workflow: ScopedRef
    schedule_id: str


@dataclass(frozen=True, slots=True)
class Found:
    """A schedule row, locked when asked, and its workflow."""

    workflow: WorkflowRef
    row: AnyRow


async def _workflow(conn: AsyncConnection, ref: ScopedRef) -> WorkflowRef:
    row = await workflow_repo.get(conn, ref)
    if row is None:
        raise NotFound(f"workflow {ref!r} does not exist")
    return WorkflowRef(id=row.id, slug=row.slug)


async def find(conn: AsyncConnection, ref: ScheduleRef, *, for_update: bool = False) -> Found:
    """The schedule `ref` names (404 when its workflow has none by that id); with `for_update`, locked."""
    workflow = await _workflow(conn, ref.workflow)
    if for_update:  # the workflow's key first, as the firing pass does: a deletion of the workflow cannot deadlock
        await repo.hold_workflow(conn, workflow.id)
    schedule_id = parse_uuid(ref.schedule_id)
    row = None if schedule_id is None else await repo.get(conn, workflow.id, schedule_id, for_update=for_update)
    if row is None:
        raise NotFound(f"schedule {ref.schedule_id!r} of workflow {ref.workflow!r} does not exist")
    return Found(workflow, row)


async def read(conn: AsyncConnection, workflow: WorkflowRef, schedule_id: uuid.UUID) -> ScheduleRead:
    """The schedule as the API shows it, read in `conn`'s transaction (with what it changed)."""
    row = await repo.get(conn, workflow.id, schedule_id)
    assert row is not None, "read in the transaction that holds it"
    fires = (await repo.recent(conn, [row.id], RECENT))[row.id]
    return schedule_read(row, workflow, fires)


async def _reread(conn: AsyncConnection, found: Found) -> ScheduleRead:
    return await read(conn, found.workflow, found.row.id)


async def get(conn: AsyncConnection, ref: ScheduleRef) -> ScheduleRead:
    """One schedule with its latest fires."""
    return await _reread(conn, await find(conn, ref))


async def list_all(conn: AsyncConnection, ref: ScopedRef) -> ScheduleList:
    """The workflow's schedules, oldest first, each with its latest fires."""
    workflow = await _workflow(conn, ref)
    rows = await repo.of_workflow(conn, workflow.id)
    fires = await repo.recent(conn, [row.id for row in rows], RECENT)
    return ScheduleList(items=[schedule_read(row, workflow, fires[row.id]) for row in rows])


def _timing(values: dict[str, Any], now: datetime) -> Timing:
    """The timing of the schedule `values` describe; 422 naming the field for a contradiction."""
    if (values["cron"] is None) == (values["interval_s"] is None):
        said = "both" if values["cron"] is not None else "neither"
        problem = f"give exactly one of `cron` and `interval` ({said} given)"
        raise InvalidInput(
            problem, errors=[{"path": "$.cron", "message": problem}, {"path": "$.interval", "message": problem}]
        )
    start, end = values["start_at"], values["end_at"]
    if start is not None and end is not None and end <= start:
        raise InvalidInput(
            "end_at must be after start_at", errors=[{"path": "$.end_at", "message": "not after start_at"}]
        )
    if end is not None and end <= now:
        raise InvalidInput(
            "end_at must be in the future", errors=[{"path": "$.end_at", "message": "not in the future"}]
        )
    return Timing.of_values(values)


async def _check_runs(conn: AsyncConnection, ctx: Context, workflow: WorkflowRef, values: dict[str, Any]) -> None:
    """422 unless the version exists and the inputs and variables would make a job of it (409 not_deployed for a
    workflow never deployed)."""
    version = "current" if values["version"] is None else str(values["version"])
    ref = ScopedRef(str(workflow.id), values["workspace_id"])
    try:
        target = await workflows.resolve_target(conn, ctx.plans, ref, version)
    except NotFound as exc:
        raise InvalidInput(str(exc), errors=[ProblemItem(path="$.version", message=str(exc)).model_dump()]) from exc
    intake.check_submission(target.plan, values["inputs"], values["variables"])


async def create(
    conn: AsyncConnection, ctx: Context, ref: ScopedRef, data: ScheduleCreate, *, actor: str
) -> ScheduleRead:
    """Make a schedule of the workflow; its first run is its first time after now (and after its start)."""
    now = utcnow()
    workflow = await _workflow(conn, ref)
    values: dict[str, Any] = {
        "id": uuid7(),
        "workspace_id": ref.workspace_id,
        "workflow_id": workflow.id,
        "description": data.description,
        "cron": data.cron,
        "interval_s": data.interval,
        "timezone": data.timezone,
        "start_at": data.start_at,
        "end_at": data.end_at,
        "version": None if data.version == "current" else data.version,
        "inputs": data.inputs,
        "variables": data.variables,
        "overlap": data.overlap,
        "pause_after_failure": data.pause_after_failure,
        "catchup_s": data.catchup_s,
        "paused": False,
        "created_by": actor,
        "created_at": now,
        "updated_at": now,
    }
    values["next_run_at"] = _timing(values, now).next_after(now)
    values["name"] = data.name or frequency(data.cron, data.interval, data.timezone)
    await _check_runs(conn, ctx, workflow, values)
    await repo.insert(conn, values)
    return await read(conn, workflow, values["id"])


_NOT_NULL = frozenset({"name", "timezone", "version", "inputs", "variables", "overlap", "pause_after_failure"})
"""ScheduleUpdate's fields that cannot be set to null."""
_FIELDS = {"interval": "interval_s"}
"""ScheduleUpdate's fields stored under another name."""


async def update(
    conn: AsyncConnection, ctx: Context, ref: ScheduleRef, data: ScheduleUpdate, *, now: datetime | None = None
) -> Changed[ScheduleRead]:
    """Change the fields sent; a change of its timing moves its next run to its first time after now."""
    now = now or utcnow()
    found = await find(conn, ref, for_update=True)
    row = found.row
    before = {name: getattr(row, name) for name in COMPARED}
    after = dict(before)
    for name in data.model_fields_set:
        value = getattr(data, name)
        if value is None and name in _NOT_NULL:
            raise InvalidInput(f"{name} cannot be null", errors=[{"path": f"$.{name}", "message": "cannot be null"}])
        after[_FIELDS.get(name, name)] = None if name == "version" and value == "current" else value
    if "cron" in data.model_fields_set and data.cron is not None and "interval" not in data.model_fields_set:
        after["interval_s"] = None  # a cron expression replaces the interval
    if "interval" in data.model_fields_set and data.interval is not None and "cron" not in data.model_fields_set:
        after["cron"] = None
    changed = changes(before, after)
    if not changed:
        return Changed(await _reread(conn, found), {})
    values = {**after, "workspace_id": row.workspace_id, "created_at": row.created_at, "updated_at": now}
    timing = _timing(values, now) if changed.keys() & TIMING else None
    if changed.keys() & {"version", "inputs", "variables"}:
        await _check_runs(conn, ctx, found.workflow, values)
    if timing is not None:
        values["next_run_at"] = timing.next_after(now)
    values.pop("workspace_id")
    values.pop("created_at")
    await repo.update(conn, row.id, values)
    return Changed(await _reread(conn, found), changed)


async def delete(conn: AsyncConnection, ref: ScheduleRef) -> ScheduleRead:
    """Delete the schedule and the record of its times (the jobs it made stay); what it was."""
    found = await find(conn, ref, for_update=True)
    gone = await _reread(conn, found)
    await repo.delete(conn, found.row.id)
    return gone


async def pause(
    conn: AsyncConnection, ref: ScheduleRef, *, actor: str, now: datetime | None = None
) -> Changed[ScheduleRead]:
    """Pause it (its times are not run until it is resumed); a paused schedule is left as it is."""
    found = await find(conn, ref, for_update=True)
    if found.row.paused:
        return Changed(await _reread(conn, found), {})
    await pausing.pause_locked(conn, found.row, f"paused by {actor}", now or utcnow())
    return Changed(await _reread(conn, found), {"paused": {"before": False, "after": True}})


async def resume(conn: AsyncConnection, ref: ScheduleRef, *, now: datetime | None = None) -> Changed[ScheduleRead]:
    """Resume it from now: the times that passed while it was paused are not run, and are recorded as skipped (in
    one fire, at the first of them). A running schedule is left as it is."""
    now = now or utcnow()
    found = await find(conn, ref, for_update=True)
    row = found.row
    if not row.paused:
        return Changed(await _reread(conn, found), {})
    timing = Timing.of(row)
    if row.next_run_at is not None and row.next_run_at <= now:
        missed = timing.count(row.next_run_at, now + EPSILON, _COUNT_CAP)
        how_many = f"more than {_COUNT_CAP}" if missed > _COUNT_CAP else str(missed)
        reason = f"paused: {how_many} scheduled time(s) from {iso(row.next_run_at)} to {iso(now)} passed while paused"
        fire = {"schedule_id": row.id, "scheduled_at": row.next_run_at, "outcome": "skipped", "reason": reason}
        await repo.claim(conn, {**fire, "at": now})
    values = {
        "paused": False,
        "paused_at": None,
        "paused_reason": None,
        "next_run_at": timing.next_after(now),
        "updated_at": now,
    }
    await repo.update(conn, row.id, values)
    return Changed(await _reread(conn, found), {"paused": {"before": True, "after": False}})
