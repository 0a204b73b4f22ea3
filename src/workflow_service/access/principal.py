"""The principal: who is calling, as one value that the policy reads (see docs/architecture.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from workflow_service.core.ids import parse_uuid


class PrincipalKind(StrEnum):
    """How the caller proved who it is. Users (personal tokens, OIDC) will be one more kind."""

    ADMIN = "admin"
    """The operator token (WFS_ADMIN_TOKEN): may do everything."""
    API_KEY = "key"
    """A workflow's API key: a runner on that one workflow."""


class WorkflowRole(StrEnum):
    """A role on one workflow. An API key is a `runner` on its workflow; users will also be owners, editors or
    viewers of workflows (and hold a workspace role in `Scope`), each a row of `policy.WORKFLOW_ROLE_ACTIONS`."""

    RUNNER = "runner"


@dataclass(frozen=True, slots=True)
class WorkflowGrant:
    """A role on one workflow, named by id and slug so that a route given either needs no query."""

    workflow_id: uuid.UUID
    workflow_slug: str
    role: WorkflowRole

    def names(self, ref: str) -> bool:
        """Whether `ref` (a workflow id or slug, as a route receives it) names this workflow."""
        return ref == self.workflow_slug or parse_uuid(ref) == self.workflow_id


@dataclass(frozen=True, slots=True)
class Scope:
    """What the principal holds roles on. Today only per-workflow grants (an API key's one workflow); the
    workspace role of a user goes here next to them."""

    workflows: tuple[WorkflowGrant, ...] = ()

    def role_on(self, workflow_ref: str) -> WorkflowRole | None:
        """The principal's role on the workflow `workflow_ref` names (id or slug), or None."""
        return next((g.role for g in self.workflows if g.names(workflow_ref)), None)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: its kind, the actor name recorded on what it does, and the scope of its roles."""

    kind: PrincipalKind
    actor: str
    """The name recorded in job.caller and job_event.actor: `admin` or `key:<key id>`."""
    scope: Scope = Scope()


ADMIN = Principal(kind=PrincipalKind.ADMIN, actor="admin")


def api_key(key_id: uuid.UUID, workflow_id: uuid.UUID, workflow_slug: str) -> Principal:
    """The principal of an active API key: a runner on its workflow."""
    grant = WorkflowGrant(workflow_id=workflow_id, workflow_slug=workflow_slug, role=WorkflowRole.RUNNER)
    return Principal(kind=PrincipalKind.API_KEY, actor=f"key:{key_id}", scope=Scope(workflows=(grant,)))
