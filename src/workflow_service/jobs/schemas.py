from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, WithJsonSchema

from workflow_service.core.db import StorableDict
from workflow_service.engine.steps import STEP_TYPES
from workflow_service.jobs.states import JobStatus
from workflow_service.workflows.schemas import WorkflowRef

StepStatus = Literal["running", "completed", "failed", "skipped"]
SourceKind = Literal["rerun", "run_from_step", "duplicate", "cache"]
CreatorKind = Literal["operator", "user", "key", "schedule", "trigger", "system"]
WITHHELD = "Withheld (null, and `{}_withheld` true) from everyone but the job's creator."


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
    notify_url: str | None = Field(
        None,
        max_length=2048,
        description="Where to send this job's own completion notice when it ends (completed, failed or canceled), "
        "besides the workflow's push callback: a webhook signed like push callbacks (Standard Webhooks, with the "
        "workflow's signing secret, which must exist) and retried on the same schedule, without the push access "
        "token. An absolute http(s) URL to a host the outbound policy allows (422 otherwise).",
    )


class JobError(BaseModel):
    code: str = Field(description="Stable: template_error, http_status, step_timeout, job_timeout, ...")
    message: str
    step: str | None = Field(description="The step that failed, if one did.")


class StepRead(BaseModel):
    id: str
    type: Annotated[str, WithJsonSchema({"type": "string", "enum": sorted(STEP_TYPES)})]
    status: StepStatus = Field(description="`skipped`: not run (its `when` was false, or it is on a branch not taken).")
    input: Any = Field(
        description="The step's templates as rendered for this job (from its inputs). " + WITHHELD.format("input")
    )
    input_withheld: bool = Field(
        False, description="true: `input` is not shown to you (only the job's creator sees it); it is not empty."
    )
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
        None,
        description="Model calls: the exact request sent (`request`), the raw `response`, `attempts`. For an `llm` "
        "step (its request is rendered from the inputs): " + WITHHELD.format("detail"),
    )
    detail_withheld: bool = Field(
        False, description="true: `detail` is not shown to you (only the job's creator sees it); it is not empty."
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


JobOrigin = Literal["api", "rerun", "run_from_step", "duplicate", "child", "schedule", "trigger"]


class CreatedBy(BaseModel):
    """Who created a job."""

    kind: CreatorKind = Field(
        description="`operator` (the admin token), `user`, `key` (an API key), `schedule`, `trigger`, or `system` "
        "(the service itself)."
    )
    id: str | None = Field(description="The user's, key's, schedule's or trigger's id; null for the operator.")
    name: str = Field(
        description="The user's email, the key's name (also once revoked), `operator`; the creator's actor "
        "(`user:<id>`, `key:<id>`) when that user or key no longer exists."
    )


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
    updated_at: datetime = Field(
        description="When the job last changed: its last status change, or a change of its name or variables."
    )
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None = Field(description="Seconds from started_at to finished_at.")
    source: JobSource | None = Field(
        None, description="Set when the job is a rerun, run from a step, duplicate or cache hit (or waits for one)."
    )
    cache_hit: bool = Field(False, description="Completed from the cached result of `source.job_id`, no model call.")
    usage: JobUsage = Field(default_factory=JobUsage)
    created_by: CreatedBy
    origin: JobOrigin = Field(
        "api",
        description="Where the job came from: `api` (a submission), `rerun`, `run_from_step`, `duplicate`, `child` "
        "(a sub-workflow step's job), `schedule` or `trigger` (an event trigger).",
    )


class JobParent(BaseModel):
    job_id: uuid.UUID
    step: str = Field(description="The parent's `workflow` step that started this job.")


class JobRead(JobSummary):
    inputs: dict[str, Any] | None = Field(description="What the job was submitted with. " + WITHHELD.format("inputs"))
    inputs_withheld: bool = Field(
        False, description="true: `inputs` are not shown to you (only the job's creator sees them); they are not empty."
    )
    variables: dict[str, Any] | None = Field(
        description="The variables this job was submitted with (its overrides). " + WITHHELD.format("variables")
    )
    variables_withheld: bool = Field(
        False,
        description="true: `variables` and `effective_variables` are not shown to you (the overrides are part of "
        "what the creator submitted, rendered into the steps like the inputs); `overridden_variables` still names "
        "them.",
    )
    effective_variables: dict[str, Any] | None = Field(
        default_factory=dict,
        description="The workflow's variables with this job's overrides applied; null when `variables` are withheld.",
    )
    overridden_variables: list[str] = Field(default_factory=list, description="Which variables the job overrode.")
    parent: JobParent | None = Field(None, description="For a sub-workflow's job: the job and step that started it.")
    metadata: dict[str, Any]
    output: Any
    max_attempts: int
    steps: list[StepRead] | None = Field(
        description="Every step's record, in order; null when read with `steps=false`."
    )


class JobUpdate(BaseModel):
    """A change to a job; only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200, description="A new name, in any state; null removes it.")
    variables: StorableDict = Field(
        default_factory=dict,
        description="The job's variable overrides, replaced by these (checked like a submission's); only while the "
        "job is `new` (409 `job_not_new` otherwise).",
    )


class JobDeleteMany(BaseModel):
    """Jobs to delete, each checked on its own."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, Field(max_length=64)]] = Field(
        min_length=1, max_length=500, description="1 to 500 job ids; a repeated id counts once."
    )


