"""What the people routes take and answer: workspaces, users, personal tokens, workflow members."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from workflow_service.access.principal import WorkflowRole, WorkspaceRole
from workflow_service.core.ids import parse_uuid
from workflow_service.workflows.schemas import SLUG_PATTERN, WorkflowRef

_EMAIL = re.compile(r"[^\s@]{1,64}@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
EMAIL_MAX = 320
RETENTION_MAX_DAYS = 36_500
TOKEN_MAX_DAYS = 3_650
TOKEN_DEFAULT_DAYS = 90


def normalize_email(value: str) -> str:
    """An email address as stored: trimmed and lower-cased, `local@domain.tld` (the domain in ASCII)."""
    email = value.strip().lower()
    if len(email) > EMAIL_MAX or _EMAIL.fullmatch(email) is None:
        raise ValueError("must be an email address such as `ada@example.com`")
    return email


def _not_an_id(slug: str) -> str:
    if parse_uuid(slug) is not None:
        raise ValueError("must not look like an id (a UUID)")
    return slug


Email = Annotated[
    str,
    Field(max_length=EMAIL_MAX, description="Stored lower-cased.", examples=["ada@example.com"]),
    AfterValidator(normalize_email),
]
PersonName = Annotated[str, Field(min_length=1, max_length=200)]
WorkspaceSlug = Annotated[
    str,
    Field(
        pattern=SLUG_PATTERN,
        description="1 to 64 lower-case letters, digits and dashes, starting and ending with a letter or digit, "
        "not a UUID; how the operator names the workspace (`Wfs-Workspace` header). Never changes.",
    ),
    AfterValidator(_not_an_id),
]
RetentionDays = Annotated[
    int | None,
    Field(
        ge=1,
        le=RETENTION_MAX_DAYS,
        description="The default for the workspace's workflows: ended jobs older than this many days are deleted. "
        "Null keeps them forever.",
    ),
]
TokenDays = Annotated[int | None, Field(ge=1, le=TOKEN_MAX_DAYS)]


def _not_null(value: object, what: str) -> object:
    """For a PATCH field that may be absent but not null: only reached when null was sent explicitly."""
    if value is None:
        raise ValueError(f"must be {what}; leave the field out to keep it")
    return value


# Workspaces


class WorkspaceRef(BaseModel):
    id: uuid.UUID
    slug: str


class WorkspaceRead(WorkspaceRef):
    name: str
    retention_days: int | None = Field(
        description="Ended jobs older than this many days are deleted, unless a workflow says otherwise; null: kept."
    )
    created_at: datetime


class WorkspaceListed(WorkspaceRead):
    role: WorkspaceRole | None = Field(description="The caller's role in the workspace; null for the operator.")


class WorkspacePage(BaseModel):
    items: list[WorkspaceListed] = Field(description="Newest first.")
    next_cursor: str | None


class OwnerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email = Field(description="A new user is created for a new address; an existing one is made owner.")
    name: PersonName = Field(description="Used only when the user is new.")


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: WorkspaceSlug
    name: str = Field(min_length=1, max_length=200)
    owner: OwnerCreate
    retention_days: RetentionDays = None
    owner_token_expires_in_days: TokenDays = Field(
        None, description="When the owner's first token expires, in days (1 to 3650); default: never."
    )


class WorkspaceUpdate(BaseModel):
    """Only the fields present change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    retention_days: RetentionDays = None

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> object:
        return _not_null(value, "a name")


# Users


class UserRef(BaseModel):
    id: uuid.UUID
    email: str
    name: str


class UserRead(UserRef):
    """A user as a member of the workspace."""

    role: WorkspaceRole
    joined_at: datetime = Field(description="When the user became a member of this workspace.")


class UserPage(BaseModel):
    items: list[UserRead] = Field(description="Newest members first.")
    next_cursor: str | None


class WorkspaceCreated(BaseModel):
    workspace: WorkspaceRead
    owner: UserRead
    owner_token: str = Field(
        description="The owner's first personal access token for the workspace (`wfs_pat_…`, named `initial`). "
        "Shown only in this response: only its hash is stored."
    )


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email = Field(description="A user who exists already (in another workspace) is made a member.")
    name: PersonName = Field(description="Used only when the user is new.")
    role: WorkspaceRole = WorkspaceRole.MEMBER
    issue_token: bool = Field(True, description="Issue the user a personal access token, shown once in `token`.")
    token_expires_in_days: TokenDays = Field(
        TOKEN_DEFAULT_DAYS, description="When that token expires, in days (1 to 3650); null: never."
    )


class UserCreated(UserRead):
    token: str | None = Field(
        description="The user's personal access token for this workspace (`wfs_pat_…`), when one was asked for. "
        "Shown only in this response: only its hash is stored."
    )


class UserUpdate(BaseModel):
    """Only the fields present change."""

    model_config = ConfigDict(extra="forbid")

    role: WorkspaceRole | None = None
    name: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("role")
    @classmethod
    def _role_not_null(cls, value: WorkspaceRole | None) -> object:
        return _not_null(value, "owner, admin or member")

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> object:
        return _not_null(value, "a name")


# Who is calling

CallerKind = Literal["operator", "user", "key"]


class MeRead(BaseModel):
    kind: CallerKind = Field(
        description="`operator`: the WFS_ADMIN_TOKEN; `user`: a personal access token or identity provider JWT; "
        "`key`: a workflow's API key."
    )
    actor: str = Field(description="As recorded on jobs and audit entries: `admin`, `user:<id>` or `key:<id>`.")
    name: str = Field(description="The user's email, the key's name, or `operator`.")
    workspace: WorkspaceRef = Field(description="The workspace the request acts in.")
    workspace_role: WorkspaceRole | None = Field(description="A user's role in that workspace; null otherwise.")
    user: UserRef | None = Field(description="For a user: who they are; null otherwise.")
    workflow: WorkflowRef | None = Field(description="For an API key: the workflow it calls; null otherwise.")


# Personal tokens


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="What the token is for, e.g. the laptop's CLI.")
    expires_in_days: TokenDays = Field(TOKEN_DEFAULT_DAYS, description="1 to 3650 days; null: it never expires.")


class TokenRead(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The token's public start (`wfs_pat_` and 12 hex digits), to tell tokens apart.")
    created_at: datetime
    expires_at: datetime | None = Field(description="Null: it never expires.")
    last_used_at: datetime | None = Field(description="Last authenticated use, to within a minute; null if never.")
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="The whole token. Shown only in this response: only its hash is stored.")


class TokenList(BaseModel):
    items: list[TokenRead] = Field(description="The user's tokens for this workspace, revoked ones too, newest first.")


# Sharing


class MemberRead(UserRef):
    """A user invited to a workflow."""

    role: WorkflowRole
    invited_at: datetime


class MemberList(BaseModel):
    workflow: WorkflowRef
    items: list[MemberRead] = Field(description="The users invited to the workflow, in the order they were invited.")


class MemberSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: WorkflowRole


# What a change changed (for the audit log)

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Changed(Generic[T]):
    """A thing as it was before a change and as it is after it (equal when the change changed nothing)."""

    before: T
    after: T
