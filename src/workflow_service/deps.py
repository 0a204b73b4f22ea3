"""Request dependencies: the service container, the unit of work, authentication."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
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


async def authenticate(
    request: Request,
    services: Annotated[Services, Depends(get_services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Every /v1 request: the bearer token is the admin token or an active API key, else 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send `Authorization: Bearer <token>`")
    token = credentials.credentials
    if hmac.compare_digest(token.encode(), request.app.state.admin_token.encode()):
        return ADMIN
    if token.startswith(apikeys.KEY_START):
        # Its own short transaction, so that recording the use never waits on (or holds a row lock
        # for) the route's unit of work; the connection is back in the pool before the route runs.
        async with unit_of_work(services.engine) as uow:
            principal = await apikeys.authenticate(uow.conn, token)
        if principal is not None:
            return principal
    raise Unauthorized("the token is not valid")


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


async def require_job_reader(job_id: str, principal: PrincipalDep, uow: UowDep) -> Principal:
    """Job reads (`/v1/jobs/{job_id}...`): the admin, or the key that submitted the job. Any other
    job is 404 to a key, exactly like a missing one, so a key learns nothing about others' jobs."""
    if principal.kind != "admin" and await jobs.caller_of(uow.conn, job_id) != principal.actor:
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
