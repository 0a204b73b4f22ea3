"""`workflow`: runs another deployed workflow as a child job, waits for it, and outputs its output.

The child job links to its parent (`parent`), and the step record to the child (`detail.child_job_id`).
A parent retried after a crash finds the child it already started instead of starting another.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson
from pydantic import Field, field_validator

from workflow_service.engine.steps.base import StepConfig, StepFailure, StepResult, StepRuntime, StepType


class WorkflowConfig(StepConfig):
    """A `workflow` step: runs another deployed workflow as a child job; its output is the child's."""

    type: Literal["workflow"]
    workflow: str = Field(min_length=1, max_length=64, description="The workflow to run (slug or id).")
    version: str = Field("current", description="A version number, or `current` (resolved when the child starts).")
    inputs: dict[str, Any] = Field(default_factory=dict, description="The child's inputs; templates.")

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return str(value)
        if value == "current" or (isinstance(value, str) and value.isdigit() and int(value) > 0):
            return str(value)
        raise ValueError("a positive version number or 'current'")


async def run(config: StepConfig, rendered: dict[str, Any], runtime: StepRuntime) -> StepResult:
    assert isinstance(config, WorkflowConfig)
    if runtime.children is None:
        raise StepFailure("workflow_unavailable", "sub-workflows cannot run here")
    names = _secure_names(runtime.redact(rendered["inputs"]))
    if names:
        # The child job stores its inputs and is read through its own API; it would keep the value in clear.
        raise StepFailure(
            "secret_in_child_inputs",
            f"the child's inputs carry the value of secure variable(s) {', '.join(names)}; a secure value cannot "
            f"be passed to a sub-workflow: give workflow {config.workflow!r} its own secure variable instead",
        )
    return await runtime.children.run(
        runtime.job_id, runtime.step_id, config.workflow, config.version, rendered["inputs"]
    )


def _secure_names(redacted: Any) -> list[str]:
    """Names of the secure variables whose values redaction replaced somewhere in `redacted`."""
    return sorted(set(_REDACTED_MARK.findall(orjson.dumps(redacted).decode())))


_REDACTED_MARK = re.compile(r"\[redacted:([^\]]+)\]")

STEP = StepType(name="workflow", config=WorkflowConfig, template_fields=("inputs",), pure=False, run=run)
