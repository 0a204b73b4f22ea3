"""The monitor's routes: a deployed workflow's figures, runs and model calls over a window of time. Reads for
anyone who may read the workflow but API keys (Action.WORKFLOW_MONITOR); they change nothing, so they write no
audit entry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.core.clock import utcnow
from workflow_service.deps import ServicesDep, UowDep, WorkflowPathDep
from workflow_service.monitor import service
from workflow_service.monitor.schemas import (
    ModelRunPage,
    ModelRunsQuery,
    MonitorQuery,
    MonitorRead,
    RunPage,
    RunsQuery,
)
from workflow_service.problems import problem_responses

router = APIRouter(prefix="/v1/workflows/{workflow}", tags=["monitor"])
RESPONSES = problem_responses(401, 403, 404, 422)


@router.get(
    "/monitor",
    dependencies=[access.require(Action.WORKFLOW_MONITOR, on=access.workflow)],
    response_model=MonitorRead,
    responses=RESPONSES,
)
async def get_monitor(workflow: WorkflowPathDep, uow: UowDep, query: Annotated[MonitorQuery, Query()]) -> MonitorRead:
    """How the workflow's runs submitted in the window did (default: the last 24 hours): counts by outcome,
    failure rate, exact response time (p50, p90, p99, max) and queue wait (p50, p90, max) percentiles, over the
    window and in each bucket of a time series; filtered by version and origin."""
    return await service.monitor(uow.conn, workflow, query, utcnow())


@router.get(
    "/runs",
    dependencies=[access.require(Action.WORKFLOW_MONITOR, on=access.workflow)],
    response_model=RunPage,
    responses=RESPONSES,
)
async def list_runs(workflow: WorkflowPathDep, uow: UowDep, query: Annotated[RunsQuery, Query()]) -> RunPage:
    """The workflow's runs submitted in the window, newest first: status, response time, queue wait, steps
    executed, start and end, origin and source (never inputs or output); filtered by version, origin and status."""
    return await service.runs(uow.conn, workflow, query, utcnow())


@router.get(
    "/model-runs",
    dependencies=[access.require(Action.WORKFLOW_MONITOR, on=access.workflow)],
    response_model=ModelRunPage,
    responses=RESPONSES,
)
async def list_model_runs(
    workflow: WorkflowPathDep, uow: UowDep, services: ServicesDep, query: Annotated[ModelRunsQuery, Query()]
) -> ModelRunPage:
    """Every model call (`llm` step) of the workflow's runs submitted in the window, newest first: request id,
    job, step, model, provider, status, response time, tokens, cost, start and end (never the prompt or the
    answer), with a summary of them all (percentiles, failure rate, tokens, cost); filtered by model, step, status,
    version and origin."""
    return await service.model_runs(uow.conn, services.plans, workflow, query, utcnow())
