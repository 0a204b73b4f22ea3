"""Sharing a workflow: the members of its workspace invited to it, each with a role (viewer, runner, editor,
owner). A member not invited does not see the workflow at all. The workspace's owners and admins are owners of
every workflow of it, so inviting them is refused as pointless."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.access.principal import WorkflowRole, WorkspaceRole
from workflow_service.core.clock import utcnow
from workflow_service.core.ids import uuid7
from workflow_service.errors import Conflict, InvalidInput, NotFound
from workflow_service.people import repository as repo
from workflow_service.people import users
from workflow_service.people.schemas import MemberList, MemberRead
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows.refs import ScopedRef
from workflow_service.workflows.schemas import WorkflowRef


async def _workflow(conn: AsyncConnection, ref: ScopedRef) -> WorkflowRef:
    row = await workflow_repo.get(conn, ref)
    if row is None:
        raise NotFound(f"workflow {ref!r} does not exist")
    return WorkflowRef(id=row.id, slug=row.slug)


async def list_members(conn: AsyncConnection, ref: ScopedRef) -> MemberList:
    """The users invited to the workflow, with their roles."""
    workflow = await _workflow(conn, ref)
    rows = await repo.workflow_members(conn, workflow.id)
    return MemberList(workflow=workflow, items=[MemberRead.model_validate(r, from_attributes=True) for r in rows])


@dataclass(frozen=True, slots=True)
class Shared:
    """A user invited to a workflow, or whose role on it changed (equal before and after: nothing changed)."""

    workflow: WorkflowRef
    before: MemberRead | None
    """None: newly invited."""
    after: MemberRead


@dataclass(frozen=True, slots=True)
class Unshared:
    """A user no longer invited to a workflow."""

    workflow: WorkflowRef
    member: MemberRead
    """As they were invited."""


async def share(conn: AsyncConnection, ref: ScopedRef, user_ref: str, role: WorkflowRole) -> Shared:
    """Invite a member of the workspace to the workflow with `role`, or change the role they were invited with."""
    workflow = await _workflow(conn, ref)
    user = await users.find_member(conn, ref.workspace_id, user_ref)
    if user.role is not WorkspaceRole.MEMBER:
        raise InvalidInput(
            f"{user.email} is an {user.role} of the workspace, and so already an owner of every workflow of it: "
            "only members are invited to workflows",
            errors=[{"path": "path:user_id", "message": f"a workspace {user.role}, owner of every workflow"}],
        )
    row = await repo.workflow_member(conn, workflow.id, user.id)
    if row is None:
        now = utcnow()
        values = {"id": uuid7(), "workflow_id": workflow.id, "user_id": user.id, "role": role.value, "created_at": now}
        try:
            async with conn.begin_nested():
                await repo.insert_workflow_member(conn, values)
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"{user.email} was invited to this workflow meanwhile; try again") from exc
        after = MemberRead(id=user.id, email=user.email, name=user.name, role=role, invited_at=now)
        return Shared(workflow, None, after)
    before = MemberRead.model_validate(row, from_attributes=True)
    if before.role is not role:
        await repo.set_workflow_role(conn, workflow.id, user.id, role.value)
    return Shared(workflow, before, before.model_copy(update={"role": role}))


async def unshare(conn: AsyncConnection, ref: ScopedRef, user_ref: str) -> Unshared:
    """Remove a user's invitation to the workflow: they no longer see it."""
    workflow = await _workflow(conn, ref)
    user = await users.find_member(conn, ref.workspace_id, user_ref)
    row = await repo.workflow_member(conn, workflow.id, user.id)
    if row is None:
        raise NotFound(f"{user.email} is not invited to workflow {workflow.slug!r}")
    await repo.delete_workflow_member(conn, workflow.id, user.id)
    return Unshared(workflow, MemberRead.model_validate(row, from_attributes=True))
