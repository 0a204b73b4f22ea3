"""Request dependencies: the service container, the unit of work, authentication."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.config import Settings
from workflow_service.core.db import UnitOfWork, unit_of_work
from workflow_service.core.dispatch import Dispatcher
from workflow_service.engine.definition import PlanCache
from workflow_service.errors import Unauthorized


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    dispatcher: Dispatcher
    plans: PlanCache


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_uow(services: Annotated[Services, Depends(get_services)]) -> AsyncIterator[UnitOfWork]:
    """One transaction per request, committed when the route returns (before the response is sent)."""
    async with unit_of_work(services.engine) as uow:
        yield uow


_bearer = HTTPBearer(auto_error=False, description="The admin token (WFS_ADMIN_TOKEN).")


async def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The caller must present the admin token; returns the actor name for the audit trail."""
    token = request.app.state.admin_token
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("send `Authorization: Bearer <token>`")
    if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
        raise Unauthorized("the token is not valid")
    return "admin"


async def base_url(request: Request) -> str:
    services: Services = request.app.state.services
    return (services.settings.public_url or str(request.base_url)).rstrip("/")


ServicesDep = Annotated[Services, Depends(get_services)]
UowDep = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
ActorDep = Annotated[str, Depends(require_admin)]
BaseUrlDep = Annotated[str, Depends(base_url)]
