"""How a route declares its access rule: `dependencies=[require(Action.X, on=loader)]`.

The loader names the resource from the route's path (`service`, `workflow`, `job`); `require` asks
`policy.allowed` and answers 403 or 404 as it decides. Declared in `dependencies`, the check runs before
the route's own parameters are resolved, so before the body is validated (a caller that may not call the
route gets 403/404, never 422).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends
from fastapi.params import Depends as DependsParam
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.access.policy import (
    SERVICE,
    Action,
    Effect,
    JobResource,
    Resource,
    ServiceResource,
    WorkflowResource,
    allowed,
    reads_submitter,
)
from workflow_service.access.principal import Principal
from workflow_service.core.db import unit_of_work
from workflow_service.core.ids import parse_uuid
from workflow_service.deps import PrincipalDep, ServicesDep, UowDep
from workflow_service.errors import Forbidden, NotFound
from workflow_service.jobs import repository as jobs_repo

ResourceLoader = Callable[..., Awaitable[Resource]]
"""A FastAPI dependency that names the resource of a route (from its path parameters)."""

_DECLARED: dict[object, tuple[Action, ResourceLoader]] = {}


async def service() -> ServiceResource:
    """The service as a whole (routes without a workflow or a job in their path)."""
    return SERVICE


async def workflow(workflow: str) -> WorkflowResource:
    """The workflow in the path (`{workflow}`, an id or a slug): no query, existing or not."""
    return WorkflowResource(ref=workflow)


async def job(job_id: str, principal: PrincipalDep, uow: UowDep) -> JobResource:
    """The job in the path (`{job_id}`) with who submitted it, looked up in the request's unit of work, and
    only when the policy reads it (`reads_submitter`)."""
    return await _job(uow.conn, job_id) if reads_submitter(principal) else JobResource(id=job_id)


async def job_own_transaction(job_id: str, principal: PrincipalDep, services: ServicesDep) -> JobResource:
    """`job`, for a route that keeps no request unit of work (redeliver): the lookup is a short transaction
    of its own, closed before the route runs, and opened only when the policy reads the submitter."""
    if not reads_submitter(principal):
        return JobResource(id=job_id)
    async with unit_of_work(services.engine) as uow:
        return await _job(uow.conn, job_id)


async def _job(conn: AsyncConnection, job_id: str) -> JobResource:
    jid = parse_uuid(job_id)
    submitted_by = None if jid is None else await jobs_repo.get_caller(conn, jid)
    return JobResource(id=job_id, submitted_by=submitted_by)


def require(action: Action, on: ResourceLoader = service) -> DependsParam:
    """The dependency a route declares for its access rule; it returns the principal once allowed."""

    # `Depends(on)` as a default, not in `Annotated`: the annotations of this module are strings, and a
    # string cannot name the closure's `on`.
    async def check(principal: PrincipalDep, resource: Resource = Depends(on)) -> Principal:
        decision = allowed(principal, action, resource)
        if decision.effect is Effect.HIDE:
            raise NotFound(decision.reason)
        if decision.effect is Effect.FORBID:
            raise Forbidden(decision.reason)
        return principal

    _DECLARED[check] = (action, on)
    dependency: DependsParam = Depends(check)
    return dependency


def declared(call: object) -> tuple[Action, ResourceLoader] | None:
    """The action and resource loader of a dependency that `require` made, else None: lets a test list the
    rule of every route."""
    return _DECLARED.get(call)
