"""The schedule routes: `/v1/workflows/{workflow}/schedules…` (docs/schedules.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.audit.recorder import Entry
from workflow_service.deps import AuditDep, BaseUrlDep, ServicesDep, UowDep, WorkflowPathDep
from workflow_service.problems import problem_responses
from workflow_service.schedules import service
from workflow_service.schedules.backfill import backfill
from workflow_service.schedules.reads import iso
from workflow_service.schedules.schemas import (
    BackfillRequest,
    BackfillResult,
    ScheduleCreate,
    ScheduleList,
    ScheduleRead,
    ScheduleUpdate,
)
from workflow_service.schedules.service import ScheduleRef
from workflow_service.workflows.refs import ScopedRef

router = APIRouter(prefix="/v1/workflows/{workflow}/schedules", tags=["schedules"])
READ = [access.require(Action.SCHEDULE_READ, on=access.workflow)]
MANAGE = [access.require(Action.SCHEDULE_MANAGE, on=access.workflow)]


async def _schedule_ref(workflow: WorkflowPathDep, schedule_id: str) -> ScheduleRef:
    return ScheduleRef(workflow, schedule_id)


ScheduleDep = Annotated[ScheduleRef, Depends(_schedule_ref)]
"""The schedule the path names (`{workflow}/schedules/{schedule_id}`), in the caller's workspace."""


@dataclass(frozen=True, slots=True)
class _At:
    """The workflow the path names, and the base of the absolute URLs the response gives."""

    workflow: ScopedRef
    base: str


async def _at(workflow: WorkflowPathDep, base: BaseUrlDep) -> _At:
    return _At(workflow, base)


def _entry(action: str, schedule: ScheduleRead, description: str, changes: dict[str, Any] | None = None) -> Entry:
    return Entry(
        action=action,
        description=description,
        target_id=str(schedule.id),
        target_name=schedule.name,
        workflow_id=schedule.workflow.id,
        changes=changes,
    )


def _named(schedule: ScheduleRead) -> str:
    return f"schedule {schedule.name!r} of workflow {schedule.workflow.slug!r}"


@router.post(
    "",
    dependencies=MANAGE,
    status_code=201,
    response_model=ScheduleRead,
    responses=problem_responses(401, 404, 409, 422),
)
async def create_schedule(
    data: ScheduleCreate, audit: AuditDep, services: ServicesDep, response: Response, at: Annotated[_At, Depends(_at)]
) -> ScheduleRead:
    """Create a schedule: the workflow runs at each time its cron expression (in its time zone) or its interval
    gives, with these inputs and variables (checked against the version now, 422 with their paths; 409
    `not_deployed` for a workflow never deployed)."""
    made = await service.create(audit.uow.conn, services, at.workflow, data, actor=audit.principal.actor)
    await audit.record(_entry("schedule.created", made, f"created {_named(made)} ({made.frequency})"))
    response.headers["Location"] = f"{at.base}/v1/workflows/{made.workflow.slug}/schedules/{made.id}"
    return made


@router.get("", dependencies=READ, response_model=ScheduleList, responses=problem_responses(401, 404))
async def list_schedules(workflow: WorkflowPathDep, uow: UowDep) -> ScheduleList:
    """List the workflow's schedules, oldest first, each with its next run and its latest times."""
    return await service.list_all(uow.conn, workflow)


@router.get("/{schedule_id}", dependencies=READ, response_model=ScheduleRead, responses=problem_responses(401, 404))
async def get_schedule(schedule: ScheduleDep, uow: UowDep) -> ScheduleRead:
    """Get a schedule: its frequency in words, last and next run (UTC and its zone), and its latest times."""
    return await service.get(uow.conn, schedule)


@router.patch(
    "/{schedule_id}", dependencies=MANAGE, response_model=ScheduleRead, responses=problem_responses(401, 404, 409, 422)
)
async def update_schedule(
    schedule: ScheduleDep, data: ScheduleUpdate, audit: AuditDep, services: ServicesDep
) -> ScheduleRead:
    """Change a schedule (only the fields sent). A change of its timing moves its next run to its first time from
    now; new inputs, variables or version are checked like a submission's."""
    updated = await service.update(audit.uow.conn, services, schedule, data)
    if updated.changes:  # the same values again change nothing
        await audit.record(
            _entry("schedule.updated", updated.value, f"updated {_named(updated.value)}", updated.changes)
        )
    return updated.value


@router.delete("/{schedule_id}", dependencies=MANAGE, status_code=204, responses=problem_responses(401, 404, 422))
async def delete_schedule(schedule: ScheduleDep, audit: AuditDep) -> None:
    """Delete a schedule and the record of its times; the jobs it made stay."""
    gone = await service.delete(audit.uow.conn, schedule)
    await audit.record(_entry("schedule.deleted", gone, f"deleted {_named(gone)}"))


@router.post(
    "/{schedule_id}/pause", dependencies=MANAGE, response_model=ScheduleRead, responses=problem_responses(401, 404, 422)
)
async def pause_schedule(schedule: ScheduleDep, audit: AuditDep) -> ScheduleRead:
    """Pause a schedule: its times are not run until it is resumed (a paused one stays as it is)."""
    paused = await service.pause(audit.uow.conn, schedule, actor=audit.principal.actor)
    if paused.changes:
        await audit.record(_entry("schedule.paused", paused.value, f"paused {_named(paused.value)}", paused.changes))
    return paused.value


@router.post(
    "/{schedule_id}/resume",
    dependencies=MANAGE,
    response_model=ScheduleRead,
    responses=problem_responses(401, 404, 422),
)
async def resume_schedule(schedule: ScheduleDep, audit: AuditDep) -> ScheduleRead:
    """Resume a paused schedule from now: the times that passed while it was paused are recorded as skipped."""
    resumed = await service.resume(audit.uow.conn, schedule)
    if resumed.changes:
        described = f"resumed {_named(resumed.value)}"
        await audit.record(_entry("schedule.resumed", resumed.value, described, resumed.changes))
    return resumed.value


@router.post(
    "/{schedule_id}/backfill",
    dependencies=MANAGE,
    response_model=BackfillResult,
    responses=problem_responses(401, 404, 409, 422),
)
async def backfill_schedule(
    schedule: ScheduleDep, data: BackfillRequest, audit: AuditDep, services: ServicesDep
) -> BackfillResult:
    """Run the schedule's times in a past interval [from, to] (at most 1000) that have not run yet: a time already
    run is not run again, one recorded as skipped is run."""
    done = await backfill(audit.uow, services, schedule, data)
    result = done.result
    described = (
        f"backfilled {_named(done.schedule)} from {iso(data.from_)} to {iso(data.to)}: {result.created} job(s) "
        f"created, {result.already_run} time(s) already run"
    )
    await audit.record(_entry("schedule.backfilled", done.schedule, described))
    return result
