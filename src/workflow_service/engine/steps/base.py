"""What every step type provides: a config model, which fields are templates, and `run`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field


class StepConfig(BaseModel):
    """Fields every step has."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="Unique within the workflow; referenced as steps.<id> in templates.",
    )
    type: str
    timeout_s: float | None = Field(None, gt=0, le=86400)


@dataclass(frozen=True, slots=True)
class StepRuntime:
    """What a running step may use: the job identity (for idempotency keys) and the guarded client."""

    job_id: str
    step_id: str
    attempt: int
    http: httpx.AsyncClient
    max_response_bytes: int
    default_timeout_s: float


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
