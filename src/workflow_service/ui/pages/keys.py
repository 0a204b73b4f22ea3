"""Dashboard pages: a workflow's API keys: the list (name, prefix, created, last used, expires, state), a new key
shown once with "Copy and close", revoking one behind a confirmation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import Response

from workflow_service.access.policy import Action
from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import CsrfDep, Ui, UiDep
from workflow_service.ui.pages.common import WorkflowPage, workflow_page
from workflow_service.ui.pages.once import forget, redirect_showing, shown_once
from workflow_service.ui.pages.workflows import api_path, wpath
from workflow_service.ui.render import parse_time

router = APIRouter()

EXPIRIES = {"30": "30 days", "90": "90 days", "365": "1 year", "never": "Never"}


def state_of(key: dict[str, Any], now: datetime | None = None) -> str:
    """`active` or `expired` (revoked keys are not listed)."""
    expires = parse_time(key.get("expires_at"))
    return "expired" if expires is not None and expires <= (now or datetime.now(UTC)) else "active"


async def keys_page(
    ui: Ui,
    wp: WorkflowPage,
    *,
    created: dict[str, Any] | None = None,
    problem: ApiProblem | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    keys: list[dict[str, Any]] = []
    if wp.may(Action.APIKEY_MANAGE):
        keys = (await ui.api.get(api_path(wp.ref, "/api-keys")))["items"]
    return ui.render(
        "workflows/keys.html",
        problem.status if problem is not None else 200,
        **wp.values("keys"),
        keys=[{**key, "state": state_of(key)} for key in keys],
        created=created,
        problem=problem,
        typed=typed or {"name": "", "expires_in_days": "90"},
        expiries=EXPIRIES,
        may_manage=wp.may(Action.APIKEY_MANAGE),
    )


@router.get("/workflows/{ref}/keys")
async def keys(ref: str, ui: UiDep) -> Response:
    """The workflow's API keys (to those who manage them)."""
    wp = await workflow_page(ui, ref)
    if not wp.may(Action.APIKEY_MANAGE):
        raise ApiProblem(403, {"detail": "Managing this workflow's API keys needs its editor or owner role."})
    created = shown_once(ui, ("name", "key"))
    response = await keys_page(ui, wp, created=created)
    if created is not None:
        response.headers["Cache-Control"] = "no-store"
    return forget(ui, response, wpath(wp.ref, "/keys"))


@router.post("/workflows/{ref}/keys")
async def create_key(
    ref: str,
    ui: CsrfDep,
    name: Annotated[str, Form(max_length=1000)] = "",
    expires_in_days: Annotated[str, Form(max_length=10)] = "90",
) -> Response:
    """Create an API key: the page this redirects to shows it, once (reloading it creates no second key)."""
    wp = await workflow_page(ui, ref)
    days: int | str | None = None if expires_in_days in ("", "never") else expires_in_days
    if isinstance(days, str) and days.isdigit():
        days = int(days)
    try:
        created = await ui.api.post(api_path(wp.ref, "/api-keys"), {"name": name, "expires_in_days": days})
    except ApiProblem as problem:
        return await keys_page(ui, wp, problem=problem, typed={"name": name, "expires_in_days": expires_in_days})
    return redirect_showing(ui, wpath(wp.ref, "/keys"), {"name": created["name"], "key": created["key"]})


@router.post("/workflows/{ref}/keys/{key_id}/revoke")
async def revoke_key(ref: str, key_id: str, ui: CsrfDep) -> Response:
    """Revoke an API key: calls with it are refused from then on."""
    wp = await workflow_page(ui, ref)
    try:
        await ui.api.delete(api_path(wp.ref, f"/api-keys/{segment(key_id)}"))
    except ApiProblem as problem:
        return await keys_page(ui, wp, problem=problem)
    return ui.redirect(wpath(wp.ref, "/keys"), "API key revoked: calls with it are refused from now on.")
