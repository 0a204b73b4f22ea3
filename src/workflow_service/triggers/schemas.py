"""What the trigger routes take and answer, and the trigger history's shape (shared with schedules)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, field_validator

from workflow_service.core.db import StorableDict
from workflow_service.workflows.schemas import WorkflowRef

Auth = Literal["standard_webhooks", "bearer"]
Outcome = Literal["created", "duplicate", "rejected", "skipped", "buffered"]
MAX_VERSION = 2**31 - 1
POOL_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


def _version(value: Any) -> int | str:
    """`current`, or a version number (as a number or in a string of digits)."""
    if value == "current":
        return "current"
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_VERSION:
        return value
    raise ValueError(f"must be 'current' or a number from 1 to {MAX_VERSION}")


Version = Annotated[
    int | Literal["current"],
    PlainValidator(_version),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_VERSION}, {"const": "current"}]}),
]
VERSION = "The version its jobs run: a number, or `current` (the version current when each event arrives)."
MAPPING_INPUTS = (
    "The job's inputs: an object whose string values may be templates (`{{ event.data.customer }}`), or one "
    "template that renders to an object (`{{ event.data }}`). Templates read `event` (the JSON body) and `headers` "
    "(the request's headers, lowercase names, without the credentials)."
)


class TriggerMapping(BaseModel):
    """How an event becomes a job: templates over the event, compiled when the trigger is saved."""

    model_config = ConfigDict(extra="forbid")

    inputs: StorableDict | str = Field("{{ event }}", description=MAPPING_INPUTS)
    variables: StorableDict = Field(
        default_factory=dict, description="Overrides of the workflow's variables, by name; values may be templates."
    )
    name: str | None = Field(None, max_length=2000, description="The job's name, a template; null: no name.")


class TriggerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["webhook"] = Field(description="`webhook`: a URL that outside systems post events to.")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    auth: Auth = Field(
        "standard_webhooks",
        description="How senders authenticate: `standard_webhooks` (a signature made with the `whsec_…` secret) or "
        "`bearer` (`Authorization: Bearer <token>`).",
    )
    version: Version = Field("current", description=VERSION)
    mapping: TriggerMapping = Field(default_factory=TriggerMapping)
    pool: str = Field("default", pattern=POOL_PATTERN, description="The pool its jobs go to.")


class TriggerUpdate(BaseModel):
    """A partial change: only the fields sent change (`mapping` is replaced whole)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    version: Version | None = Field(None, description=VERSION)
    mapping: TriggerMapping | None = None
    pool: str | None = Field(None, pattern=POOL_PATTERN)

    @field_validator("name", "version", "mapping", "pool")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:  # only reached when null was sent explicitly
            raise ValueError("cannot be null")
        return value


class TriggerRead(BaseModel):
    id: uuid.UUID
    workflow: WorkflowRef
    type: Literal["webhook"]
    name: str
    description: str | None
    auth: Auth
    url: str = Field(description="Where senders POST events: absolute, authenticated by the trigger's secret alone.")
    version: Version = Field(description=VERSION)
    mapping: TriggerMapping
    pool: str
    paused: bool = Field(description="A paused trigger refuses events with 409 `trigger_paused` (senders retry).")
    secrets: int = Field(description="How many secrets are accepted now (2 for 24 h after a rotation).")
    created_by: str
    created_at: datetime
    updated_at: datetime


class TriggerCreated(TriggerRead):
    secret: str = Field(
        description="The signing secret (`whsec_…`) or bearer token. Shown only in this response: the secret is "
        "stored encrypted, a token only as its hash."
    )


class TriggerEventRead(BaseModel):
    id: int
    at: datetime
    outcome: Literal["created", "duplicate", "rejected"]
    status: int = Field(description="The HTTP status the sender was answered.")
    webhook_id: str | None = Field(description="The sender's `webhook-id` (or Idempotency-Key), if it sent one.")
    job_id: uuid.UUID | None = Field(description="The job it created (for a duplicate, the first delivery's).")
    reason: str | None = Field(description="Why it was rejected, or what a duplicate repeated.")
    body_bytes: int | None = Field(description="The body's size (of a rejected one: as far as it was read).")
    body_excerpt: str | None = Field(description="The start of a rejected event's body (at most 1024 characters).")


class TriggerEventPage(BaseModel):
    items: list[TriggerEventRead] = Field(description="Newest first.")
    next_cursor: str | None


class HistoryEvent(BaseModel):
    at: datetime
    outcome: Outcome
    job_id: uuid.UUID | None
    reason: str | None


class TriggerHistoryItem(BaseModel):
    """A schedule or an event trigger of the workflow, with its recent events."""

    kind: Literal["schedule", "webhook"]
    id: uuid.UUID
    name: str | None
    description: str | None
    provider: str = Field(description="What fires it: `schedule`, `webhook`.")
    set_up_at: datetime
    last_run_at: datetime | None = Field(description="When it last created a job.")
    next_run_at: datetime | None = Field(description="Schedules: the next time it runs; null for webhooks.")
    frequency: str | None = Field(description="Schedules: how often, in words; null for webhooks.")
    timezone: str | None
    start_at: datetime | None
    end_at: datetime | None
    paused: bool
    recent: list[HistoryEvent] = Field(
        description="Its newest events first (at most 20): the job each created, or why none."
    )


class TriggerHistory(BaseModel):
    items: list[TriggerHistoryItem] = Field(description="The workflow's schedules and event triggers, newest first.")


class HookAccepted(BaseModel):
    job_id: uuid.UUID = Field(description="The job the event created (a redelivery: the first delivery's job).")
    duplicate: bool = Field(description="True when the event was delivered before (the same `webhook-id`).")
    webhook_id: str | None
