"""Sharing a workflow with members of its workspace."""

from __future__ import annotations

from fastapi import APIRouter, Response

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.audit.recorder import Entry
from workflow_service.deps import AuditDep, UowDep, WorkflowPathDep
from workflow_service.people import sharing
from workflow_service.people.schemas import MemberList, MemberRead, MemberSet
from workflow_service.people.users_router import UserPath
from workflow_service.problems import problem_responses
from workflow_service.workflows.schemas import WorkflowRef

router = APIRouter(prefix="/v1/workflows/{workflow}/members", tags=["sharing"])


def _entry(
    action: str, workflow: WorkflowRef, member: MemberRead, before: MemberRead | None, after: str | None
) -> Entry:
    """The audit entry of a member's invitation to `workflow` made, changed or removed (their role `before` and
    `after` it)."""
    old = None if before is None else before.role.value
    doing = {"share.granted": "invited", "share.role_changed": "changed the role of", "share.revoked": "uninvited"}
    roles = f"{old or 'none'} -> {after or 'none'}"
    return Entry(
        action=action,
        description=f"{doing[action]} {member.email} on workflow {workflow.slug!r} (role: {roles})",
        target_id=str(member.id),
        target_name=member.email,
        workflow_id=workflow.id,
        changes={"role": {"before": old, "after": after}},
    )


@router.get(
    "",
    dependencies=[access.require(Action.WORKFLOW_MEMBERS_READ, on=access.workflow)],
    response_model=MemberList,
    responses=problem_responses(401, 404),
)
async def list_members(workflow: WorkflowPathDep, uow: UowDep) -> MemberList:
    """List the users invited to the workflow, with their roles. The workspace's owners and admins are not
    listed: they are owners of every workflow of the workspace without an invitation."""
    return await sharing.list_members(uow.conn, workflow)


@router.put(
    "/{user_id}",
    dependencies=[access.require(Action.WORKFLOW_SHARE, on=access.workflow)],
    response_model=MemberRead,
    responses={
        **problem_responses(401, 404, 409, 422),
        200: {"description": "The user's role on the workflow changed (or already was this one)."},
        201: {"model": MemberRead, "description": "The user was invited."},
    },
)
async def share_workflow(
    workflow: WorkflowPathDep, user_id: UserPath, data: MemberSet, audit: AuditDep, response: Response
) -> MemberRead:
    """Invite a member of the workspace to the workflow with a role (201), or change their role (200). The
    workspace's owners and admins are not invited: they own every workflow already (422)."""
    shared = await sharing.share(audit.uow.conn, workflow, user_id, data.role)
    if shared.before is None:
        response.status_code = 201
    if shared.before != shared.after:  # the same role again changes nothing
        action = "share.granted" if shared.before is None else "share.role_changed"
        await audit.record(_entry(action, shared.workflow, shared.after, shared.before, shared.after.role.value))
    return shared.after


@router.delete(
    "/{user_id}",
    dependencies=[access.require(Action.WORKFLOW_SHARE, on=access.workflow)],
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 404),
)
async def unshare_workflow(workflow: WorkflowPathDep, user_id: UserPath, audit: AuditDep) -> Response:
    """Remove a user's invitation to the workflow: they no longer see it nor its jobs (jobs they created stay
    theirs)."""
    unshared = await sharing.unshare(audit.uow.conn, workflow, user_id)
    await audit.record(_entry("share.revoked", unshared.workflow, unshared.member, unshared.member, None))
    return Response(status_code=204)
