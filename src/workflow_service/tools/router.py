from __future__ import annotations

from fastapi import APIRouter

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.engine import tools
from workflow_service.problems import problem_responses
from workflow_service.tools.schemas import ToolList, ToolLoadError, ToolRead

router = APIRouter(prefix="/v1/tools", tags=["tools"])


@router.get(
    "", dependencies=[access.require(Action.TOOL_READ)], response_model=ToolList, responses=problem_responses(401)
)
async def list_tools() -> ToolList:
    """List the tools `tool` steps can call, with their args schema, and entry points that failed to load."""
    registry = tools.registry()
    return ToolList(
        items=[
            ToolRead(
                name=t.name,
                version=t.version,
                description=t.description,
                pure=t.pure,
                args_schema=t.args.model_json_schema(),
            )
            for t in registry.all()
        ],
        errors=[ToolLoadError(entry_point=e.entry_point, value=e.value, error=e.error) for e in registry.errors],
    )
