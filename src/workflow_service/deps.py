"""Request dependencies: the service container, the unit of work, authentication, the NUL check."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.apikeys import service as apikeys
from workflow_service.apikeys.service import ADMIN, Principal
from workflow_service.config import Settings
from workflow_service.core.db import UnitOfWork, unit_of_work
from workflow_service.core.dispatch import Dispatcher
from workflow_service.core.http import OutboundPolicy
from workflow_service.core.notify import Notifier
from workflow_service.engine.definition import PlanCache
from workflow_service.errors import Forbidden, NotFound, Unauthorized
from workflow_service.jobs import service as jobs


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    dispatcher: Dispatcher
    plans: PlanCache
    notifier: Notifier
    http: httpx.AsyncClient
    """The guarded outbound client (redeliveries sent from the API)."""
    policy: OutboundPolicy


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_uow(services: Annotated[Services, Depends(get_services)]) -> AsyncIterator[UnitOfWork]:
    """One transaction per request, committed when the route returns (before the response is sent)."""
    async with unit_of_work(services.engine) as uow:
        yield uow


_bearer = HTTPBearer(
    auto_error=False, description="The admin token (WFS_ADMIN_TOKEN) or a workflow's API key (`wfs_key_…`)."
)

PRINCIPAL_SCOPE_KEY = "workflow_service.principal"
"""Where AuthenticationMiddleware (app.py) leaves the caller it resolved, before any body is read."""
AUTH_ERROR_SCOPE_KEY = "workflow_service.auth_error"
"""Where it leaves an unexpected error met while resolving (database unavailable): `authenticate` raises it
inside the app, so that the problem handlers answer it as they answer every other error."""


async def resolve_principal(engine: AsyncEngine, admin_token: str, authorization: str | None) -> Principal:
    """The caller an `Authorization` header names: the admin token or an active API key, else Unauthorized."""
    scheme, token = get_authorization_scheme_param(authorization)
    if not (authorization and token) or scheme.lower() != "bearer":
        raise Unauthorized("send `Authorization: Bearer <token>`")
    if hmac.compare_digest(token.encode(), admin_token.encode()):
        return ADMIN
    if token.startswith(apikeys.KEY_START):
        # Its own short transaction, so that recording the use never waits on (or holds a row lock
        # for) the route's unit of work; the connection is back in the pool before the route runs.
        async with unit_of_work(engine) as uow:
            principal = await apikeys.authenticate(uow.conn, token)
        if principal is not None:
            return principal
    raise Unauthorized("the token is not valid")


async def authenticate(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    # Not read (the header is): declares the bearer scheme in the OpenAPI document.
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Every /v1 request: the bearer token is the admin token or an active API key, else 401.

    The middleware has already resolved it before the body was read (so an unauthenticated request costs
    no body); this reads its answer, and resolves the header itself for a request the middleware did not see."""
    principal: Principal | None = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if principal is not None:
        return principal
    error: Exception | None = request.scope.get(AUTH_ERROR_SCOPE_KEY)
    if error is not None:
        raise error
    return await resolve_principal(services.engine, request.app.state.admin_token, request.headers.get("Authorization"))


_NUL = "\x00"
_NUL_ESCAPE = b"\\u0000"
_NUL_MESSAGE = "must not contain the NUL character (U+0000)"
_MAX_NUL_ITEMS = 20


def _nul_locations(value: Any, root: tuple[str | int, ...]) -> list[tuple[str | int, ...]]:
    """Where strings (keys included) inside a parsed JSON value hold a NUL. Iterative: bodies may nest deep."""
    found: list[tuple[str | int, ...]] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [(root, value)]
    while stack and len(found) < _MAX_NUL_ITEMS:
        loc, item = stack.pop()
        if isinstance(item, str):
            if _NUL in item:
                found.append(loc)
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                if _NUL in key:
                    found.append((*loc, key))
                stack.append(((*loc, key), child))
        elif isinstance(item, list):
            stack.extend(((*loc, i), child) for i, child in reversed(list(enumerate(item))))
    return found


async def reject_nul(request: Request) -> None:
    """Every route: 422 naming the field when a path or query parameter, or a string anywhere in a JSON body,
    holds U+0000, which PostgreSQL cannot store in text or JSONB (it would otherwise fail deep in a query)."""
    locations: list[tuple[str | int, ...]] = [
        ("path", name) for name, value in request.path_params.items() if isinstance(value, str) and _NUL in value
    ]
    locations += [("query", name) for name, value in request.query_params.multi_items() if _NUL in name + value]
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        # The body the route has read already (bounded by WFS_MAX_BODY_BYTES). JSON can only carry a NUL
        # escaped, so the parse and walk happen only for a body holding that escape, never on the usual path.
        body = await request.body()
        if _NUL_ESCAPE in body:
            try:
                parsed = await request.json()  # parsed once: FastAPI's parse of the body is cached
            except (ValueError, RecursionError):
                parsed = None  # not JSON (or nested too deeply to parse): the route answers for the body as it would
            locations += _nul_locations(parsed, ("body",))
    if locations:
        raise RequestValidationError(
            [{"type": "string_nul", "loc": loc, "msg": _NUL_MESSAGE, "input": None} for loc in locations]
        )


PrincipalDep = Annotated[Principal, Depends(authenticate)]


async def require_admin(principal: PrincipalDep) -> Principal:
    """Routes that manage the service (workflows, keys, agents, job listings) are the admin's only."""
    if principal.kind != "admin":
        raise Forbidden("an API key may only call its workflow's endpoints and read the jobs it submitted")
    return principal


async def require_caller_for_workflow(workflow: str, principal: PrincipalDep) -> Principal:
    """Invocation endpoints (`/v1/workflows/{workflow}/versions/{version}/...`): the admin, or a key of
    that workflow; a key of another workflow gets 403 whether or not `workflow` exists."""
    if not principal.may_call(workflow):
        raise Forbidden("this API key belongs to another workflow")
    return principal


async def require_job_reader(
    job_id: str, principal: PrincipalDep, services: Annotated[Services, Depends(get_services)]
) -> Principal:
    """Job reads (`/v1/jobs/{job_id}...`): the admin, or the key that submitted the job. Any other
    job is 404 to a key, exactly like a missing one, so a key learns nothing about others' jobs.

    A key's check reads in a short transaction of its own, never the route's unit of work: a route may
    have none (redeliver), and on SQLite an open one holds the one write lock."""
    if principal.kind == "admin":
        return principal
    async with services.engine.connect() as conn:
        caller = await jobs.caller_of(conn, job_id)
    if caller != principal.actor:
        raise NotFound(f"job {job_id!r} does not exist")
    return principal


async def base_url(request: Request) -> str:
    services: Services = request.app.state.services
    return (services.settings.public_url or str(request.base_url)).rstrip("/")


ServicesDep = Annotated[Services, Depends(get_services)]
UowDep = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
AdminDep = Annotated[Principal, Depends(require_admin)]
CallerDep = Annotated[Principal, Depends(require_caller_for_workflow)]
"""The caller of an invocation endpoint; pass `.actor` to jobs.service.submit."""
JobReaderDep = Annotated[Principal, Depends(require_job_reader)]

BaseUrlDep = Annotated[str, Depends(base_url)]
