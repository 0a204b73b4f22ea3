"""Dashboard pages: the signed-in person's account (who they are, their personal access tokens).

The model of a page: reads through `ui.api`, actions as forms posting with the CSRF token (`CsrfDep`), each one
API operation; a refusal re-renders the page with the API's problem; a success redirects with a message."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import Response

from workflow_service.access.principal import PrincipalKind
from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import CsrfDep, Ui, UiDep
from workflow_service.ui.pages.once import forget, redirect_showing, shown_once

router = APIRouter()


async def _page(ui: Ui, *, created: dict[str, Any] | None = None, problem: ApiProblem | None = None) -> Response:
    me = await ui.api.get("/v1/me")
    tokens: list[dict[str, Any]] = []
    if ui.principal.kind is PrincipalKind.USER:
        tokens = (await ui.api.get("/v1/me/tokens"))["items"]
    status = problem.status if problem is not None else 200
    return ui.render("account.html", status, account=me, tokens=tokens, created=created, problem=problem)


@router.get("/account")
async def account(ui: UiDep) -> Response:
    """Who is signed in, and their personal access tokens (a token just created shown once)."""
    created = shown_once(ui, ("name", "token"))
    response = await _page(ui, created=created)
    if created is not None:
        response.headers["Cache-Control"] = "no-store"
    return forget(ui, response, "/ui/account")


@router.post("/account/tokens")
async def create_token(
    ui: CsrfDep,
    name: Annotated[str, Form(max_length=1000)] = "",
    expires_in_days: Annotated[str, Form(max_length=10)] = "90",
) -> Response:
    """Create a personal access token: shown once, on the page this redirects to."""
    days: int | str | None = None if expires_in_days in ("", "never") else expires_in_days
    if isinstance(days, str) and days.isdigit():
        days = int(days)
    try:
        created = await ui.api.post("/v1/me/tokens", {"name": name, "expires_in_days": days})
    except ApiProblem as problem:
        return await _page(ui, problem=problem)
    return redirect_showing(ui, "/ui/account", {"name": created["name"], "token": created["token"]})


@router.post("/account/tokens/{token_id}/revoke")
async def revoke_token(token_id: str, ui: CsrfDep) -> Response:
    """Revoke one of the person's tokens (revoking the one this session signed in with ends it)."""
    await ui.api.delete(f"/v1/me/tokens/{segment(token_id)}")
    return ui.redirect("/ui/account", "Token revoked.")