class JobDeleteResult(BaseModel):
    id: str
    status: Literal["deleted", "not_found", "forbidden", "invalid"] = Field(
        description="`deleted` (canceled first if it was active); `not_found`: no such job, or not one you may "
        "see; `forbidden`: you may see it but not delete it; `invalid`: not a job id."
    )
    detail: str | None = Field(description="Why it was not deleted; for a deleted job, whether it was canceled first.")


class JobDeleteResults(BaseModel):
    results: list[JobDeleteResult] = Field(description="One per distinct id, in the order sent.")


class JobListItem(JobSummary):
    """A job as a listing shows it: its summary, with its workflow's last completion and its version's step count."""

    last_completed_at: datetime | None = Field(
        description="When the last completed job of this job's workflow ended (null: none has completed)."
    )
    step_count: int = Field(description="How many steps this job's version defines (not how many it ran).")


class JobPage(BaseModel):
    items: list[JobListItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


MAX_DURATION_S = 100 * 366 * 86400
"""The longest duration a listing's filter takes: a century (in microseconds, a bound must fit in 64 bits)."""
ListSort = Literal[
    "-created",
    "created",
    "-updated",
    "updated",
    "-finished",
    "finished",
    "-duration",
    "duration",
    "-name",
    "name",
    "-workflow",
    "workflow",
    "-status",
    "status",
    "-steps",
    "steps",
]
LIST_OR_COMMAS = "Repeat or comma-separate."


class JobListQuery(BaseModel):
    """The query of `GET /v1/jobs`: which jobs, in which order, and the page."""

    scope: Literal["mine", "all"] = Field(
        "mine",
        description="`mine`: the jobs the caller created (My jobs). `all`: everyone's (All jobs): every job of the "
        "workspace for its owners and admins, or, with `workflow`, of that workflow for anyone who may read it (but "
        "API keys, which list only the jobs they submitted).",
    )
    q: str | None = Field(
        None,
        max_length=200,
        description="Text search, case-insensitive: jobs whose name or error message contains it, jobs of the "
        "workflows whose slug or name contains it, and jobs whose id starts with it (8 or more hex digits, dashes "
        "optional). `%` and `_` match themselves.",
    )
    workflow: str | None = Field(None, description="A workflow's id or slug.")
    version: str | None = Field(
        None, max_length=16, description="With `workflow`: only the jobs of this version (a number, or `current`)."
    )
    status: list[str] | None = Field(None, description=LIST_OR_COMMAS)
    origin: list[str] | None = Field(
        None,
        description="Where the jobs came from: api, rerun, run_from_step, duplicate, child, schedule, trigger. "
        + LIST_OR_COMMAS,
    )
    created_by: list[str] | None = Field(
        None,
        description="Who created the jobs: a user's id or email, an API key's id (or `user:<id>`, `key:<id>`), "
        "`schedule:<id>`, `trigger:<id>`, or `operator`. " + LIST_OR_COMMAS,
    )
    pool: str | None = None
    created_from: AwareDatetime | None = Field(None, description="Created at or after this time (with its offset).")
    created_to: AwareDatetime | None = Field(None, description="Created before this time.")
    finished_from: AwareDatetime | None = Field(None, description="Ended at or after this time.")
    finished_to: AwareDatetime | None = Field(None, description="Ended before this time.")
    min_duration_s: float | None = Field(
        None,
        ge=0,
        le=MAX_DURATION_S,
        description="Ran at least this many seconds (start to end); leaves out jobs that have not ended.",
    )
    max_duration_s: float | None = Field(
        None, ge=0, le=MAX_DURATION_S, description="Ran at most this many seconds (at most a century's)."
    )
    sort: ListSort = Field(
        "-created",
        description="`created`, `updated`, `finished`, `duration`, `name` (case-insensitive), `workflow` (its "
        "slug), `status` (in a job's life: new, pending, claimed, running, validating, uploading, completed, failed, "
        "canceled) or `steps` (its version's step count), ascending; `-` first: descending. Ties in creation order; "
        "jobs without the key (not ended, for `finished` and `duration`; unnamed, for `name`) come last either way.",
    )
    cursor: str | None = Field(None, description="The `next_cursor` of the previous page, with the same query.")
    limit: int = Field(50, ge=1, le=200)

    @staticmethod
    def _split(values: list[str] | None) -> list[str]:
        return [s.strip() for value in values or [] for s in value.split(",") if s.strip()]

    @property
    def statuses(self) -> list[str]:
        return self._split(self.status)

    @property
    def origins(self) -> list[str]:
        return self._split(self.origin)

    @property
    def creators(self) -> list[str]:
        return self._split(self.created_by)


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
