from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class AttemptRead(BaseModel):
    number: int
    at: datetime
    url: str
    status_code: int | None = Field(description="The callback's HTTP status; null when no answer came.")
    response_snippet: str | None = Field(description="The first 1 KiB of the answer.")
    error: str | None = Field(description="Why it failed: timeout, connection error, redirect, refused address, ...")
    duration_ms: float
    trigger: Literal["schedule", "redeliver"] = Field(description="`redeliver`: asked for through the API.")


class DeliveryRead(BaseModel):
    id: uuid.UUID
    kind: Literal["push", "notify"] = Field(
        description="`push`: the workflow's push callback; `notify`: the job's own notice, to its `notify_url`."
    )
    webhook_id: str = Field(description="The `webhook-id` header: the same on every attempt.")
    event_type: Literal["job.completed", "job.failed", "job.canceled"]
    status: Literal["pending", "succeeded", "failed"] = Field(
        description="`pending`: more attempts due; `failed`: gave up, or push was disabled."
    )
    attempts: list[AttemptRead]
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None


class DeliveryList(BaseModel):
    items: list[DeliveryRead]
