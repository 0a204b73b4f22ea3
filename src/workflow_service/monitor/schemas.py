"""What the monitor's routes answer, and the queries they take. Times are seconds (to the microsecond); no view
shows a run's inputs, variables or output, nor a model call's prompt or answer: only ids, times, outcomes,
counts, tokens and costs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from workflow_service.jobs.schemas import CreatedBy, JobOrigin
from workflow_service.jobs.states import JobStatus
from workflow_service.workflows.schemas import WorkflowRef

# --- the queries ----------------------------------------------------------------------------------------------


class WindowQuery(BaseModel):
    """Which runs: those submitted in [`from`, `to`), of these versions and origins."""

    model_config = ConfigDict(populate_by_name=True)

    from_: AwareDatetime | None = Field(
        None,
        alias="from",
        description="The window's start (ISO 8601 with a time zone, e.g. `2026-12-01T00:00:00Z`); default: 24 hours "
        "before `to`. The window is at most 90 days.",
    )
    to: AwareDatetime | None = Field(None, description="The window's end (excluded); default: now.")
    version: list[str] | None = Field(None, description="Version numbers or `current`; repeat or comma-separate.")
    origin: list[str] | None = Field(
        None,
        description="`api`, `schedule`, `trigger`, `rerun`, `run_from_step`, `duplicate` or `child`; repeat or "
        "comma-separate.",
    )


class MonitorQuery(WindowQuery):
    bucket: str | None = Field(
        None,
        description="The size of the series' buckets: `<n>m`, `<n>h` or `<n>d` (at most 1000 buckets); default: "
        "chosen for 24 to 100 points (docs/monitoring.md).",
    )


class PageQuery(WindowQuery):
    cursor: str | None = Field(
        None,
        description="`next_cursor` of the page before; it carries that page's window when `from`/`to` are not given.",
    )
    limit: int = Field(50, ge=1, le=200)


class RunsQuery(PageQuery):
    status: list[str] | None = Field(
        None,
        description="Job statuses, or `in_progress` for every status of a run not ended; repeat or comma-separate.",
    )


class ModelRunsQuery(PageQuery):
    status: list[str] | None = Field(None, description="`running`, `completed` or `failed`; repeat or comma-separate.")
    model: list[str] | None = Field(
        None,
        description="`provider/name`: calls answered by that model, or made by a step configured with it; repeat or "
        "comma-separate.",
    )
    step: list[str] | None = Field(None, description="Step ids; repeat or comma-separate.")


# --- the answers ----------------------------------------------------------------------------------------------


class ResponseTime(BaseModel):
    """Exact percentiles (`percentile_cont`: linear interpolation between the two nearest values) and the largest,
    in seconds, over the runs (or calls) that ended; null when none did."""

    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None


class QueueWait(BaseModel):
    """Submission to the first start, in seconds, over the runs that ended after starting; null when none did."""

    p50: float | None
    p90: float | None
    max: float | None


class RunFigures(BaseModel):
    total: int = Field(description="Runs submitted in the window.")
    completed: int
    failed: int
    canceled: int
    in_progress: int = Field(description="Not ended yet (new, pending, claimed, running, validating, uploading).")
    failure_rate: float | None = Field(
        description="failed / (completed + failed + canceled), from 0 to 1; null when none ended."
    )
    response_time: ResponseTime = Field(description="Submission (`created_at`) to end (`finished_at`).")
    queue_wait: QueueWait = Field(description="Submission (`created_at`) to the first start (`started_at`).")


class SeriesPoint(RunFigures):
    start: datetime = Field(description="The bucket's start (its runs were submitted from then), cut to the window.")
    end: datetime = Field(description="The bucket's end (excluded), cut to the window.")


class MonitorRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    workflow: WorkflowRef
    from_: datetime = Field(alias="from")
    to: datetime
    bucket_s: int = Field(description="The series' bucket size in seconds; buckets are aligned to the Unix epoch.")
    summary: RunFigures = Field(description="Over the whole window.")
    series: list[SeriesPoint] = Field(description="Every bucket of the window, oldest first (empty ones too).")


class RunRead(BaseModel):
    """One run: ids, times and outcome (never its inputs or output)."""

    id: uuid.UUID
    status: JobStatus
    version: int
    origin: JobOrigin = Field(description="How it was started: `api`, `schedule`, `trigger`, `rerun`, ...")
    source: CreatedBy = Field(description="Who or what started it: the key, user, schedule or trigger.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    response_time: float | None = Field(description="Seconds from submission to end; null until it ends.")
    queue_wait: float | None = Field(description="Seconds from submission to the first start; null until it starts.")
    steps_executed: int = Field(description="Steps it ran itself: not skipped, not copied from another job.")
    error_code: str | None = Field(description="The error's code when it failed or was canceled.")


class RunPage(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    items: list[RunRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class ModelRunRead(BaseModel):
    """One model call: an `llm` step of a run (never the prompt or the answer)."""

    id: int = Field(description="The step record's id.")
    request_id: str | None = Field(description="The provider's id of its answer (`chatcmpl-…`, `msg_…`), if any.")
    job_id: uuid.UUID
    version: int
    step: str
    model: str | None = Field(
        description="`provider/name`: the model that answered, or, for a call that got no answer, the step's model."
    )
    provider: str | None
    status: Literal["running", "completed", "failed"]
    response_time: float | None = Field(description="Seconds from the step's start to its end; null while it runs.")
    latency_ms: float | None = Field(description="The provider's own time (all tries), when it answered.")
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    started_at: datetime
    finished_at: datetime | None
    error_code: str | None


class ModelRunSummary(BaseModel):
    total: int
    completed: int
    failed: int
    in_progress: int
    failure_rate: float | None = Field(description="failed / (completed + failed), from 0 to 1; null when none ended.")
    response_time: ResponseTime
    input_tokens: int | None = Field(description="The sum of the known counts; null when none is known.")
    output_tokens: int | None
    cost: float | None = Field(description="The sum of the known costs; null when none is known.")


class ModelRunPage(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    summary: ModelRunSummary = Field(description="Every call the query selects, not only this page's.")
    items: list[ModelRunRead]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")
