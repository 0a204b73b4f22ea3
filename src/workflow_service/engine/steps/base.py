"""What every step type provides: a config model, which fields are templates, and `run`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field

from workflow_service.core.secrets import NO_REDACTION, Redactor


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(3, ge=1, le=10, description="Tries in all, the first included.")
    backoff_s: float = Field(1.0, ge=0, le=3600, description="Wait before the second try; doubles after each.")
    max_backoff_s: float = Field(30.0, ge=0, le=3600)


class OnErrorDefault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: Any = Field(description="The output later steps see when this step fails.")


class StepConfig(BaseModel):
    """Fields every step has."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="Unique within the workflow; referenced as steps.<id> in templates.",
    )
    type: str
    timeout_s: float | None = Field(None, gt=0, le=86400)
    needs: list[str] | None = Field(
        None,
        description="Steps this one waits for; default: the step before it. Steps whose needs are met run "
        "concurrently.",
    )
    when: str | None = Field(None, min_length=1, description="A Jinja expression; the step is skipped unless true.")
    retry: RetryPolicy | None = None
    on_error: Literal["fail", "continue"] | OnErrorDefault = Field(
        "fail", description="`fail` the job (default), `continue` with output null, or `{default: value}`."
    )


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Service-wide model provider settings (WFS_OPENAI_*, WFS_ANTHROPIC_*, WFS_LLM_*)."""

    providers: Mapping[str, str | None] = field(default_factory=dict)
    """`openai_base_url`, `openai_api_key`, `anthropic_base_url`, `anthropic_api_key`."""
    timeout_s: float = 120.0
    max_attempts: int = 3
    backoff_s: float = 0.5


class ChildJobs(Protocol):
    """Runs another deployed workflow as a child job of the running one (the `workflow` step)."""

    async def run(
        self, parent_job_id: str, step_id: str, workflow: str, version: str, inputs: dict[str, Any]
    ) -> StepResult: ...


@dataclass(frozen=True, slots=True)
class StepRuntime:
    """What a running step may use: the job identity (for idempotency keys), the guarded client, the
    workflow's environment and the model settings."""

    job_id: str
    step_id: str
    attempt: int
    http: httpx.AsyncClient
    max_response_bytes: int
    default_timeout_s: float
    env: Mapping[str, Any] = field(default_factory=dict)
    models: ModelSettings = field(default_factory=ModelSettings)
    children: ChildJobs | None = None
    redact: Redactor = NO_REDACTION
    """Finds the workflow's secure variable values in whatever the step is about to hand on."""


@dataclass(slots=True)
class StepResult:
    """A step's output plus what the step record shows beside it (model calls)."""

    output: Any
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    detail: dict[str, Any] | None = None


class StepFailure(Exception):
    """A step failed for a reason the user can act on; `code` is stable."""

    def __init__(self, code: str, message: str, output: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.output = code, message, output


@dataclass(frozen=True, slots=True)
class StepType:
    name: str
    config: type[StepConfig]
    template_fields: tuple[str, ...]
    pure: bool
    """True when the step has no effect outside the job, so re-running it after a crash is harmless."""
    run: Callable[[StepConfig, dict[str, Any], StepRuntime], Awaitable[Any]]
    """Returns the output, or a StepResult carrying the output and model-call details."""
    expression_fields: tuple[str, ...] = ()
    """Template fields written as bare Jinja expressions (`inputs.n > 5`), evaluated to a value."""
    finalize: Callable[[StepConfig, dict[str, Any]], StepConfig] | None = None
    """At validation: complete the config from the definition's top level (raise ValueError to refuse)."""


class StepConfigProblems(ValueError):
    """Raised by `finalize` to refuse a step with problems at paths inside it: `(("tool",), "unknown tool")`
    is reported at `$.steps[i].tool`, `(("args", "size"), ...)` at `$.steps[i].args.size`."""

    def __init__(self, problems: list[tuple[tuple[int | str, ...], str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems
