"""The routes that manage a workflow's event triggers, and its trigger history (schedules and triggers)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.audit.recorder import Entry
from workflow_service.deps import AuditDep, BaseUrlDep, ServicesDep, UowDep, WorkflowPathDep
from workflow_service.problems import problem_responses
from workflow_service.triggers import service
from workflow_service.triggers.schemas import (
    TriggerCreate,
    TriggerCreated,
    TriggerEventPage,
    TriggerHistory,
    TriggerRead,
    TriggerUpdate,
)

router = APIRouter(prefix="/v1/workflows/{workflow}/triggers", tags=["triggers"])
READ = [access.require(Action.TRIGGERS_READ, on=access.workflow)]
WRITE = [access.require(Action.TRIGGERS_WRITE, on=access.workflow)]


async def _setup(services: ServicesDep, base_url: BaseUrlDep) -> service.Setup:
    return service.Setup(services.plans, services.secrets, base_url)


SetupDep = Annotated[service.Setup, Depends(_setup)]


def _entry(action: str, trigger: Any, description: str, changes: dict[str, Any] | None = None) -> Entry:
    """The audit entry of an action on `trigger` (anything with its id, name and workflow)."""
    return Entry(
        action=action,
        description=f"{description} trigger {trigger.name!r} of workflow {trigger.workflow.slug!r}",
        target_id=str(trigger.id),
        target_name=trigger.name,
        workflow_id=trigger.workflow.id,
        changes=changes,
    )


@router.get("", dependencies=READ, response_model=TriggerHistory, responses=problem_responses(401, 403, 404))
async def list_triggers(workflow: WorkflowPathDep, uow: UowDep) -> TriggerHistory:
    """The trigger history: every schedule and event trigger of the workflow, with its type, name, description, set-up
    time, last run, next run (schedules), and its recent events with the job each created or why none was."""
    return await service.history_of(uow.conn, workflow)


@router.post(
    "",
    dependencies=WRITE,
    status_code=201,
    response_model=TriggerCreated,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def create_trigger(
    workflow: WorkflowPathDep, data: TriggerCreate, audit: AuditDep, setup: SetupDep, response: Response
) -> TriggerCreated:
    """Create a webhook trigger: its URL, and its secret (`whsec_…`, or a bearer token) shown this once; 422 naming
    the template of the mapping that does not compile; 409 for a signed trigger without WFS_SECRET_KEY."""
    created = await service.create(audit.uow.conn, workflow, data, setup, audit.principal.actor)
    await audit.record(_entry("trigger.created", created, f"created {created.auth} webhook"))
    response.headers["Location"] = f"{setup.base_url}/v1/workflows/{created.workflow.slug}/triggers/{created.id}"
    return created


@router.get("/{trigger_id}", dependencies=READ, response_model=TriggerRead, responses=problem_responses(401, 403, 404))
async def get_trigger(workflow: WorkflowPathDep, trigger_id: str, uow: UowDep, base_url: BaseUrlDep) -> TriggerRead:
    """A trigger: its URL, how senders authenticate, its version and mapping, whether it is paused (never its
    secret)."""
    return await service.get(uow.conn, workflow, trigger_id, base_url)


@router.patch(
    "/{trigger_id}", dependencies=WRITE, response_model=TriggerRead, responses=problem_responses(401, 403, 404, 422)
)
async def update_trigger(
    workflow: WorkflowPathDep, trigger_id: str, data: TriggerUpdate, audit: AuditDep, setup: SetupDep
) -> TriggerRead:
    """Change a trigger's name, description, version, mapping (replaced whole, checked as at creation) or pool."""
    updated = await service.update(audit.uow.conn, workflow, trigger_id, data, setup)
    if updated.changes:
        await audit.record(_entry("trigger.updated", updated.value, "updated", updated.changes))
    return updated.value


@router.delete(
    "/{trigger_id}",
    dependencies=WRITE,
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404),
)
async def delete_trigger(workflow: WorkflowPathDep, trigger_id: str, audit: AuditDep) -> Response:
    """Delete a trigger and its events; its URL answers 404 from then on. The jobs it created stay."""
    deleted = await service.delete(audit.uow.conn, workflow, trigger_id)
    await audit.record(_entry("trigger.deleted", deleted, "deleted"))
    return Response(status_code=204)


async def _pause(
    audit: AuditDep, workflow: WorkflowPathDep, trigger_id: str, base_url: str, paused: bool
) -> TriggerRead:
    done = await service.set_paused(audit.uow.conn, workflow, trigger_id, paused, base_url)
    if done.changes:  # pausing a paused trigger changes nothing
        action = "trigger.paused" if paused else "trigger.resumed"
        await audit.record(_entry(action, done.value, "paused" if paused else "resumed", done.changes))
    return done.value


@router.post(
    "/{trigger_id}/pause", dependencies=WRITE, response_model=TriggerRead, responses=problem_responses(401, 403, 404)
)
async def pause_trigger(
    workflow: WorkflowPathDep, trigger_id: str, audit: AuditDep, base_url: BaseUrlDep
) -> TriggerRead:
    """Pause a trigger: its URL refuses events with 409 `trigger_paused` (and records them) until it is resumed."""
    return await _pause(audit, workflow, trigger_id, base_url, True)


@router.post(
    "/{trigger_id}/resume", dependencies=WRITE, response_model=TriggerRead, responses=problem_responses(401, 403, 404)
)
async def resume_trigger(
    workflow: WorkflowPathDep, trigger_id: str, audit: AuditDep, base_url: BaseUrlDep
) -> TriggerRead:
    """Resume a paused trigger: its URL takes events again."""
    return await _pause(audit, workflow, trigger_id, base_url, False)


@router.post(
    "/{trigger_id}/rotate-secret",
    dependencies=WRITE,
    response_model=TriggerCreated,
    responses=problem_responses(401, 403, 404, 409),
)
async def rotate_trigger_secret(
    workflow: WorkflowPathDep, trigger_id: str, audit: AuditDep, setup: SetupDep
) -> TriggerCreated:
    """A new secret for the trigger, shown this once; the one before keeps working for 24 hours."""
    rotated = await service.rotate(audit.uow.conn, workflow, trigger_id, setup)
    await audit.record(_entry("trigger.secret_rotated", rotated, "rotated the secret of"))
    return rotated


@router.get(
    "/{trigger_id}/events",
    dependencies=READ,
    response_model=TriggerEventPage,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_trigger_events(
    workflow: WorkflowPathDep,
    trigger_id: str,
    uow: UowDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TriggerEventPage:
    """A trigger's events, newest first: each with its outcome (`created`, `duplicate`, `rejected`), the status
    answered, the job it created, or why it was refused."""
    return await service.events_page(uow.conn, workflow, trigger_id, cursor, limit)
