from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from workflow_service.core.db import StorableDict
from workflow_service.core.described import DescribedAs
from workflow_service.engine.definition import DefinitionModel
from workflow_service.errors import ProblemItem

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"

DraftDefinition = Annotated[StorableDict, DescribedAs(DefinitionModel)]
"""A draft as the contract describes it: a whole definition. Any JSON object is stored; what keeps it from being
deployed is reported as the draft's problems, each with its path (engine.definition)."""


class WorkflowCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(
        None, pattern=SLUG_PATTERN, description="URL name; lowercase letters, digits and dashes. Default: from `name`."
    )
    description: str | None = Field(None, max_length=10_000)
    definition: DraftDefinition = Field(description="The draft definition (format v1, see docs/definition.md).")


class DraftUpdate(BaseModel):
    """The new draft; the same fields as a create are taken, so that one file (name, slug, description,
    definition) both creates a workflow and updates it (`wfs workflows deploy FILE`)."""

    model_config = ConfigDict(extra="forbid")

    definition: DraftDefinition
    name: str | None = Field(None, min_length=1, max_length=200, description="A new name; absent: kept.")
    slug: str | None = Field(
        None, pattern=SLUG_PATTERN, description="Must be the workflow's own slug when given (a draft cannot rename it)."
    )
    description: str | None = Field(
        None, max_length=10_000, description="A new description (null clears it); absent: kept."
    )


class Endpoints(BaseModel):
    """Where to invoke a deployed version: absolute URLs (from WFS_PUBLIC_URL, else the request's)."""

    model_config = ConfigDict(populate_by_name=True)

    sync: str = Field(description="POST here to submit a job and wait for its end (200), or 202 after the wait.")
    async_: str = Field(alias="async", description="POST here to submit a job; answers 202 at once.")
    push: str = Field(description="POST here to submit a job whose result is POSTed to the callback URL.")
    estimate: str = Field(description="POST the same body here for the tokens and credits it would likely use.")


class WorkflowSummary(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    description: str | None
    current_version: int | None = Field(description="The version `current` points to; null until deployed.")
    created_at: datetime
    updated_at: datetime


class WorkflowRead(WorkflowSummary):
    draft: dict[str, Any]
    draft_problems: list[ProblemItem] = Field(description="Why the draft cannot be deployed; empty when it can.")
    endpoints: Endpoints | None = Field(description="Endpoints of the current version; null until deployed.")


class WorkflowPage(BaseModel):
    items: list[WorkflowSummary]
    next_cursor: str | None


class ValidationReport(BaseModel):
    valid: bool
    problems: list[ProblemItem]


class WorkflowRef(BaseModel):
    id: uuid.UUID
    slug: str


class VersionSummary(BaseModel):
    number: int
    content_hash: str = Field(description="SHA-256 of the canonical definition.")
    created_at: datetime


class VersionRead(VersionSummary):
    workflow: WorkflowRef
    definition: dict[str, Any]
    endpoints: Endpoints


class VersionList(BaseModel):
    items: list[VersionSummary]
