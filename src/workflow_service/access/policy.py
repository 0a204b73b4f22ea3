"""The access policy: `allowed(principal, action, resource)` decides every access rule, as pure code.

Routes never decide access themselves: each declares `routes.require(action, on=loader)`, which builds the
resource descriptor from the path (with what the decision needs: a job's creator, workspace and workflow, a
member's role on a workflow) and asks `allowed`. A new rule is a new `Action`, a row in the tables below, and
a row in tests/access/test_policy.py. The rules are written out for people in docs/people.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from workflow_service.access.principal import Principal, PrincipalKind, WorkflowRole


class Action(StrEnum):
    """Everything a route lets its caller do, named `<resource>.<verb>`."""

    # The deployment and the workspace (no workflow or job in the path).
    WORKSPACE_CREATE = "workspace.create"
    WORKSPACE_LIST = "workspace.list"
    WORKSPACE_READ = "workspace.read"
    """The caller's workspace, and who the caller is."""
    WORKSPACE_MANAGE = "workspace.manage"
    """The workspace's settings (its default retention)."""
    MEMBER_READ = "member.read"
    MEMBER_MANAGE = "member.manage"
    """Add users to the workspace, change their role, remove them."""
    TOKEN_MANAGE = "token.manage"
    """A user's own personal access tokens."""
    AUDIT_READ = "audit.read"
    """The workspace's audit log."""
    AGENT_READ = "agent.read"
    TOOL_READ = "tool.read"
    WORKFLOW_CREATE = "workflow.create"
    WORKFLOW_LIST = "workflow.list"
    JOB_LIST = "job.list"
    """The caller's own jobs (`My jobs`)."""
    JOB_LIST_ALL = "job.list_all"
    """Every job of the workspace's workflows (`All jobs`)."""
    METRICS_READ = "metrics.read"
    """The deployment's metrics (GET /metrics): they name every workspace's workflows, so the operator only."""
    # A workflow.
    WORKFLOW_READ = "workflow.read"
    """A workflow, its versions, settings (secrets never shown), environment."""
    WORKFLOW_JOBS_LIST = "workflow.jobs_list"
    """Every job of the workflow (`All jobs` of it: `GET /v1/jobs?scope=all&workflow=`)."""
    WORKFLOW_MONITOR = "workflow.monitor"
    """The workflow's monitor: its figures, its runs and its model calls (ids, times, outcomes; never inputs)."""
    WORKFLOW_MEMBERS_READ = "workflow.members_read"
    """Who the workflow is shared with (people's emails: never to API keys)."""
    WORKFLOW_EDIT = "workflow.edit"
    """Replace the draft, validate it, deploy it."""
    WORKFLOW_MANAGE = "workflow.manage"
    """Endpoint settings, the signing secret, environment variables, triggers."""
    SCHEDULE_READ = "schedule.read"
    """The workflow's schedules, with their inputs and the record of their times."""
    SCHEDULE_MANAGE = "schedule.manage"
    """Create, change, delete, pause, resume and backfill the workflow's schedules."""
    WORKFLOW_EXPORT = "workflow.export"
    """Export and import packages."""
    WORKFLOW_AUDIT = "workflow.audit"
    """The workflow's audit log."""
    WORKFLOW_SHARE = "workflow.share"
    """Invite users to the workflow, change their roles, remove them."""
    WORKFLOW_DELETE = "workflow.delete"
    TRIGGERS_READ = "triggers.read"
    """The workflow's schedules and event triggers with their recent events (the jobs they made: not to keys)."""
    TRIGGERS_WRITE = "triggers.write"
    """Create, change, pause, resume and delete them, and rotate a trigger's secret."""
    APIKEY_MANAGE = "apikey.manage"
    JOB_SUBMIT = "job.submit"
    """Submit to a workflow's endpoints (async, push, sync)."""
    JOB_ESTIMATE = "job.estimate"
    # A job.
    JOB_READ = "job.read"
    """A job, its events, its deliveries (its inputs only to its creator: jobs/service)."""
    JOB_CANCEL = "job.cancel"
    JOB_RERUN = "job.rerun"
    """Rerun, run from a step, duplicate: a new job made from this one."""
    JOB_START = "job.start"
    JOB_UPDATE = "job.update"
    """Rename it; change the variables of one not started."""
    JOB_DELETE = "job.delete"
    JOB_REDELIVER = "job.redeliver"


