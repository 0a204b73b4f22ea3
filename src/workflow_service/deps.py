"""Request dependencies: the process's Context, the unit of work, authentication, the NUL check.

Access rules are not here: routes declare them with `access.routes.require` (see access/policy.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from workflow_service.access.credentials import WORKSPACE_HEADER, Authenticator
from workflow_service.access.principal import Principal
from workflow_service.audit import recorder
from workflow_service.audit.recorder import Actor, Author, Entry, Origin
from workflow_service.context import Context
from workflow_service.core.db import UnitOfWork, unit_of_work
from workflow_service.workflows.refs import ScopedRef


async def get_context(request: Request) -> Context:
    """The process's Context, built once by the app's lifespan (startup.open_context)."""
    context: Context = request.app.state.context
    return context


async def get_uow(context: Annotated[Context, Depends(get_context)]) -> AsyncIterator[UnitOfWork]:
    """One transaction per request, committed when the route returns (before the response is sent)."""
    async with unit_of_work(context.engine) as uow:
        yield uow


_bearer = HTTPBearer(
    auto_error=False,
    description="The operator token (WFS_ADMIN_TOKEN), a user's personal access token (`wfs_pat_…`) or identity "
    "provider JWT, or a workflow's API key (`wfs_key_…`). The operator names the workspace it acts in with the "
    "`Wfs-Workspace` header (default: `default`).",
)

PRINCIPAL_SCOPE_KEY = "workflow_service.principal"
"""Where AuthenticationMiddleware (app.py) leaves the caller it resolved, before any body is read."""
IN_PROCESS_SCOPE_KEY = "workflow_service.in_process"
"""Marks a request the dashboard made in-process (ui/api.py), its caller resolved already in PRINCIPAL_SCOPE_KEY
from the dashboard's session. A browser cannot set a scope key: only the service's own code does."""
REQUEST_ID_SCOPE_KEY = "workflow_service.request_id"
"""Where RequestIdMiddleware (middleware.py) leaves the request's id."""
AUTH_ERROR_SCOPE_KEY = "workflow_service.auth_error"
"""Where it leaves an unexpected error met while resolving (database unavailable): `authenticate` raises it
inside the app, so that the problem handlers answer it as they answer every other error."""


async def authenticate(
    request: Request,
    context: Annotated[Context, Depends(get_context)],
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
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.resolve(request.headers.get("Authorization"), request.headers.get(WORKSPACE_HEADER))


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


class OwnBodyRoute(APIRoute):
    """A route that reads its request body itself, as a stream, and checks it (the hook of an event trigger: it
    decides whether to read the body at all, and how much). `reject_nul` leaves its body alone."""


async def reject_nul(request: Request) -> None:
    """Every route: 422 naming the field when a path or query parameter, or a string anywhere in a JSON body,
    holds U+0000, which PostgreSQL cannot store in text or JSONB (it would otherwise fail deep in a query)."""
    locations: list[tuple[str | int, ...]] = [
        ("path", name) for name, value in request.path_params.items() if isinstance(value, str) and _NUL in value
    ]
    locations += [("query", name) for name, value in request.query_params.multi_items() if _NUL in name + value]
    own_body = isinstance(request.scope.get("route"), OwnBodyRoute)
    # A form's fields are not JSON (and its stream was read by the form parse): its route checks them.
    form = (
        request.headers.get("content-type", "")
        .lower()
        .startswith(("multipart/form-data", "application/x-www-form-urlencoded"))
    )
    if request.method not in ("GET", "HEAD", "OPTIONS") and not own_body and not form:
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
"""Who is calling (authenticated, not yet authorized: routes declare `access.routes.require`)."""


async def base_url(request: Request) -> str:
    context: Context = request.app.state.context
    return (context.settings.public_url or str(request.base_url)).rstrip("/")


ServicesDep = Annotated[Context, Depends(get_context)]
"""What a route hands the services it calls: the process's Context."""
UowDep = Annotated[UnitOfWork, Depends(get_uow, scope="function")]

BaseUrlDep = Annotated[str, Depends(base_url)]


async def workflow_in_path(workflow: str, principal: PrincipalDep) -> ScopedRef:
    """The `{workflow}` of the path (an id or a slug) in the workspace the request acts in."""
    return ScopedRef(workflow, principal.workspace_id)


WorkflowPathDep = Annotated[ScopedRef, Depends(workflow_in_path)]
"""The workflow a route's path names, to be found in the caller's workspace only."""


@dataclass(frozen=True, slots=True)
class AuditTrail:
    """Records what a request changes, in its unit of work, as its caller (audit/recorder.py): a route that
    changes something calls `record` once, in the transaction of the change."""

    uow: UnitOfWork
    principal: Principal
    origin: Origin

    @property
    def actor(self) -> Actor:
        return Actor(self.principal.actor, self.principal.name)

    @property
    def author(self) -> Author:
        """The caller in its workspace, from its origin: records on any connection (`Author.record`)."""
        return Author(self.principal.workspace_id, self.actor, self.origin)

    async def record(self, entry: Entry, *, workspace_id: uuid.UUID | None = None) -> None:
        """Append `entry` to the caller's workspace's chain (or `workspace_id`'s: a workspace being created)."""
        workspace = self.principal.workspace_id if workspace_id is None else workspace_id
        await recorder.record(self.uow.conn, workspace, self.actor, entry, self.origin)


def request_origin(request: Request) -> Origin:
    """The request's id (middleware.RequestIdMiddleware) and the client's address."""
    client = request.client.host if request.client is not None else None
    return Origin(request_id=request.scope.get(REQUEST_ID_SCOPE_KEY), client_address=client)


async def audit_trail(uow: UowDep, principal: PrincipalDep, request: Request) -> AuditTrail:
    return AuditTrail(uow, principal, request_origin(request))


AuditDep = Annotated[AuditTrail, Depends(audit_trail)]
"""The request's audit trail: in its unit of work (UowDep), as its caller."""


async def request_author(principal: PrincipalDep, request: Request) -> Author:
    return Author(principal.workspace_id, Actor(principal.actor, principal.name), request_origin(request))


AuthorDep = Annotated[Author, Depends(request_author)]
"""The request's caller as the author of audit entries, for a route that keeps no unit of work: the service
records with the connection of the transaction that makes the change (`Author.record(conn, entry)`)."""
