"""How a route declares its access rule: `dependencies=[require(Action.X, on=loader)]`.

The loader names the resource from the route's path (`service`, `workflow`, `job`); `require` asks
`policy.allowed` and answers 403 or 404 as it decides. Declared in `dependencies`, the check runs before
the route's own parameters are resolved, so before the body is validated (a caller that may not call the
route gets 403/404, never 422).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence

from fastapi import Depends
from fastapi.params import Depends as DependsParam
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.access.policy import (
    SERVICE,
    Action,
    Decision,
    Effect,
    JobResource,
    Resource,
    ServiceResource,
    WorkflowResource,
    allowed,
    reads_job,
    reads_member_role,
)
from workflow_service.access.principal import Principal, WorkflowRole
from workflow_service.core.db import AnyRow, unit_of_work
from workflow_service.core.ids import parse_uuid
from workflow_service.deps import PrincipalDep, ServicesDep, UowDep
from workflow_service.errors import Forbidden, NotFound
from workflow_service.jobs import repository as jobs_repo
from workflow_service.people import repository as people_repo

ResourceLoader = Callable[..., Awaitable[Resource]]
"""A FastAPI dependency that names the resource of a route (from its path parameters)."""

_DECLARED: dict[object, tuple[Action, ResourceLoader]] = {}


async def service() -> ServiceResource:
    """The service as a whole (routes without a workflow or a job in their path)."""
    return SERVICE


async def workflow(workflow: str, principal: PrincipalDep, services: ServicesDep) -> WorkflowResource:
    """The workflow in the path (`{workflow}`, an id or a slug), existing or not; for a workspace member with
    the role they were invited with, looked up on a connection of its own (only for them: `reads_member_role`)."""
    if not reads_member_role(principal):
        return WorkflowResource(ref=workflow)
    assert principal.user_id is not None
    async with services.engine.connect() as conn:
        role = await people_repo.workflow_role(conn, principal.workspace_id, workflow, principal.user_id)
    return WorkflowResource(ref=workflow, member_role=None if role is None else WorkflowRole(role))


async def job(job_id: str, principal: PrincipalDep, uow: UowDep) -> JobResource:
    """The job in the path (`{job_id}`) with what the policy reads of it, looked up in the request's unit of
    work, and only when the policy reads it (`reads_job`)."""
    return await _job(uow.conn, job_id, principal) if reads_job(principal) else JobResource(id=job_id)


async def job_own_transaction(job_id: str, principal: PrincipalDep, services: ServicesDep) -> JobResource:
    """`job`, for a route that keeps no request unit of work (reads, redeliver): the lookup is a short
    transaction of its own, closed before the route runs, and opened only when the policy reads the job."""
    if not reads_job(principal):
        return JobResource(id=job_id)
    async with unit_of_work(services.engine) as uow:
        return await _job(uow.conn, job_id, principal)


async def _job(conn: AsyncConnection, job_id: str, principal: Principal) -> JobResource:
    jid = parse_uuid(job_id)
    user_id = principal.user_id if reads_member_role(principal) else None
    row = None if jid is None else await jobs_repo.access_facts(conn, jid, user_id)
    return _job_resource(job_id, row)


def _job_resource(job_id: str, row: AnyRow | None) -> JobResource:
    """The job `job_id` as the policy reads it, from its `access_facts` (None: no such job)."""
    if row is None:
        return JobResource(id=job_id)
    role = None if row.member_role is None else WorkflowRole(row.member_role)
    return JobResource(
        id=job_id, caller=row.caller, workspace_id=row.workspace_id, workflow_id=row.workflow_id, member_role=role
    )


async def job_resources(
    conn: AsyncConnection, job_ids: Sequence[uuid.UUID], principal: Principal
) -> dict[uuid.UUID, JobResource]:
    """Each of `job_ids` as `job` describes it, read in one query for them all (and only when the policy reads a
    job): for what acts on, or shows actions for, many jobs at once."""
    facts: dict[uuid.UUID, AnyRow] = {}
    if reads_job(principal) and job_ids:
        user_id = principal.user_id if reads_member_role(principal) else None
        facts = await jobs_repo.access_facts_of(conn, job_ids, user_id)
    return {jid: _job_resource(str(jid), facts.get(jid)) for jid in job_ids}


async def job_decisions(
    conn: AsyncConnection, job_ids: Sequence[uuid.UUID], principal: Principal, action: Action
) -> dict[uuid.UUID, Decision]:
    """What `allowed` decides for `action` on each of `job_ids` (`job_resources`): for a route acting on many jobs,
    each decided on its own (a bulk delete)."""
    resources = await job_resources(conn, job_ids, principal)
    return {jid: allowed(principal, action, resource) for jid, resource in resources.items()}


def check(principal: Principal, action: Action, resource: Resource) -> None:
    """Raise what `allowed` decides against (404 or 403): for a route whose rule depends on its parameters
    (a listing's `scope=all`), asked in the route."""
    decision = allowed(principal, action, resource)
    if decision.effect is Effect.HIDE:
        raise NotFound(decision.reason)
    if decision.effect is Effect.FORBID:
        raise Forbidden(decision.reason)


def require(action: Action, on: ResourceLoader = service) -> DependsParam:
    """The dependency a route declares for its access rule; it returns the principal once allowed."""

    # `Depends(on)` as a default, not in `Annotated`: the annotations of this module are strings, and a
    # string cannot name the closure's `on`.
    async def checked(principal: PrincipalDep, resource: Resource = Depends(on)) -> Principal:
        check(principal, action, resource)
        return principal

    _DECLARED[checked] = (action, on)
    dependency: DependsParam = Depends(checked)
    return dependency


def declared(call: object) -> tuple[Action, ResourceLoader] | None:
    """The action and resource loader of a dependency that `require` made, else None: lets a test list the
    rule of every route."""
    return _DECLARED.get(call)