@dataclass(frozen=True, slots=True)
class ServiceResource:
    """The service as a whole: listings, creating a workflow, the workspace, agents, tools."""


SERVICE = ServiceResource()


@dataclass(frozen=True, slots=True)
class WorkflowResource:
    """A workflow as a route names it (an id or a slug), whether or not it exists."""

    ref: str
    member_role: WorkflowRole | None = None
    """For a workspace member: the role they were invited with, looked up in their workspace (None: not
    invited, or no such workflow there). Not read for other principals."""


@dataclass(frozen=True, slots=True)
class JobResource:
    """A job as a route names it, with what the decision reads; `caller` None when there is no such job."""

    id: str
    caller: str | None = None
    """Who created it (`admin`, `user:<id>`, `key:<id>`, …)."""
    workspace_id: uuid.UUID | None = None
    workflow_id: uuid.UUID | None = None
    member_role: WorkflowRole | None = None
    """For a workspace member: their role on the job's workflow."""


Resource = ServiceResource | WorkflowResource | JobResource


class Effect(StrEnum):
    ALLOW = "allow"
    FORBID = "forbid"
    """403: the principal may not do this."""
    HIDE = "hide"
    """404, word for word what a missing resource gets: the principal learns nothing about its existence."""


@dataclass(frozen=True, slots=True)
class Decision:
    effect: Effect
    reason: str = ""
    """The problem's detail, for FORBID and HIDE."""


ALLOW = Decision(Effect.ALLOW)


class Who(StrEnum):
    """Who may do a service-wide action (SERVICE_ACTIONS); the operator may do everything."""

    MANAGER = "manager"
    """A workspace owner or admin."""
    USER = "user"
    """Any user of the workspace."""
    KEY = "key"


SERVICE_ACTIONS: Mapping[Action, frozenset[Who]] = {
    Action.WORKSPACE_CREATE: frozenset(),
    Action.WORKSPACE_LIST: frozenset({Who.USER}),
    Action.WORKSPACE_READ: frozenset({Who.USER, Who.KEY}),
    Action.WORKSPACE_MANAGE: frozenset({Who.MANAGER}),
    Action.MEMBER_READ: frozenset({Who.MANAGER}),
    Action.MEMBER_MANAGE: frozenset({Who.MANAGER}),
    Action.TOKEN_MANAGE: frozenset({Who.USER}),
    Action.AUDIT_READ: frozenset({Who.MANAGER}),
    Action.AGENT_READ: frozenset({Who.MANAGER}),
    Action.TOOL_READ: frozenset({Who.USER}),
    Action.WORKFLOW_CREATE: frozenset({Who.USER}),
    Action.WORKFLOW_LIST: frozenset({Who.USER}),
    Action.JOB_LIST: frozenset({Who.USER, Who.KEY}),
    Action.JOB_LIST_ALL: frozenset({Who.MANAGER}),
    Action.METRICS_READ: frozenset(),
}
"""Who may do each action that names no workflow or job. A workspace owner or admin is also a user."""

