"""`transform`: renders its `output` template. No side effects."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from workflow_service.engine.steps.base import StepConfig, StepRuntime, StepType


class TransformConfig(StepConfig):
    """A `transform` step: its output is its `output`, rendered."""

    type: Literal["transform"]
    output: Any = Field(description="Any JSON value; its strings are templates.")


async def run(config: StepConfig, rendered: dict[str, Any], runtime: StepRuntime) -> Any:
    return rendered["output"]


STEP = StepType(name="transform", config=TransformConfig, template_fields=("output",), pure=True, run=run)
