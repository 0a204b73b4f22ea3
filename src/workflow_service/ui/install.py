"""The dashboard at /ui: its routers, its static files, and what its pages answer without a session or on a
refused action (HTML for a page, JSON for a script's request)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from workflow_service.audit.sign_in import SignInFailures
from workflow_service.ui import auth_pages, live
from workflow_service.ui.api import ApiProblem
from workflow_service.ui.context import CsrfRefused, SignInNeeded, base_values, ui_path
from workflow_service.ui.pages import PAGE_ROUTERS
from workflow_service.ui.render import ENVIRONMENT, STATIC

PREFIX = "/ui"
TITLES = {400: "Bad request", 401: "Sign in needed", 403: "Not allowed", 404: "Not found", 409: "Conflict"}


def wants_json(request: Request) -> bool:
    """A script's request (ui.js sends `Accept: application/json`), not a page's."""
    return "application/json" in request.headers.get("accept", "")


def error_page(request: Request, status: int, detail: str) -> Response:
    if wants_json(request):
        return JSONResponse({"status": status, "detail": detail}, status_code=status)
    title = TITLES.get(status, "Something went wrong")
    html = ENVIRONMENT.get_template("error.html").render(**base_values(request), title=title, detail=detail)
    return HTMLResponse(html, status_code=status)


async def _sign_in_needed(request: Request, exc: Exception) -> Response:
    if wants_json(request) or request.method != "GET":
        return error_page(request, 401, "Your session has ended: sign in again.")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(ui_path(request, f"/ui/sign-in?next={quote(target, safe='/')}"), status_code=303)


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    return error_page(request, 403, "This form expired or came from another site: reload the page and try again.")


async def _api_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    return error_page(request, exc.status, exc.detail)


def router() -> APIRouter:
    ui = APIRouter(prefix=PREFIX, include_in_schema=False)

    @ui.get("")
    @ui.get("/")
    async def index(request: Request) -> RedirectResponse:
        """The dashboard starts at the jobs list."""
        return RedirectResponse(ui_path(request, "/ui/jobs"), status_code=307)

    ui.include_router(auth_pages.router)
    ui.include_router(live.router)
    for page_router in PAGE_ROUTERS:
        ui.include_router(page_router)
    return ui


def install_ui(app: FastAPI) -> None:
    """Mount the dashboard on `app`."""
    app.state.ui_sign_in_failures = SignInFailures()
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="ui-static")
    app.include_router(router())
    app.add_exception_handler(SignInNeeded, _sign_in_needed)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
    app.add_exception_handler(ApiProblem, _api_problem)
