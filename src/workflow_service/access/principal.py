"""The principal: who is calling, as one value that the policy reads (see docs/people.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from workflow_service.core.ids import parse_uuid
from workflow_service.models import DEFAULT_WORKSPACE_ID


class PrincipalKind(StrEnum):
    """How the caller proved who it is."""

    ADMIN = "admin"
    """The operator token (WFS_ADMIN_TOKEN): the deployment's operator, may do everything."""
    USER = "user"
    """A person, by a personal access token or an identity provider's JWT; a member of one workspace."""
    API_KEY = "key"
    """A workflow's API key: a runner on that one workflow."""
    SYSTEM = "system"
    """The service itself (sweepers, the delivery loop): never a request's caller."""


class WorkspaceRole(StrEnum):
    """A user's role in a workspace. Owners and admins are owners of every workflow of it; members see only the
    workflows they were invited to. Only owners may make or unmake owners."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class WorkflowRole(StrEnum):
    """A role on one workflow, from the least: each allows what the one before it does, and more
    (policy.WORKFLOW_ROLE_ACTIONS)."""

    VIEWER = "viewer"
    RUNNER = "runner"
    EDITOR = "editor"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {role: i for i, role in enumerate(WorkflowRole)}


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
    """The roles a principal holds on workflows without a query: an API key's one workflow. A user's roles on
    workflows are read with the resource (access.routes), and a workspace owner's or admin's are implied."""

    workflows: tuple[WorkflowGrant, ...] = ()

    def role_on(self, workflow_ref: str) -> WorkflowRole | None:
        """The principal's role on the workflow `workflow_ref` names (id or slug), or None."""
        return next((g.role for g in self.workflows if g.names(workflow_ref)), None)

    def role_on_id(self, workflow_id: uuid.UUID) -> WorkflowRole | None:
        return next((g.role for g in self.workflows if g.workflow_id == workflow_id), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who is calling: its kind, the actor name recorded on what it does, its workspace and roles."""

    kind: PrincipalKind
    actor: str
    """The name recorded in job.caller, job_event.actor and audit entries: `admin`, `user:<id>`, `key:<id>`."""
    name: str
    """For people reading the audit log and a job's creator: the user's email, the key's name, `operator`."""
    workspace_id: uuid.UUID = DEFAULT_WORKSPACE_ID
    """The workspace the request acts in: the credential's, or for the operator the one it names."""
    workspace_role: WorkspaceRole | None = None
    """A user's role in that workspace; None for the operator, keys and the system."""
    scope: Scope = Scope()

    @property
    def user_id(self) -> uuid.UUID | None:
        return uuid.UUID(self.actor.removeprefix("user:")) if self.kind is PrincipalKind.USER else None

    @property
    def manages_workspace(self) -> bool:
        """The operator, or a workspace owner or admin: sees every workflow and job of the workspace."""
        return self.kind is PrincipalKind.ADMIN or self.workspace_role in (WorkspaceRole.OWNER, WorkspaceRole.ADMIN)


def operator(workspace_id: uuid.UUID = DEFAULT_WORKSPACE_ID) -> Principal:
    """The operator (the admin token), acting in `workspace_id`."""
    return Principal(kind=PrincipalKind.ADMIN, actor="admin", name="operator", workspace_id=workspace_id)


ADMIN = operator()
SYSTEM = Principal(kind=PrincipalKind.SYSTEM, actor="system", name="system")


def api_key(
    key_id: uuid.UUID, name: str, workflow_id: uuid.UUID, workflow_slug: str, workspace_id: uuid.UUID
) -> Principal:
    """The principal of an active API key: a runner on its workflow."""
    grant = WorkflowGrant(workflow_id=workflow_id, workflow_slug=workflow_slug, role=WorkflowRole.RUNNER)
    return Principal(
        kind=PrincipalKind.API_KEY,
        actor=f"key:{key_id}",
        name=name,
        workspace_id=workspace_id,
        scope=Scope(workflows=(grant,)),
    )


def user(user_id: uuid.UUID, email: str, workspace_id: uuid.UUID, role: WorkspaceRole) -> Principal:
    """The principal of a user acting in one of their workspaces."""
    return Principal(
        kind=PrincipalKind.USER, actor=f"user:{user_id}", name=email, workspace_id=workspace_id, workspace_role=role
    )
