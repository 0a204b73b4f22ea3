"""Signing in (a token exchanged for a session cookie) and out, and what a page gets without a session."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from workflow_service.access.credentials import Authenticator, InvalidCredentials
from workflow_service.core.clock import utcnow
from workflow_service.deps import request_origin
from workflow_service.errors import ServiceError
from workflow_service.middleware import sign_in_failure
from workflow_service.ui import sessions
from workflow_service.ui.context import CsrfDep, base_values, is_secure, same_origin, ui_path
from workflow_service.ui.render import ENVIRONMENT

router = APIRouter()

SIGN_IN_CSRF_COOKIE = "wfs_sign_in"
"""The sign-in form's own CSRF token (double submit: the cookie and the form's field must match), so that no
other site can sign a browser in as someone else."""


def _safe_next(request: Request, value: str | None) -> str:
    """Where to go after signing in: a path of the dashboard only (never another site)."""
    ui = ui_path(request, "/ui")
    if value and value.startswith(ui + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return ui + "/jobs"


def _sign_in_page(
    request: Request, next_path: str, error: str | None = None, workspace: str = "", status_code: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    values = base_values(request) | {"sign_in_csrf": token, "next": next_path, "error": error, "workspace": workspace}
    response = HTMLResponse(ENVIRONMENT.get_template("sign_in.html").render(**values), status_code=status_code)
    response.set_cookie(
        SIGN_IN_CSRF_COOKIE,
        token,
        path=ui_path(request, "/ui"),
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
        max_age=3600,
    )
    return response


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form."""
    return _sign_in_page(request, _safe_next(request, next))


@router.post("/sign-in")
async def sign_in(
    request: Request,
    token: Annotated[str, Form(max_length=4096)] = "",
    workspace: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Exchange a token for a session cookie."""
    next_path = _safe_next(request, next)
    expected = request.cookies.get(SIGN_IN_CSRF_COOKIE)
    if not expected or not secrets.compare_digest(expected, csrf_token) or not same_origin(request):
        return _sign_in_page(request, next_path, "The form expired: sign in again.", workspace, 403)
    authenticator: Authenticator = request.app.state.authenticator
    origin = request_origin(request)
    try:
        secret, session = await sessions.sign_in(authenticator, token, workspace.strip() or None, origin)
    except InvalidCredentials as exc:
        await request.app.state.ui_sign_in_failures.record(authenticator.engine, sign_in_failure(exc), origin)
        return _sign_in_page(request, next_path, f"Sign-in refused: {exc.detail}.", workspace, 401)
    except ServiceError as exc:
        return _sign_in_page(request, next_path, f"Sign-in refused: {exc.detail}.", workspace, exc.status)
    response = RedirectResponse(next_path, status_code=303)
    max_age = max(60, int((session.expires_at - utcnow()).total_seconds()))
    response.set_cookie(
        sessions.COOKIE,
        secret,
        path=ui_path(request, "/ui"),
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
        max_age=max_age,
    )
    response.delete_cookie(SIGN_IN_CSRF_COOKIE, path=ui_path(request, "/ui"))
    return response


@router.post("/sign-out")
async def sign_out(request: Request, ui: CsrfDep) -> Response:
    """End the session."""
    await sessions.sign_out(ui.services.engine, ui.session, request_origin(request))
    response = RedirectResponse(ui.url("/ui/sign-in"), status_code=303)
    response.delete_cookie(sessions.COOKIE, path=ui_path(request, "/ui"))
    return response
