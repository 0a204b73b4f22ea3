"""Dashboard pages: a workflow's sharing and permissions: who it is shared with and in which role; its owners
invite a user of the workspace, change a member's role, remove a member."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import Response

from workflow_service.access.policy import Action
from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import CsrfDep, Ui, UiDep
from workflow_service.ui.pages.common import workflow_page
from workflow_service.ui.pages.ops_forms import field_errors, form_problem

router = APIRouter()

ROLES = ("viewer", "runner", "editor", "owner")
ROLE_WORDS = {
    "viewer": "reads the workflow, its jobs, monitor, schedules and triggers",
    "runner": "also submits jobs, and manages the jobs they made",
    "editor": "also edits, deploys, and manages settings, keys, schedules and triggers",
    "owner": "also shares and deletes the workflow",
}


async def _page(
    ui: Ui, ref: str, *, problem: ApiProblem | None = None, typed: dict[str, str] | None = None
) -> Response:
    wp = await workflow_page(ui, ref)
    listing = await ui.api.get(f"/v1/workflows/{segment(wp.ref)}/members")
    users: list[dict[str, Any]] = []
    if wp.may(Action.WORKFLOW_SHARE) and ui.principal.manages_workspace:
        users = (await ui.api.get("/v1/users", {"limit": 200}))["items"]
    return ui.render(
        "ops/sharing.html",
        problem.status if problem else 200,
        **wp.values("sharing"),
        members=listing["items"],
        may_share=wp.may(Action.WORKFLOW_SHARE),
        users=users,
        roles=ROLES,
        role_words=ROLE_WORDS,
        problem=problem,
        errors=field_errors(problem),
        typed=typed or {"email": "", "role": "viewer"},
    )


@router.get("/workflows/{ref}/sharing")
async def sharing(ref: str, ui: UiDep) -> Response:
    """Who the workflow is shared with, and (for its owners) inviting, changing roles, removing."""
    return await _page(ui, ref)


@router.post("/workflows/{ref}/sharing/invite")
async def invite(
    ref: str,
    ui: CsrfDep,
    email: Annotated[str, Form(max_length=320)] = "",
    role: Annotated[str, Form(max_length=20)] = "viewer",
) -> Response:
    """Share the workflow with a user of the workspace, in a role."""
    typed = {"email": email, "role": role}
    email = email.strip()
    try:
        if not email:
            raise form_problem("$.email", "the email address of a user of this workspace is needed")
        await ui.api.put(f"/v1/workflows/{segment(ref)}/members/{segment(email)}", {"role": role})
    except ApiProblem as problem:
        return await _page(ui, ref, problem=problem, typed=typed)
    return ui.redirect(f"/ui/workflows/{segment(ref)}/sharing", f"Shared with {email} as {role}.")


@router.post("/workflows/{ref}/sharing/{user_id}/role")
async def change_role(ref: str, user_id: str, ui: CsrfDep, role: Annotated[str, Form(max_length=20)] = "") -> Response:
    """Change a member's role on the workflow."""
    try:
        await ui.api.put(f"/v1/workflows/{segment(ref)}/members/{segment(user_id)}", {"role": role})
    except ApiProblem as problem:
        return await _page(ui, ref, problem=problem)
    return ui.redirect(f"/ui/workflows/{segment(ref)}/sharing", f"Role changed to {role}.")


@router.post("/workflows/{ref}/sharing/{user_id}/remove")
async def remove(ref: str, user_id: str, ui: CsrfDep) -> Response:
    """Stop sharing the workflow with a member: they no longer see it."""
    try:
        await ui.api.delete(f"/v1/workflows/{segment(ref)}/members/{segment(user_id)}")
    except ApiProblem as problem:
        return await _page(ui, ref, problem=problem)
    return ui.redirect(f"/ui/workflows/{segment(ref)}/sharing", "Removed from the workflow.")
