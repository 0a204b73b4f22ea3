"""What every dashboard page works with (`UiDep`): the signed-in person's session, the API as them, the policy's
answers for showing or hiding actions, and rendering. `CsrfDep` guards every form and every action."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import Depends, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from workflow_service.access import routes as access_routes
from workflow_service.access.policy import SERVICE, Action, Effect, Resource, allowed
from workflow_service.access.principal import Principal, PrincipalKind
from workflow_service.context import Context
from workflow_service.ui import sessions
from workflow_service.ui.api import Api
from workflow_service.ui.render import ENVIRONMENT

FLASH_COOKIE = "wfs_flash"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


class SignInNeeded(Exception):
    """No live session: a page redirects to the sign-in page, a script's request gets 401."""


class CsrfRefused(Exception):
    """A form or action without this session's CSRF token, or from another site: 403."""


def ui_path(request: Request, path: str) -> str:
    """`path` (starting with /ui) under the proxy's root path."""
    root: str = request.scope.get("root_path", "")
    return root + path


def is_secure(request: Request) -> bool:
    context: Context = request.app.state.context
    public = context.settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


@dataclass
class Ui:
    """One dashboard request of a signed-in person."""

    request: Request
    session: sessions.Session
    api: Api

    @property
    def principal(self) -> Principal:
        return self.session.principal

    @property
    def services(self) -> Context:
        context: Context = self.request.app.state.context
        return context

    async def can(self, action: Action, *, workflow: str | None = None, job: str | None = None) -> bool:
        """Whether the policy allows `action` (on the workflow or job named), as the API would decide it."""
        resource: Resource = SERVICE
        if workflow is not None:
            resource = await access_routes.workflow(workflow, self.principal, self.services)
        elif job is not None:
            resource = await access_routes.job_own_transaction(job, self.principal, self.services)
        return allowed(self.principal, action, resource).effect is Effect.ALLOW

    async def allowed_actions(self, actions: list[Action], **on: str) -> set[str]:
        """The subset of `actions` allowed on one resource (its facts read once)."""
        resource: Resource = SERVICE
        if "workflow" in on:
            resource = await access_routes.workflow(on["workflow"], self.principal, self.services)
        elif "job" in on:
            resource = await access_routes.job_own_transaction(on["job"], self.principal, self.services)
        return {a.value for a in actions if allowed(self.principal, a, resource).effect is Effect.ALLOW}

    async def allowed_on_jobs(self, actions: list[Action], job_ids: list[str]) -> dict[str, set[str]]:
        """The subset of `actions` allowed on each of `job_ids` (ids the API listed), their facts read in one query."""
        ids = [uuid.UUID(jid) for jid in job_ids]
        async with self.services.engine.connect() as conn:
            resources = await access_routes.job_resources(conn, ids, self.principal)
        return {
            str(jid): {a.value for a in actions if allowed(self.principal, a, resource).effect is Effect.ALLOW}
            for jid, resource in resources.items()
        }

    def url(self, path: str) -> str:
        return ui_path(self.request, path)

    def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        html = ENVIRONMENT.get_template(template).render(**self.template_values(), **values)
        response = HTMLResponse(html, status_code=status_code)
        if FLASH_COOKIE in self.request.cookies:
            response.delete_cookie(FLASH_COOKIE, path=ui_path(self.request, "/ui"))
        return response

    def template_values(self) -> dict[str, Any]:
        return base_values(self.request) | {
            "me": self.principal,
            "is_operator": self.principal.kind is PrincipalKind.ADMIN,
            "manages_workspace": self.principal.manages_workspace,
            "can_read_audit": allowed(self.principal, Action.AUDIT_READ, SERVICE).effect is Effect.ALLOW,
            "csrf_token": self.session.csrf_token,
            "flash": read_flash(self.request),
        }

    def redirect(self, path: str, message: str | None = None, kind: str = "ok") -> RedirectResponse:
        """303 to `path` (under /ui), with a message shown once on the next page."""
        response = RedirectResponse(self.url(path), status_code=303)
        if message:
            set_flash(self.request, response, message, kind)
        return response


def base_values(request: Request) -> dict[str, Any]:
    root = request.scope.get("root_path", "")
    return {"root": root, "ui": root + "/ui", "request_path": request.url.path, "flash": None, "me": None}


def to_cookie(value: dict[str, Any]) -> str:
    """A small JSON object as a cookie's value (the flash message; a secret shown once: pages/once.py)."""
    return quote(json.dumps(value))


def from_cookie(raw: str | None) -> dict[str, Any] | None:
    """What `to_cookie` wrote, or None for no cookie or one that is not such an object."""
    if not raw:
        return None
    try:
        value = json.loads(unquote(raw))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def set_flash(request: Request, response: Response, message: str, kind: str = "ok") -> None:
    """A message shown once, on the next page this browser renders."""
    value = to_cookie({"message": message[:500], "kind": kind})
    response.set_cookie(FLASH_COOKIE, value, path=ui_path(request, "/ui"), httponly=True, samesite="lax", max_age=60)


def read_flash(request: Request) -> dict[str, str] | None:
    value = from_cookie(request.cookies.get(FLASH_COOKIE))
    if value is None or not isinstance(value.get("message"), str):
        return None
    kind = value.get("kind") if value.get("kind") in ("ok", "error", "info") else "info"
    return {"message": value["message"], "kind": str(kind)}


async def current_session(request: Request) -> sessions.Session:
    context: Context = request.app.state.context
    session = await sessions.resolve(
        context.engine, request.app.state.admin_token, request.cookies.get(sessions.COOKIE)
    )
    if session is None:
        raise SignInNeeded
    return session


async def ui_request(request: Request, session: Annotated[sessions.Session, Depends(current_session)]) -> Ui:
    return Ui(request, session, Api(request, session.principal))


UiDep = Annotated[Ui, Depends(ui_request)]


def same_origin(request: Request) -> bool:
    """Whether a state-changing request comes from this site: its Origin (or Referer) names this host."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True  # not sent by every browser on a same-origin form; the token still has to match
    host = request.headers.get("host", "")
    rest = origin.split("://", 1)[-1]
    return rest.split("/", 1)[0] == host


async def csrf_checked(request: Request, ui: UiDep) -> Ui:
    """Every state-changing dashboard request: the session's CSRF token, in the form or the header, and a
    same-site origin; else 403."""
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not same_origin(request) or not sessions.csrf_matches(ui.session, given):
        raise CsrfRefused
    return ui


CsrfDep = Annotated[Ui, Depends(csrf_checked)]
"""A signed-in person's state-changing request, its CSRF token checked."""
