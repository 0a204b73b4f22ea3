"""The access policy: `allowed(principal, action, resource)` decides every access rule, as pure code.

Routes never decide access themselves: each declares `routes.require(action, on=loader)`, which builds the
resource descriptor from the path (and, for a job, who submitted it) and asks `allowed`. A new rule is a
new `Action`, a row in the tables below, and a row in tests/access/test_policy.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from workflow_service.access.principal import Principal, PrincipalKind, WorkflowRole


class Action(StrEnum):
    """Everything a route lets its caller do, named `<resource>.<verb>`."""

    WORKFLOW_CREATE = "workflow.create"
    WORKFLOW_LIST = "workflow.list"
    WORKFLOW_READ = "workflow.read"
    """A workflow, its versions, validating its draft."""
    WORKFLOW_EDIT = "workflow.edit"
    """Replace the draft, deploy it."""
    WORKFLOW_MANAGE = "workflow.manage"
    """Endpoint settings, the signing secret, environment variables."""
    APIKEY_MANAGE = "apikey.manage"
    JOB_SUBMIT = "job.submit"
    """Submit to a workflow's endpoints (async, push, sync)."""
    JOB_ESTIMATE = "job.estimate"
    JOB_LIST = "job.list"
    JOB_READ = "job.read"
    """A job, its events, its deliveries."""
    JOB_CANCEL = "job.cancel"
    JOB_RERUN = "job.rerun"
    """Rerun, run from a step, duplicate: a new job made from this one."""
    JOB_START = "job.start"
    JOB_REDELIVER = "job.redeliver"
    AGENT_READ = "agent.read"
    TOOL_READ = "tool.read"


@dataclass(frozen=True, slots=True)
class ServiceResource:
    """The service as a whole: listings, creating a workflow, agents, tools."""


SERVICE = ServiceResource()


@dataclass(frozen=True, slots=True)
class WorkflowResource:
    """A workflow as a route names it (an id or a slug), whether or not it exists."""

    ref: str


@dataclass(frozen=True, slots=True)
class JobResource:
    """A job as a route names it, with the caller that submitted it."""

    id: str
    submitted_by: str | None = None
    """`admin` or `key:<id>`; None when there is no such job, or when it was not looked up because the
    decision does not depend on it (`reads_submitter`)."""


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

WORKFLOW_ROLE_ACTIONS: Mapping[WorkflowRole, frozenset[Action]] = {
    WorkflowRole.RUNNER: frozenset({Action.JOB_SUBMIT, Action.JOB_ESTIMATE}),
}
"""What each role on a workflow allows on that workflow."""

SUBMITTER_ACTIONS = frozenset({Action.JOB_READ})
"""What a principal without a wider role may do to a job it submitted itself."""

HIDDEN_UNLESS_READABLE = frozenset({Action.JOB_READ, Action.JOB_REDELIVER})
"""Job actions that answer a job the principal may not read with 404, as if it did not exist, before saying
whether it may act on it (403). The other job actions (cancel, rerun, start) are 403 without looking."""

_LIMITS: Mapping[PrincipalKind, str] = {
    PrincipalKind.API_KEY: "an API key may only call its workflow's endpoints and read the jobs it submitted",
}
_ELSEWHERE: Mapping[PrincipalKind, str] = {
    PrincipalKind.API_KEY: "this API key belongs to another workflow",
}


def allowed(principal: Principal, action: Action, resource: Resource) -> Decision:
    """May `principal` do `action` on `resource`: allow, forbid (403) or hide it (404)."""
    if principal.kind is PrincipalKind.ADMIN:
        return ALLOW
    if isinstance(resource, WorkflowResource):
        return _on_workflow(principal, action, resource)
    if isinstance(resource, JobResource):
        return _on_job(principal, action, resource)
    return _forbid(principal)


def reads_submitter(principal: Principal) -> bool:
    """Whether `allowed` may depend, for this principal, on who submitted a job. The job loader looks the
    submitter up only then, so that the admin's job reads cost no query."""
    return principal.kind is not PrincipalKind.ADMIN


def _forbid(principal: Principal) -> Decision:
    return Decision(Effect.FORBID, _LIMITS.get(principal.kind, "not allowed"))


def _on_workflow(principal: Principal, action: Action, workflow: WorkflowResource) -> Decision:
    role = principal.scope.role_on(workflow.ref)
    if role is not None:
        return ALLOW if action in WORKFLOW_ROLE_ACTIONS[role] else _forbid(principal)
    if any(action in WORKFLOW_ROLE_ACTIONS[grant.role] for grant in principal.scope.workflows):
        # What its role allows on its own workflow, asked of another one (or of one that does not exist:
        # 403 either way, so nothing is learnt about other workflows).
        return Decision(Effect.FORBID, _ELSEWHERE.get(principal.kind, "not allowed on this workflow"))
    return _forbid(principal)


def _on_job(principal: Principal, action: Action, job: JobResource) -> Decision:
    submitted = job.submitted_by is not None and job.submitted_by == principal.actor
    if action in HIDDEN_UNLESS_READABLE and not submitted:
        return Decision(Effect.HIDE, f"job {job.id!r} does not exist")
    if submitted and action in SUBMITTER_ACTIONS:
        return ALLOW
    return _forbid(principal)
