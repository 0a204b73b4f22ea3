from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from workflow_service.core.db import StorableDict
from workflow_service.engine.steps import STEP_TYPES
from workflow_service.jobs.states import JobStatus
from workflow_service.workflows.schemas import WorkflowRef

StepStatus = Literal["running", "completed", "failed", "skipped"]
SourceKind = Literal["rerun", "run_from_step", "duplicate", "cache"]


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
    cache: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Reuse the result of an identical earlier job (same version content, inputs, variables and "
        "environment). `auto`: only when the workflow has llm steps, all at temperature 0, and no steps with "
        "outside effects (http); `always`: whenever identical; `never`: always compute.",
    )


class JobError(BaseModel):
    code: str = Field(description="Stable: template_error, http_status, step_timeout, job_timeout, ...")
    message: str
    step: str | None = Field(description="The step that failed, if one did.")


class StepRead(BaseModel):
    id: str
    type: Annotated[str, WithJsonSchema({"type": "string", "enum": sorted(STEP_TYPES)})]
    status: StepStatus = Field(description="`skipped`: not run (its `when` was false, or it is on a branch not taken).")
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
    cost: float | None = Field(None, description="Model calls: credits, from WFS_PRICING; null if the model has none.")


class JobUsage(BaseModel):
    """What the job's model calls used (steps copied from another job or a cache hit spent nothing)."""

    input_tokens: int | None = Field(None, description="Summed over the job's steps; null if none reported any.")
    output_tokens: int | None = None
    cost: float | None = Field(
        None, description="Credits summed over the steps; null without model calls or if one has no price."
    )


class JobSource(BaseModel):
    """The job this one was made from."""

    job_id: uuid.UUID
    kind: SourceKind = Field(description="How it was made; `cache`: it completed from this job's result.")
    from_step: str | None = Field(description="run_from_step: the first step this job ran; earlier ones were copied.")


class JobSummary(BaseModel):
    id: uuid.UUID
    workflow: WorkflowRef
    version: int
    name: str | None
    status: JobStatus
    pool: str
    error: JobError | None
    attempt: int = Field(description="How many times an agent has claimed the job.")
    agent_id: uuid.UUID | None = Field(description="The agent that claimed it last.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None = Field(description="Seconds from started_at to finished_at.")
    source: JobSource | None = Field(
        None, description="Set when the job is a rerun, run from a step, duplicate or cache hit (or waits for one)."
    )
    cache_hit: bool = Field(False, description="Completed from the cached result of `source.job_id`, no model call.")
    usage: JobUsage = Field(default_factory=JobUsage)


class JobParent(BaseModel):
    job_id: uuid.UUID
    step: str = Field(description="The parent's `workflow` step that started this job.")


class JobRead(JobSummary):
    inputs: dict[str, Any]
    variables: dict[str, Any] = Field(description="The variables this job was submitted with (its overrides).")
    effective_variables: dict[str, Any] = Field(
        default_factory=dict, description="The workflow's variables with this job's overrides applied."
    )
    overridden_variables: list[str] = Field(default_factory=list, description="Which variables the job overrode.")
    parent: JobParent | None = Field(None, description="For a sub-workflow's job: the job and step that started it.")
    metadata: dict[str, Any]
    output: Any
    max_attempts: int
    steps: list[StepRead] | None = Field(
        description="Every step's record, in order; null when read with `steps=false`."
    )


class JobPage(BaseModel):
    items: list[JobSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class JobEventRead(BaseModel):
    from_status: JobStatus | None
    to_status: JobStatus
    at: datetime
    actor: str = Field(description="`api`, `agent:<id>` or `reconciler`.")
    reason: str | None


class JobEventList(BaseModel):
    items: list[JobEventRead]


class RunFromStep(BaseModel):
    """A new job that copies the source's results for the steps before `step` and runs from there."""

    model_config = ConfigDict(extra="forbid")

    step: str = Field(description="A step id of the target version: the first step the new job runs.")
    variables: StorableDict = Field(default_factory=dict, description="Overrides, merged over the source's.")
    inputs: StorableDict | None = Field(None, description="Replace the source's inputs (validated like a submission).")
    version: Annotated[int, Field(ge=1)] | Literal["current"] | None = Field(
        None, description="Run on another version (a number or `current`) whose steps before `step` are identical."
    )


class JobDuplicate(BaseModel):
    """A new job with the source's configuration; started now or left `new` until `POST /v1/jobs/{id}/start`."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200, description="Defaults to the source's name.")
    variables: StorableDict = Field(default_factory=dict, description="Overrides, merged over the source's.")
    start: bool = Field(description="true: pending and queued now; false: `new` until `POST /v1/jobs/{id}/start`.")


class StepEstimate(BaseModel):
    id: str
    model: str = Field(description="`provider/model` the step is configured with.")
    input_tokens: int = Field(description="Rendered system + prompt, about 4 characters a token, + message overhead.")
    output_tokens: int
    credits: float | None = Field(description="From WFS_PRICING; null if the model has no price.")
    basis: Literal["history", "max_tokens", "default"] = Field(
        description="Where output_tokens comes from: the mean over this version's last 20 completed jobs, the "
        "step's max_tokens, or the default of 256."
    )
    approximate: bool = Field(
        description="The prompt reads earlier steps' outputs (unknown before running; counted as empty)."
    )


class Estimate(BaseModel):
    """What a job with these inputs would likely use, per llm step and in total."""

    steps: list[StepEstimate]
    input_tokens: int
    output_tokens: int
    credits: float | None = Field(description="Null if any step's model has no price.")
