"""What the schedule routes take and answer."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
)

from workflow_service.core.db import StorableDict
from workflow_service.schedules.timing import check_cron, zone_of
from workflow_service.workflows.schemas import WorkflowRef

MAX_INTERVAL_S = 366 * 86400
MAX_CATCHUP_S = 30 * 86400
_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_DURATION_UNITS = (7 * 86400, 86400, 3600, 60, 1)


def _seconds(value: Any) -> Any:
    """An interval as whole seconds: a number of seconds, or an ISO 8601 duration of weeks, days, hours, minutes
    and seconds (`PT15M`, `P1D`). Months and years have no fixed length: a cron expression says those."""
    if isinstance(value, str):
        found = _DURATION.match(value.strip().upper())
        if found is None or value.strip().upper() in ("P", "PT") or value.strip().upper().endswith("T"):
            raise ValueError(
                "must be a number of seconds or an ISO 8601 duration in weeks, days, hours, minutes and seconds "
                "(PT15M, PT1H30M, P1D); for months or years use a cron expression"
            )
        return sum(int(part or 0) * unit for part, unit in zip(found.groups(), _DURATION_UNITS, strict=True))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _zone(name: str) -> str:
    zone_of(name)
    return name


Interval = Annotated[
    int,
    BeforeValidator(_seconds),
    Field(ge=1, le=MAX_INTERVAL_S),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_INTERVAL_S},
                {"type": "string", "pattern": _DURATION.pattern},
            ],
            "description": "Seconds, or an ISO 8601 duration (PT15M, PT1H, P1D, P1W).",
        }
    ),
]
Cron = Annotated[str, Field(max_length=200), AfterValidator(check_cron)]
TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_zone)]


def _version(value: Any) -> int | str:
    if value == "current" or (type(value) is int and 1 <= value <= 2**31 - 1):
        return value  # type: ignore[no-any-return]
    raise ValueError("must be a version number (from 1) or 'current'")


VersionRef = Annotated[
    int | str,
    PlainValidator(_version),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, {"type": "string", "enum": ["current"]}],
            "description": "A version number, or `current`: the workflow's current version at each run (follows "
            "deploys).",
        }
    ),
]
Overlap = Literal["skip", "buffer_one", "allow_all", "cancel_other"]
_OVERLAP = (
    "When a time comes while the schedule's previous job is still running: `skip` the time (recorded as skipped), "
    "`buffer_one` (run it once that job ends; at most one waits, further times are skipped), `allow_all` (run "
    "it anyway), `cancel_other` (cancel that job, then run)."
)
_CATCHUP = (
    "How late a time missed while no worker ran may still run (seconds); older ones are recorded as skipped. "
    "null: the service's default (WFS_SCHEDULE_CATCHUP_S)."
)


class ScheduleCreate(BaseModel):
    """A schedule: a cron expression or an interval (exactly one), read in a time zone."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200, description="Default: its frequency in words.")
    description: str | None = Field(None, max_length=2000)
    cron: Cron | None = Field(None, description="Five cron fields, or @hourly, @daily, @weekly, @monthly, @yearly.")
    interval: Interval | None = None
    timezone: TimeZone = Field("UTC", description="IANA name; the cron expression's hours are its wall-clock hours.")
    start_at: AwareDatetime | None = Field(None, description="No run before this; an interval counts from it.")
    end_at: AwareDatetime | None = Field(None, description="No run after this.")
    version: VersionRef = "current"
    inputs: StorableDict = Field(default_factory=dict, description="Checked against the version like a submission.")
    variables: StorableDict = Field(default_factory=dict, description="Overrides of the workflow's variables.")
    overlap: Overlap = Field("skip", description=_OVERLAP)
    pause_after_failure: bool = Field(False, description="Pause the schedule when one of its jobs fails.")
    catchup_s: int | None = Field(None, ge=0, le=MAX_CATCHUP_S, description=_CATCHUP)


class ScheduleUpdate(BaseModel):
    """A partial update: only the fields sent change. Sending `cron` replaces an interval, and the other way round."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    cron: Cron | None = None
    interval: Interval | None = None
    timezone: TimeZone | None = None
    start_at: AwareDatetime | None = None
    end_at: AwareDatetime | None = None
    version: VersionRef | None = None
    inputs: StorableDict | None = None
    variables: StorableDict | None = None
    overlap: Overlap | None = None
    pause_after_failure: bool | None = None
    catchup_s: int | None = Field(None, ge=0, le=MAX_CATCHUP_S, description=_CATCHUP)


FireOutcome = Literal["created", "skipped", "buffered"]


class FireRead(BaseModel):
    """What became of one scheduled time."""

    scheduled_at: datetime
    outcome: FireOutcome = Field(
        description="`created`: a job was made; `skipped` (see `reason`); `buffered`: waiting for the previous job."
    )
    job_id: uuid.UUID | None = Field(description="The job it made (null once that job is deleted).")
    job_status: str | None = Field(description="That job's status now.")
    reason: str | None
    at: datetime = Field(description="When it was recorded: later than `scheduled_at` for a time run late.")
    backfill: bool = Field(description="Made by a backfill.")


class ScheduleRead(BaseModel):
    id: uuid.UUID
    workflow: WorkflowRef
    name: str
    description: str | None
    cron: str | None
    interval_s: int | None
    timezone: str
    frequency: str = Field(description="In words, e.g. `At 02:30, every day (Europe/Berlin)`, `Every 15 minutes`.")
    start_at: datetime | None
    end_at: datetime | None
    version: VersionRef
    inputs: dict[str, Any]
    variables: dict[str, Any]
    overlap: Overlap
    pause_after_failure: bool
    catchup_s: int | None = Field(description=_CATCHUP)
    paused: bool
    paused_at: datetime | None
    paused_reason: str | None
    next_run_at: datetime | None = Field(description="UTC; null when paused or when it has no more times.")
    next_run_local: datetime | None = Field(description="The same instant in the schedule's time zone.")
    last_run_at: datetime | None = Field(description="The scheduled time of the last job it made (backfills aside).")
    last_job_id: uuid.UUID | None
    buffered_at: datetime | None = Field(description="A time waiting for the previous job to end (`buffer_one`).")
    created_by: str
    created_at: datetime
    updated_at: datetime
    recent: list[FireRead] = Field(description="Its latest times, newest first (at most 20).")


class ScheduleList(BaseModel):
    items: list[ScheduleRead]


class BackfillRequest(BaseModel):
    """A past interval whose scheduled times to run."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: AwareDatetime = Field(alias="from", description="Included.")
    to: AwareDatetime = Field(description="Included; not in the future.")


class BackfillTime(BaseModel):
    scheduled_at: datetime
    outcome: Literal["created", "already_run"] = Field(description="`already_run`: a job was made for it before.")
    job_id: uuid.UUID | None


class BackfillResult(BaseModel):
    created: int
    already_run: int
    times: list[BackfillTime]
