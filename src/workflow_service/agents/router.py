from __future__ import annotations

from fastapi import APIRouter

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.agents import service
from workflow_service.agents.schemas import AgentList, AgentStatus
from workflow_service.deps import UowDep
from workflow_service.problems import problem_responses

router = APIRouter(prefix="/v1/agents", tags=["agents"])


@router.get(
    "",
    dependencies=[access.require(Action.AGENT_READ)],
    response_model=AgentList,
    responses=problem_responses(401, 422),
)
async def list_agents(uow: UowDep, status: AgentStatus | None = None) -> AgentList:
    """List the agents (worker processes) with their pools and last heartbeat."""
    return await service.list_agents(uow.conn, status)
