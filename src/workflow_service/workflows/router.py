from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from workflow_service.access import routes as access
from workflow_service.access.policy import Action, reads_member_role
from workflow_service.audit.recorder import Entry
from workflow_service.deps import AuditDep, BaseUrlDep, PrincipalDep, ServicesDep, UowDep, WorkflowPathDep
from workflow_service.jobs import deletion
from workflow_service.problems import problem_responses
from workflow_service.workflows import env, service
from workflow_service.workflows.refs import ScopedRef
from workflow_service.workflows.repository import Visible
from workflow_service.workflows.schemas import (
    DraftUpdate,
    ValidationReport,
    VersionList,
    VersionRead,
    WorkflowCreate,
    WorkflowPage,
    WorkflowRead,
    WorkflowRef,
)
from workflow_service.workflows.settings import SettingsRead, SettingsUpdate

# One router, whose routes are each in their domain (tag) of the contract: a workflow's versions, settings and
# environment are domains of their own.
router = APIRouter(prefix="/v1/workflows")


def _entry(action: str, workflow: Any, description: str, changes: dict[str, Any] | None = None) -> Entry:
    """The audit entry of an action on `workflow` (anything with its `id` and `slug`)."""
    workflow_id: uuid.UUID = workflow.id
    return Entry(
        action=action,
        description=description,
        target_id=str(workflow_id),
        target_name=workflow.slug,
        workflow_id=workflow_id,
        changes=changes,
    )


@router.post(
    "",
    tags=["workflows"],
    dependencies=[access.require(Action.WORKFLOW_CREATE)],
    status_code=201,
    response_model=WorkflowRead,
    responses=problem_responses(401, 409, 422),
)
async def create_workflow(
    data: WorkflowCreate, uow: UowDep, base: BaseUrlDep, response: Response, audit: AuditDep
) -> WorkflowRead:
    """Create a workflow with a draft definition, in the caller's workspace; a workspace member who creates one
    is made its owner. The body may also be YAML (`Content-Type: application/yaml`), with the same fields."""
    principal = audit.principal
    member = principal.user_id if reads_member_role(principal) else None
    workflow = await service.create(uow.conn, data, base, service.Creator(principal.workspace_id, member))
    await audit.record(_entry("workflow.created", workflow, f"created workflow {workflow.slug!r} ({workflow.name})"))
    response.headers["Location"] = f"{base}/v1/workflows/{workflow.slug}"
    return workflow


