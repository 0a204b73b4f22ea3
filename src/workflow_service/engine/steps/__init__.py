"""Step types. Adding one is adding a module here and naming it in STEP_TYPES."""

from __future__ import annotations

from typing import Any

from workflow_service.core.described import one_of
from workflow_service.engine.steps import condition, http, llm, tool, transform, workflow
from workflow_service.engine.steps.base import StepType

STEP_TYPES: dict[str, StepType] = {
    module.STEP.name: module.STEP for module in (transform, http, llm, condition, workflow, tool)
}

ANY_STEP: Any = one_of((kind.config for kind in STEP_TYPES.values()), "type")
"""Any step type's config, told apart by `type`: how the contract describes a definition's steps (a definition
is validated step by step instead, each by its type's model, to report every problem with its own path)."""

__all__ = ["ANY_STEP", "STEP_TYPES", "StepType"]