_VIEWER = frozenset(
    {
        Action.WORKFLOW_READ,
        Action.WORKFLOW_JOBS_LIST,
        Action.WORKFLOW_MONITOR,
        Action.WORKFLOW_MEMBERS_READ,
        Action.JOB_READ,
        Action.TRIGGERS_READ,
        Action.SCHEDULE_READ,
    }
)
_RUNNER = _VIEWER | {Action.JOB_SUBMIT, Action.JOB_ESTIMATE}
_EDITOR = _RUNNER | {
    Action.WORKFLOW_EDIT,
    Action.WORKFLOW_MANAGE,
    Action.SCHEDULE_MANAGE,
    Action.WORKFLOW_EXPORT,
    Action.WORKFLOW_AUDIT,
    Action.APIKEY_MANAGE,
    Action.TRIGGERS_WRITE,
}
_OWNER = _EDITOR | {Action.WORKFLOW_SHARE, Action.WORKFLOW_DELETE}
WORKFLOW_ROLE_ACTIONS: Mapping[WorkflowRole, frozenset[Action]] = {
    WorkflowRole.VIEWER: _VIEWER,
    WorkflowRole.RUNNER: _RUNNER,
    WorkflowRole.EDITOR: _EDITOR,
    WorkflowRole.OWNER: _OWNER,
}
"""What each role on a workflow allows on that workflow. Workspace owners and admins are owners of every
workflow of their workspace; an API key is a runner on its one workflow."""

NOT_FOR_KEYS = frozenset(
    {
        Action.WORKFLOW_MEMBERS_READ,
        Action.WORKFLOW_JOBS_LIST,
        Action.WORKFLOW_MONITOR,
        Action.TRIGGERS_READ,
        Action.SCHEDULE_READ,
    }
)
"""What a runner may do but an API key, a runner that is a program, may not: read people's emails, list the jobs
of others or watch them in the monitor (a key sees only the jobs it submitted), read the schedules and triggers
(what they run, and the jobs they made)."""

OWN_JOB_ACTIONS = frozenset(
    {Action.JOB_CANCEL, Action.JOB_RERUN, Action.JOB_START, Action.JOB_UPDATE, Action.JOB_DELETE, Action.JOB_REDELIVER}
)
"""What a runner (or more) may do to the jobs they created, and a workflow's owner to every job of it."""

_KEY_LIMIT = "an API key may only call its workflow's endpoints and act on the jobs it submitted"
_KEY_ELSEWHERE = "this API key belongs to another workflow"


def allowed(principal: Principal, action: Action, resource: Resource) -> Decision:
    """May `principal` do `action` on `resource`: allow, forbid (403) or hide it (404)."""
    if principal.kind is PrincipalKind.ADMIN:
        return ALLOW
    if isinstance(resource, WorkflowResource):
        return _on_workflow(principal, action, resource)
    if isinstance(resource, JobResource):
        return _on_job(principal, action, resource)
    return _on_service(principal, action)


def reads_member_role(principal: Principal) -> bool:
    """Whether `allowed` depends on the principal's invitations: a workspace member's (not an owner's or an
    admin's, who see every workflow). The loaders look the role up only then."""
    return principal.kind is PrincipalKind.USER and not principal.manages_workspace


def reads_job(principal: Principal) -> bool:
    """Whether `allowed` may depend on the job (its creator, workspace, workflow). The loader looks it up only
    then, so that the operator's job reads cost no query: a job id reaches every workspace for the operator."""
    return principal.kind is not PrincipalKind.ADMIN


def _who(principal: Principal) -> frozenset[Who]:
    if principal.kind is PrincipalKind.API_KEY:
        return frozenset({Who.KEY})
    if principal.kind is not PrincipalKind.USER:
        return frozenset()
    return frozenset({Who.USER, Who.MANAGER}) if principal.manages_workspace else frozenset({Who.USER})


def _on_service(principal: Principal, action: Action) -> Decision:
    if SERVICE_ACTIONS.get(action, frozenset()) & _who(principal):
        return ALLOW
    if principal.kind is PrincipalKind.API_KEY:
        return Decision(Effect.FORBID, _KEY_LIMIT)
    if action is Action.JOB_LIST_ALL:
        return Decision(Effect.FORBID, "only workspace owners and admins may list every job (scope=all)")
    if action is Action.TOKEN_MANAGE:
        return Decision(Effect.FORBID, "personal access tokens belong to users")
    if action is Action.WORKSPACE_CREATE:
        return Decision(Effect.FORBID, "only the operator may create workspaces")
    if action is Action.METRICS_READ:
        return Decision(Effect.FORBID, "only the operator (or WFS_METRICS_TOKEN) may read the metrics")
    return Decision(Effect.FORBID, "only workspace owners and admins may do this")