@router.get(
    "",
    tags=["workflows"],
    dependencies=[access.require(Action.WORKFLOW_LIST)],
    response_model=WorkflowPage,
    responses=problem_responses(401, 422),
)
async def list_workflows(
    uow: UowDep, principal: PrincipalDep, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> WorkflowPage:
    """List the workflows of the caller's workspace, newest first: a workspace member sees only those they were
    invited to."""
    member = principal.user_id if reads_member_role(principal) else None
    return await service.list_page(uow.conn, Visible(principal.workspace_id, member), cursor, limit)


@router.get(
    "/{workflow}",
    tags=["workflows"],
    dependencies=[access.require(Action.WORKFLOW_READ, on=access.workflow)],
    response_model=WorkflowRead,
    responses=problem_responses(401, 404),
)
async def get_workflow(workflow: WorkflowPathDep, uow: UowDep, base: BaseUrlDep) -> WorkflowRead:
    """Get a workflow (by id or slug) with its draft and the draft's problems."""
    return await service.get(uow.conn, workflow, base)


@dataclass(frozen=True)
class WorkflowDeletion:
    """A request to delete the workflow in the path: by whom, and whether its jobs that have not ended are
    canceled as part of it."""

    workflow: ScopedRef
    actor: str
    cancel_active: bool


async def _workflow_deletion(
    workflow: WorkflowPathDep,
    principal: PrincipalDep,
    cancel_active: Annotated[
        bool, Query(description="true: cancel the workflow's jobs that have not ended, then delete (else 409).")
    ] = False,
) -> WorkflowDeletion:
    return WorkflowDeletion(workflow, principal.actor, cancel_active)


@router.delete(
    "/{workflow}",
    tags=["workflows"],
    dependencies=[access.require(Action.WORKFLOW_DELETE, on=access.workflow)],
    status_code=204,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def delete_workflow(
    deleting: Annotated[WorkflowDeletion, Depends(_workflow_deletion)], audit: AuditDep, services: ServicesDep
) -> None:
    """Delete a workflow with its versions, jobs (their steps, events, deliveries), API keys, environment variables
    and members, in one transaction; 409 `workflow_has_active_jobs` while some of its jobs have not ended, unless
    `cancel_active=true`. It cannot be undone; audit entries stay."""
    how = deleting
    gone = await deletion.delete_workflow(
        audit.uow, services, how.workflow, actor=how.actor, cancel_active=how.cancel_active
    )
    canceled = f", {gone.canceled} of them canceled first" if gone.canceled else ""
    described = f"deleted workflow {gone.slug!r} with its {gone.jobs} job(s){canceled}"
    await audit.record(_entry("workflow.deleted", WorkflowRef(id=gone.workflow_id, slug=gone.slug), described))


@router.put(
    "/{workflow}/draft",
    tags=["workflows"],
    dependencies=[access.require(Action.WORKFLOW_EDIT, on=access.workflow)],
    response_model=WorkflowRead,
    responses=problem_responses(401, 404, 422),
)
async def update_draft(workflow: WorkflowPathDep, data: DraftUpdate, audit: AuditDep, base: BaseUrlDep) -> WorkflowRead:
    """Replace the draft definition. The body may also be YAML (`Content-Type: application/yaml`), with the same
    fields. It takes a create's fields too, so one file creates and updates a workflow: `name` and
    `description` replace the workflow's when given; `slug`, when given, must be the workflow's own."""
    updated = await service.update_draft(audit.uow.conn, workflow, data, base)
    row = updated.value
    if updated.changes:  # the same draft again changes nothing
        described = f"updated the draft of workflow {row.slug!r}"
        await audit.record(_entry("workflow.draft_updated", row, described, updated.changes))
    return row


@router.post(
    "/{workflow}/validate",
    tags=["workflows"],
    dependencies=[access.require(Action.WORKFLOW_EDIT, on=access.workflow)],
    response_model=ValidationReport,
    responses=problem_responses(401, 404),
)
async def validate_draft(workflow: WorkflowPathDep, uow: UowDep) -> ValidationReport:
    """Validate the draft and list every problem with its JSON path (changes nothing, so records nothing in the
    audit log)."""
    return await service.validate(uow.conn, workflow)


@router.post(
    "/{workflow}/deploy",
    tags=["versions"],
    dependencies=[access.require(Action.WORKFLOW_EDIT, on=access.workflow)],
    status_code=201,
    response_model=VersionRead,
    responses=problem_responses(401, 404, 422),
)
async def deploy_workflow(
    workflow: WorkflowPathDep, audit: AuditDep, base: BaseUrlDep, response: Response
) -> VersionRead:
    """Deploy the draft as a new immutable version and make it `current`."""
    deployed = await service.deploy(audit.uow.conn, workflow, base)
    version = deployed.value
    described = f"deployed version {version.number} of workflow {version.workflow.slug!r}"
    await audit.record(_entry("workflow.deployed", version.workflow, described, deployed.changes))
    response.headers["Location"] = f"{base}/v1/workflows/{version.workflow.slug}/versions/{version.number}"
    return version


@router.get(
    "/{workflow}/versions",
    tags=["versions"],
    dependencies=[access.require(Action.WORKFLOW_READ, on=access.workflow)],
    response_model=VersionList,
    responses=problem_responses(401, 404),
)
async def list_versions(workflow: WorkflowPathDep, uow: UowDep) -> VersionList:
    """List deployed versions, newest first."""
    return await service.list_versions(uow.conn, workflow)


@router.get(
    "/{workflow}/versions/{version}",
    tags=["versions"],
    dependencies=[access.require(Action.WORKFLOW_READ, on=access.workflow)],
    response_model=VersionRead,
    responses=problem_responses(401, 404, 409, 422),
)
async def get_version(workflow: WorkflowPathDep, version: str, uow: UowDep, base: BaseUrlDep) -> VersionRead:
    """Get one deployed version (a number or `current`)."""
    return await service.get_version(uow.conn, workflow, version, base)


@router.get(
    "/{workflow}/settings",
    tags=["settings"],
    dependencies=[access.require(Action.WORKFLOW_READ, on=access.workflow)],
    response_model=SettingsRead,
    responses=problem_responses(401, 403, 404),
)
async def get_workflow_settings(workflow: WorkflowPathDep, uow: UowDep) -> SettingsRead:
    """Endpoint settings: sync timeout, queue timeout, push (the access token and secrets are never shown)."""
    return await service.get_settings(uow.conn, workflow)


@router.patch(
    "/{workflow}/settings",
    tags=["settings"],
    dependencies=[access.require(Action.WORKFLOW_MANAGE, on=access.workflow)],
    response_model=SettingsRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def update_workflow_settings(
    workflow: WorkflowPathDep, data: SettingsUpdate, audit: AuditDep, services: ServicesDep
) -> SettingsRead:
    """Change endpoint settings; only the fields sent change. Enabling push the first time returns the
    signing secret (`whsec_…`) once."""
    updated = await service.update_settings(audit.uow.conn, workflow, data, services.policy, services.secrets)
    if updated.changes:  # the same values again change nothing
        described = f"changed the endpoint settings of workflow {updated.workflow.slug!r}: {', '.join(updated.changes)}"
        await audit.record(_entry("settings.updated", updated.workflow, described, updated.changes))
    return updated.settings


@router.post(
    "/{workflow}/settings/rotate-signing-secret",
    tags=["settings"],
    dependencies=[access.require(Action.WORKFLOW_MANAGE, on=access.workflow)],
    response_model=SettingsRead,
    responses=problem_responses(401, 403, 404),
)
async def rotate_signing_secret(workflow: WorkflowPathDep, audit: AuditDep, services: ServicesDep) -> SettingsRead:
    """Make a new signing secret (returned once); the previous one keeps signing for 24 h. It signs the push
    callbacks and the notices of jobs submitted with a `notify_url` (push need not be enabled)."""
    rotated = await service.rotate_signing_secret(audit.uow.conn, workflow, services.secrets)
    described = f"made a new signing secret for workflow {rotated.workflow.slug!r}; the previous one signs 24 h more"
    await audit.record(_entry("settings.signing_secret_rotated", rotated.workflow, described, rotated.changes))
    return rotated.settings


EnvName = Annotated[
    str, Path(pattern=env.NAME_PATTERN, description="Upper-case letters, digits and `_`, not starting with a digit.")
]


@dataclass(frozen=True)
class EnvVarRef:
    """The environment variable a route's path names: `{workflow}/env/{name}`, and its absolute URL."""

    workflow: ScopedRef
    name: str
    url: str


async def _env_var_ref(workflow: WorkflowPathDep, name: EnvName, base: BaseUrlDep) -> EnvVarRef:
    return EnvVarRef(workflow, name, f"{base}/v1/workflows/{workflow}/env/{name}")


EnvVarDep = Annotated[EnvVarRef, Depends(_env_var_ref)]


@router.get(
    "/{workflow}/env",
    tags=["environment"],
    dependencies=[access.require(Action.WORKFLOW_READ, on=access.workflow)],
    response_model=env.EnvVarList,
    responses=problem_responses(401, 403, 404),
)
async def list_env_vars(workflow: WorkflowPathDep, uow: UowDep) -> env.EnvVarList:
    """List the workflow's environment variables (secure values are never shown)."""
    return await env.list_vars(uow.conn, workflow)


@router.get(
    "/{workflow}/env/{name}",
    tags=["environment"],
    dependencies=[access.require(Action.WORKFLOW_READ, on=access.workflow)],
    response_model=env.EnvVarRead,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_env_var(var: EnvVarDep, uow: UowDep) -> env.EnvVarRead:
    """Get one environment variable (a secure value is never shown)."""
    return await env.get_var(uow.conn, var.workflow, var.name)


@router.put(
    "/{workflow}/env/{name}",
    tags=["environment"],
    dependencies=[access.require(Action.WORKFLOW_MANAGE, on=access.workflow)],
    response_model=env.EnvVarRead,
    responses={201: {"model": env.EnvVarRead, "description": "Created"}, **problem_responses(401, 403, 404, 409, 422)},
)
async def put_env_var(
    var: EnvVarDep, data: env.EnvVarWrite, audit: AuditDep, services: ServicesDep, response: Response
) -> env.EnvVarRead:
    """Create (201) or replace (200) an environment variable, read in templates as `env.NAME`. A secure
    one is encrypted at rest, never returned, and redacted from jobs; it needs WFS_SECRET_KEY (else 409)."""
    written = await env.put_var(audit.uow.conn, var.workflow, var.name, data, services.secrets)
    if written.changes:  # the same value, notes and kind again change nothing
        verb = "created" if written.created else "updated"
        secure = "secure " if data.secure else ""
        described = f"{verb} {secure}environment variable {var.name} of workflow {var.workflow}"
        await audit.record(_env_entry(f"env.{verb}", var, written.workflow_id, described, written.changes))
    if written.created:
        response.status_code = 201
        response.headers["Location"] = var.url
    return written.var


@router.delete(
    "/{workflow}/env/{name}",
    tags=["environment"],
    dependencies=[access.require(Action.WORKFLOW_MANAGE, on=access.workflow)],
    status_code=204,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_env_var(var: EnvVarDep, audit: AuditDep) -> None:
    """Delete an environment variable; jobs claimed afterwards no longer see it."""
    deleted = await env.delete_var(audit.uow.conn, var.workflow, var.name)
    described = f"deleted environment variable {var.name} of workflow {var.workflow}"
    await audit.record(_env_entry("env.deleted", var, deleted.value, described, deleted.changes))


def _env_entry(action: str, var: EnvVarRef, workflow_id: uuid.UUID, description: str, changes: dict[str, Any]) -> Entry:
    return Entry(
        action=action,
        description=description,
        target_id=var.name,
        target_name=var.name,
        workflow_id=workflow_id,
        changes=changes,
    )
