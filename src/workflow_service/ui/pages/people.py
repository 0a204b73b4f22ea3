"""Dashboard pages: the workspace's people (for its owners and admins): users with their roles, adding a user
(their first token shown once), changing a role, removing a user; a user's tokens, with revoke."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query
from starlette.responses import Response

from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import CsrfDep, Ui, UiDep
from workflow_service.ui.pages.once import forget, redirect_showing, shown_once
from workflow_service.ui.pages.ops_forms import field_errors, form_problem

router = APIRouter()

ROLES = ("member", "admin", "owner")
CREATED_KEYS = ("name", "email", "role", "token")
"""What the page shows of a user just added: their first token, once."""
EXPIRIES = (("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("never", "Never"))


async def _page(
    ui: Ui,
    cursor: str | None = None,
    *,
    created: dict[str, Any] | None = None,
    problem: ApiProblem | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    listing = await ui.api.get("/v1/users", {"cursor": cursor, "limit": 50})
    next_url = ui.url(f"/ui/people?cursor={listing['next_cursor']}") if listing.get("next_cursor") else None
    return ui.render(
        "ops/people.html",
        problem.status if problem else 200,
        users=listing["items"],
        next_url=next_url,
        roles=ROLES,
        expiries=EXPIRIES,
        created=created,
        problem=problem,
        errors=field_errors(problem),
        typed=typed or {"email": "", "name": "", "role": "member", "expires_in_days": "90"},
    )


@router.get("/people")
async def people(ui: UiDep, cursor: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    """The workspace's users and their roles (and a user just added, with their token, once)."""
    return forget(ui, await _page(ui, cursor, created=shown_once(ui, CREATED_KEYS)), "/ui/people")


@router.post("/people")
async def add_person(
    ui: CsrfDep,
    email: Annotated[str, Form(max_length=320)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=20)] = "member",
    expires_in_days: Annotated[str, Form(max_length=10)] = "90",
) -> Response:
    """Add a user to the workspace: their first personal access token is shown once, on the page redirected to."""
    typed = {"email": email, "name": name, "role": role, "expires_in_days": expires_in_days}
    days: int | str | None = None if expires_in_days in ("", "never") else expires_in_days
    if isinstance(days, str) and days.isdigit():
        days = int(days)
    body = {"email": email.strip(), "name": name.strip(), "role": role, "token_expires_in_days": days}
    try:
        if not name.strip():
            raise form_problem("$.name", "a name is needed")
        created = await ui.api.post("/v1/users", body)
    except ApiProblem as problem:
        return await _page(ui, problem=problem, typed=typed)
    return redirect_showing(ui, "/ui/people", {key: created[key] or "" for key in CREATED_KEYS})


@router.post("/people/{user_id}/role")
async def change_role(user_id: str, ui: CsrfDep, role: Annotated[str, Form(max_length=20)] = "") -> Response:
    """Change a user's workspace role."""
    try:
        await ui.api.patch(f"/v1/users/{segment(user_id)}", {"role": role})
    except ApiProblem as problem:
        return await _page(ui, problem=problem)
    return ui.redirect("/ui/people", f"Role changed to {role}.")


@router.post("/people/{user_id}/remove")
async def remove_person(user_id: str, ui: CsrfDep) -> Response:
    """Remove a user from the workspace: their tokens for it are revoked, their invitations removed."""
    try:
        await ui.api.delete(f"/v1/users/{segment(user_id)}")
    except ApiProblem as problem:
        return await _page(ui, problem=problem)
    return ui.redirect("/ui/people", "Removed from the workspace.")


async def _person(ui: Ui, user_id: str, problem: ApiProblem | None = None) -> Response:
    user = await ui.api.get(f"/v1/users/{segment(user_id)}")
    tokens = (await ui.api.get(f"/v1/users/{segment(user_id)}/tokens"))["items"]
    status = problem.status if problem else 200
    return ui.render("ops/person.html", status, user=user, tokens=tokens, problem=problem, errors=field_errors(problem))


@router.get("/people/{user_id}")
async def person(user_id: str, ui: UiDep) -> Response:
    """One user: their role and their personal access tokens."""
    return await _person(ui, user_id)


@router.post("/people/{user_id}/tokens/{token_id}/revoke")
async def revoke_token(user_id: str, token_id: str, ui: CsrfDep) -> Response:
    """Revoke one of a user's tokens: refused from the next request on."""
    try:
        await ui.api.delete(f"/v1/users/{segment(user_id)}/tokens/{segment(token_id)}")
    except ApiProblem as problem:
        return await _person(ui, user_id, problem)
    return ui.redirect(f"/ui/people/{segment(user_id)}", "Token revoked.")