def role_on_workflow(principal: Principal, ref: str, member_role: WorkflowRole | None) -> WorkflowRole | None:
    """The principal's role on a workflow of its workspace (None: none at all)."""
    if principal.manages_workspace:
        return WorkflowRole.OWNER
    if principal.kind is PrincipalKind.API_KEY:
        return principal.scope.role_on(ref)
    return member_role if principal.kind is PrincipalKind.USER else None


def _on_workflow(principal: Principal, action: Action, workflow: WorkflowResource) -> Decision:
    role = role_on_workflow(principal, workflow.ref, workflow.member_role)
    if role is None:
        if principal.kind is PrincipalKind.API_KEY:
            # Another workflow, or one that does not exist: 403 either way, so nothing is learnt.
            allowed_to_key = action in WORKFLOW_ROLE_ACTIONS[WorkflowRole.RUNNER]
            return Decision(Effect.FORBID, _KEY_ELSEWHERE if allowed_to_key else _KEY_LIMIT)
        return Decision(Effect.HIDE, f"workflow {workflow.ref!r} does not exist")
    if principal.kind is PrincipalKind.API_KEY and action in NOT_FOR_KEYS:
        return Decision(Effect.FORBID, _KEY_LIMIT)
    if action in WORKFLOW_ROLE_ACTIONS[role]:
        return ALLOW
    if principal.kind is PrincipalKind.API_KEY:
        return Decision(Effect.FORBID, _KEY_LIMIT)
    return Decision(Effect.FORBID, f"your role on this workflow ({role}) does not allow {action}")


def _job_role(principal: Principal, job: JobResource) -> WorkflowRole | None:
    if principal.manages_workspace:
        return WorkflowRole.OWNER
    if principal.kind is PrincipalKind.API_KEY and job.workflow_id is not None:
        # A key sees only the jobs it submitted, not those of the other callers of its workflow.
        return principal.scope.role_on_id(job.workflow_id) if job.caller == principal.actor else None
    return job.member_role if principal.kind is PrincipalKind.USER else None


def _on_job(principal: Principal, action: Action, job: JobResource) -> Decision:
    hidden = Decision(Effect.HIDE, f"job {job.id!r} does not exist")
    if job.caller is None or job.workspace_id != principal.workspace_id:
        return hidden
    role = _job_role(principal, job)
    created = job.caller == principal.actor
    if not created and role is None:
        return hidden
    if action is Action.JOB_READ:
        return ALLOW
    if action in OWN_JOB_ACTIONS:
        if role is WorkflowRole.OWNER or (created and role is not None and role.rank >= WorkflowRole.RUNNER.rank):
            return ALLOW
        if principal.kind is PrincipalKind.API_KEY:
            return Decision(Effect.FORBID, _KEY_LIMIT)
        return Decision(
            Effect.FORBID, "only the job's creator (as a runner or more) and the workflow's owners may do this"
        )
    return Decision(Effect.FORBID, "not allowed")


MADE_BY_CONFIGURATION: Mapping[str, Action] = {"schedule": Action.SCHEDULE_MANAGE, "trigger": Action.TRIGGERS_WRITE}
"""The jobs a schedule or an event trigger makes (`caller` `schedule:<id>`, `trigger:<id>`), by who may manage it."""


def reads_as_creator_of(principal: Principal, job: JobResource) -> frozenset[str]:
    """The kinds of job creator (`schedule`, `trigger`) whose jobs of `job`'s workflow `principal` reads as their
    creator (inputs and variables shown): those who may manage that schedule or trigger, who set its inputs or
    their mapping. The operator reads every such job so."""
    if principal.kind is PrincipalKind.ADMIN:
        return frozenset(MADE_BY_CONFIGURATION)
    if principal.kind is PrincipalKind.API_KEY or job.caller is None or job.workspace_id != principal.workspace_id:
        return frozenset()
    role = _job_role(principal, job)
    if role is None:
        return frozenset()
    return frozenset(kind for kind, action in MADE_BY_CONFIGURATION.items() if action in WORKFLOW_ROLE_ACTIONS[role])
