from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from workflow_service.workflows.schemas import WorkflowRef


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="What the key is for, e.g. the calling system.")
    expires_in_days: int | None = Field(
        None, ge=1, le=3650, description="The key stops working this many days from now; null: it never expires."
    )


class ApiKeyRead(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's public start (`wfs_key_` and 12 hex digits), to tell keys apart.")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Last authenticated use, to within a minute; null if never.")
    expires_at: datetime | None = Field(description="When the key stops working; null if never.")
    created_by: str | None = Field(
        description="Who issued it (`admin`, `user:<id>`); null for keys issued before people existed."
    )


class ApiKeyCreated(ApiKeyRead):
    workflow: WorkflowRef
    key: str = Field(description="The whole key. Shown only in this response: only its hash is stored.")


class ApiKeyList(BaseModel):
    items: list[ApiKeyRead] = Field(description="The workflow's keys that are not revoked, oldest first.")
