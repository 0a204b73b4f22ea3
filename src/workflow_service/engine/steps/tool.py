"""`tool`: calls a registered Python tool (engine/tools) by name and optional version with `args`.

At validation the tool and version must exist, and args without templates are checked against the
tool's args model (each problem at `$.steps[i].args.<field>`). At run time the rendered args are
checked again (`tool_invalid_args`); an exception in the tool fails the step with `tool_error`.
The step record's `detail` names the tool and the version that ran.

The step is not pure: a tool may have effects outside the job, and `StepType.pure` is one value for the
whole step type, so every `tool` step is checkpointed like `http` (a tool's own `pure` flag is shown
by `GET /v1/tools` and in the step record).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field, ValidationError

from workflow_service.engine import tools
from workflow_service.engine.steps.base import (
    StepConfig,
    StepConfigProblems,
    StepFailure,
    StepResult,
    StepRuntime,
    StepType,
)
from workflow_service.engine.tools import Tool, ToolError, ToolNotFound

log = logging.getLogger(__name__)


class ToolConfig(StepConfig):
    """A `tool` step: calls a registered Python tool (`GET /v1/tools`) with `args`."""

    type: Literal["tool"]
    tool: str = Field(min_length=1, max_length=200, description="The tool's name, like `text.split`.")
    version: str | None = Field(
        None, min_length=1, max_length=64, description="An exact version; default: the highest registered."
    )
    args: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments; strings are templates.")


def _has_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value or "{#" in value
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return False


def static_arg_problems(tool: Tool[Any], args: dict[str, Any]) -> list[tuple[tuple[int | str, ...], str]]:
    """Problems with the args that templates cannot change: every field given without a template, a
    missing required field, an unknown field; checks of the whole model only when nothing is templated."""
    templated = {name for name, value in args.items() if _has_template(value)}
    try:
        tool.args.model_validate(args)
    except ValidationError as exc:
        found: list[tuple[tuple[int | str, ...], str]] = []
        for err in exc.errors():
            loc = err["loc"]
            if (loc and loc[0] in templated) or (not loc and templated):
                continue
            found.append((("args", *loc), err["msg"]))
        return found
    return []


def finalize(config: StepConfig, definition: dict[str, Any]) -> StepConfig:
    """Refuse an unknown tool or version, and args that cannot be right whatever the templates give."""
    assert isinstance(config, ToolConfig)
    try:
        tool = tools.registry().resolve(config.tool, config.version)
    except ToolNotFound as exc:
        raise StepConfigProblems([((exc.field,), exc.message)]) from exc
    problems = static_arg_problems(tool, config.args)
    if problems:
        raise StepConfigProblems(problems)
    return config


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors()[:5]:
        where = ".".join(str(part) for part in ("args", *err["loc"]))
        problems.append(f"{where}: {err['msg']}")
    return "; ".join(problems)


async def run(config: StepConfig, rendered: dict[str, Any], runtime: StepRuntime) -> StepResult:
    assert isinstance(config, ToolConfig)
    try:
        tool = tools.registry().resolve(config.tool, config.version)
    except ToolNotFound as exc:  # validated at deploy; a worker without the tool's package installed
        raise StepFailure("tool_unknown", exc.message) from exc
    try:
        args = tool.args.model_validate(rendered["args"])
    except ValidationError as exc:
        raise StepFailure("tool_invalid_args", f"{tool.key}: {_describe(exc)}") from exc
    try:
        output = await tool.call(args)
    except ToolError as exc:
        raise StepFailure("tool_error", f"{tool.key}: {exc}") from exc
    except Exception as exc:  # a bug or an unexpected input in the tool: the step fails, not the job runner
        log.warning("tool %s raised in job %s step %s", tool.key, runtime.job_id, runtime.step_id, exc_info=True)
        raise StepFailure("tool_error", f"{tool.key}: {type(exc).__name__}: {exc}") from exc
    return StepResult(output=output, detail={"tool": tool.name, "version": tool.version, "pure": tool.pure})


STEP = StepType(name="tool", config=ToolConfig, template_fields=("args",), pure=False, run=run, finalize=finalize)
