from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workflow_service.core.db import StorableDict
from workflow_service.workflows.schemas import WorkflowRef


class JobCreate(BaseModel):
    """A job submission. `inputs` are validated against the version's input schema."""

    model_config = ConfigDict(extra="forbid")

    inputs: StorableDict = Field(default_factory=dict)
    variables: StorableDict = Field(default_factory=dict, description="Overrides of the workflow's variables, by name.")
    name: str | None = Field(None, max_length=200)
    metadata: StorableDict = Field(default_factory=dict, description="Free-form; stored and returned.")
    pool: str = Field(
        "default", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Only agents serving this pool take the job."
    )


class JobError(BaseModel):
    code: str = Field(description="Stable: template_error, http_status, step_timeout, job_timeout, ...")
    message: str
    step: str | None = Field(description="The step that failed, if one did.")


class StepRead(BaseModel):
    id: str
    type: str
    status: str = Field(description="running, completed, failed or skipped.")
    input: Any = Field(description="The step's templates as rendered for this job.")
    output: Any
    error: dict[str, Any] | None
    attempt: int
    started_at: datetime
    finished_at: datetime | None
    model: str | None = Field(None, description="Model calls: `provider/model` that answered.")
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    detail: dict[str, Any] | None = Field(
        None, description="Model calls: the exact request sent (`request`), the raw `response`, `attempts`."
    )


class JobSummary(BaseModel):
    id: uuid.UUID
    workflow: WorkflowRef
    version: int
    name: str | None
    status: str
    pool: str
    error: JobError | None
    attempt: int = Field(description="How many times an agent has claimed the job.")
    agent_id: uuid.UUID | None = Field(description="The agent that claimed it last.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None = Field(description="Seconds from started_at to finished_at.")


class JobRead(JobSummary):
    inputs: dict[str, Any]
    variables: dict[str, Any]
    metadata: dict[str, Any]
    output: Any
    max_attempts: int
    steps: list[StepRead]


class JobPage(BaseModel):
    items: list[JobSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class JobEventRead(BaseModel):
    from_status: str | None
    to_status: str
    at: datetime
    actor: str = Field(description="`api`, `agent:<id>` or `reconciler`.")
    reason: str | None


class JobEventList(BaseModel):
    items: list[JobEventRead]
