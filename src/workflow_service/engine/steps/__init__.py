"""Step types. Adding one is adding a module here and naming it in STEP_TYPES."""

from __future__ import annotations

from workflow_service.engine.steps import condition, http, llm, tool, transform, workflow
from workflow_service.engine.steps.base import StepType

STEP_TYPES: dict[str, StepType] = {
    module.STEP.name: module.STEP for module in (transform, http, llm, condition, workflow, tool)
}

__all__ = ["STEP_TYPES", "StepType"]
