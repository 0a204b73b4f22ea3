"""The audit log's routes: a workspace's log, a workflow's log, and verifying a chain. No route changes or
deletes an entry."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.access.principal import PrincipalKind
from workflow_service.audit import service
from workflow_service.audit.chain import DEPLOYMENT_CHAIN, chain_of
from workflow_service.audit.repository import AuditFilter
from workflow_service.audit.schemas import AuditPage, ChainReport
from workflow_service.core.db import snapshot
from workflow_service.deps import PrincipalDep, ServicesDep, UowDep, WorkflowPathDep
from workflow_service.errors import Forbidden, NotFound
from workflow_service.problems import problem_responses
from workflow_service.workflows import repository as workflow_repo

router = APIRouter(tags=["audit"])

ChainName = Literal["workspace", "deployment"]


class AuditQuery(BaseModel):
    """The filters of an audit log listing, and its page."""

    actor: str | None = Field(None, description="Who acted: `admin`, `user:<id>`, `key:<id>` or `system`.")
    action: str | None = Field(None, description="A stable action name, e.g. `workflow.deployed`.")
    category: str | None = Field(None, description="The kind of object: `workflow`, `env`, `member`, `job`, …")
    target: str | None = Field(None, description="The id of the object acted on.")
    since: datetime | None = Field(None, description="Entries at or after this time (ISO 8601).")
    until: datetime | None = Field(None, description="Entries before this time (ISO 8601).")
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)

    def where(self, chain: str) -> AuditFilter:
        return AuditFilter(
            chain=chain,
            actor=self.actor,
            action=self.action,
            category=self.category,
            target_id=self.target,
            since=self.since,
            until=self.until,
        )


class WorkspaceAuditQuery(AuditQuery):
    chain: ChainName = Field(
        "workspace",
        description="`workspace`: the caller's workspace. `deployment` (the operator only): what belongs to no "
        "workspace, such as sign-in failures with an unknown token.",
    )


def _chain(principal: PrincipalDep, name: ChainName) -> str:
    if name == "workspace":
        return chain_of(principal.workspace_id)
    if principal.kind is not PrincipalKind.ADMIN:
        raise Forbidden("only the operator may read the deployment's audit log")
    return DEPLOYMENT_CHAIN


@router.get(
    "/v1/audit-log",
    response_model=AuditPage,
    responses=problem_responses(401, 403, 422),
    dependencies=[access.require(Action.AUDIT_READ)],
)
async def list_audit_log(
    principal: PrincipalDep, uow: UowDep, query: Annotated[WorkspaceAuditQuery, Query()]
) -> AuditPage:
    """The workspace's audit log, newest first: every change to its workflows, settings, keys, members and jobs,
    by whom, from where; filtered by actor, action, category, target and time."""
    return await service.page(uow.conn, query.where(_chain(principal, query.chain)), query.cursor, query.limit)


@router.get(
    "/v1/audit-log/verify",
    response_model=ChainReport,
    responses=problem_responses(401, 403, 422),
    dependencies=[access.require(Action.AUDIT_READ)],
)
async def verify_audit_log(
    principal: PrincipalDep,
    services: ServicesDep,
    chain: Annotated[ChainName, Query(description="The chain to verify, as for the listing.")] = "workspace",
) -> ChainReport:
    """Recompute every entry's hash, in order, and say whether the log is intact, or which entry was altered,
    removed or inserted first."""
    name = _chain(principal, chain)
    async with snapshot(services.engine) as conn:
        return await service.verify(conn, name)


@router.get(
    "/v1/workflows/{workflow}/audit-log",
    response_model=AuditPage,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[access.require(Action.WORKFLOW_AUDIT, on=access.workflow)],
)
async def list_workflow_audit_log(
    workflow: WorkflowPathDep, uow: UowDep, query: Annotated[AuditQuery, Query()]
) -> AuditPage:
    """The workflow's audit log, newest first: the entries of its workspace's log that concern it."""
    row = await workflow_repo.get(uow.conn, workflow)
    if row is None:
        raise NotFound(f"workflow {workflow!r} does not exist")
    where = dataclasses.replace(query.where(chain_of(workflow.workspace_id)), workflow_id=row.id)
    return await service.page(uow.conn, where, query.cursor, query.limit)
