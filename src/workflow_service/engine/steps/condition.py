"""`condition`: evaluates `if` and continues with the step named by `then` or `else` (or `end`s the
job). The branch not taken is recorded as skipped, and so is every step that needs only skipped steps."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from workflow_service.engine.steps.base import StepConfig, StepRuntime, StepType

END = "end"


class ConditionConfig(StepConfig):
    """A `condition` step: continues with the step `then` or `else` names, as `if` is true or not."""

    type: Literal["condition"]
    if_: str = Field(alias="if", min_length=1, description="A Jinja expression, e.g. `inputs.score > 5`.")
    then: str = Field(description="The step to run when true, or `end`.")
    else_: str = Field(END, alias="else", description="The step to run when false, or `end` (default).")


async def run(config: StepConfig, rendered: dict[str, Any], runtime: StepRuntime) -> Any:
    assert isinstance(config, ConditionConfig)
    result = bool(rendered["if_"])
    return {"result": result, "next": config.then if result else config.else_}


STEP = StepType(
    name="condition", config=ConditionConfig, template_fields=("if_",), pure=True, run=run, expression_fields=("if_",)
)
