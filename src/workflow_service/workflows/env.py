"""A workflow's environment variables, read by templates as `env.NAME`.

Secure values are stored as Fernet tokens (core/secrets.py) and are write-only: no response, problem
or log line contains them, and jobs redact them from everything they store or send.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.audit.redact import REDACTED, Changed, changes
from workflow_service.core.clock import utcnow
from workflow_service.core.db import AnyRow
from workflow_service.core.ids import uuid7
from workflow_service.core.secrets import Secrets, SecretsError
from workflow_service.errors import NotFound
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows import settings as endpoint_settings
from workflow_service.workflows.refs import ScopedRef

NAME_PATTERN = r"^[A-Z_][A-Z0-9_]{0,127}$"
MAX_VALUE_BYTES = 64 * 1024


class EnvVarWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(description="The value (a string, at most 64 KiB as UTF-8).")
    secure: bool = Field(False, description="Encrypt the value at rest, never return it, redact it from jobs.")
    notes: str | None = Field(None, max_length=2000, description="What the variable is for.")

    @field_validator("value")
    @classmethod
    def _value_size(cls, value: str) -> str:
        if len(value.encode()) > MAX_VALUE_BYTES:
            raise ValueError(f"must be at most {MAX_VALUE_BYTES} bytes as UTF-8")
        return value


class EnvVarRead(BaseModel):
    name: str
    secure: bool
    value: str | None = Field(description="The value; always null for a secure variable.")
    has_value: bool = Field(description="Whether a value is set (true: a secure value is set but not shown).")
    notes: str | None
    created_at: datetime
    updated_at: datetime


class EnvVarList(BaseModel):
    items: list[EnvVarRead]


def _read(row: Any) -> EnvVarRead:
    return EnvVarRead(
        name=row.name,
        secure=row.secure,
        value=None if row.secure else row.value,
        has_value=True,
        notes=row.notes,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _workflow_id(conn: AsyncConnection, ref: ScopedRef, *, for_update: bool = False) -> uuid.UUID:
    row = await workflow_repo.get(conn, ref, for_update=for_update)
    if row is None:
        raise NotFound(f"workflow {ref!r} does not exist")
    workflow_id: uuid.UUID = row.id
    return workflow_id


async def _get_row(conn: AsyncConnection, workflow_id: uuid.UUID, name: str) -> AnyRow | None:
    return await workflow_repo.get_env_var(conn, workflow_id, name)


async def list_vars(conn: AsyncConnection, ref: ScopedRef) -> EnvVarList:
    """The workflow's variables by name (secure values not shown)."""
    workflow_id = await _workflow_id(conn, ref)
    rows = await workflow_repo.list_env_vars(conn, workflow_id)
    return EnvVarList(items=[_read(r) for r in rows])


async def get_var(conn: AsyncConnection, ref: ScopedRef, name: str) -> EnvVarRead:
    """One variable (a secure value is not shown)."""
    row = await _get_row(conn, await _workflow_id(conn, ref), name)
    if row is None:
        raise NotFound(f"workflow {ref!r} has no variable {name!r}")
    return _read(row)


def _changes(before: AnyRow | None, after: AnyRow | None) -> dict[str, dict[str, Any]]:
    """What a write or a delete changed, for its audit entry: the value (shown only when not secure on that side;
    a secure value is listed when it was set, never shown), `secure` and `notes`."""
    views = [
        {} if row is None else {"value": row.value, "secure": row.secure, "notes": row.notes} for row in (before, after)
    ]
    found = changes(*views)
    value = found.get("value")
    if value is not None:
        for side, row in zip(("before", "after"), (before, after), strict=True):
            if row is not None and row.secure:
                value[side] = REDACTED
    return found


@dataclass(frozen=True, slots=True)
class Written:
    """A variable written: its workflow, as it now reads, whether it was created, and what changed (`_changes`)."""

    workflow_id: uuid.UUID
    var: EnvVarRead
    created: bool
    changes: dict[str, dict[str, Any]]


async def put_var(conn: AsyncConnection, ref: ScopedRef, name: str, data: EnvVarWrite, secrets: Secrets) -> Written:
    """Create or replace a variable. A secure value needs WFS_SECRET_KEY."""
    # The workflow row lock serialises writers of its variables, so create-or-replace needs no retry.
    workflow_id = await _workflow_id(conn, ref, for_update=True)
    stored = secrets.encrypt(data.value) if data.secure else data.value  # SecretKeyRequired without a key
    now = utcnow()
    values = {"value": stored, "secure": data.secure, "notes": data.notes, "updated_at": now}
    existing = await _get_row(conn, workflow_id, name)
    if existing is None:
        await workflow_repo.insert_env_var(
            conn, {"id": uuid7(), "workflow_id": workflow_id, "name": name, "created_at": now, **values}
        )
    else:
        await workflow_repo.update_env_var(conn, existing.id, values)
    row = await _get_row(conn, workflow_id, name)
    return Written(workflow_id, _read(row), existing is None, _changes(existing, row))


async def delete_var(conn: AsyncConnection, ref: ScopedRef, name: str) -> Changed[uuid.UUID]:
    """Remove a variable; 404 when there is none by that name. Answers the workflow's id, and what the variable
    was (a secure value redacted)."""
    # Under the workflow row lock, like put_var: a replace never finds its variable gone halfway through.
    workflow_id = await _workflow_id(conn, ref, for_update=True)
    existing = await _get_row(conn, workflow_id, name)
    if existing is None or not await workflow_repo.delete_env_var(conn, workflow_id, name):
        raise NotFound(f"workflow {ref!r} has no variable {name!r}")
    return Changed(workflow_id, _changes(existing, None))


@dataclass(frozen=True, slots=True)
class JobEnv:
    """What a job attempt sees as `env`, and the secure values to redact from what it stores."""

    values: dict[str, str]
    secure: dict[str, str]


NO_ENV = JobEnv({}, {})


async def for_workflow(conn: AsyncConnection, workflow_id: uuid.UUID, secrets: Secrets) -> JobEnv:
    """What a new job of the workflow would see as `env` (SecretsError as in `decrypted`)."""
    return decrypted(await workflow_repo.env_rows(conn, workflow_id), secrets)


def decrypted(rows: Sequence[Mapping[str, Any]], secrets: Secrets) -> JobEnv:
    """The env a job sees from stored rows ({name, value, secure}); the claim reads them for a job
    (jobs/repository.claim). SecretsError when a secure value cannot be decrypted."""
    if not rows:
        return NO_ENV
    values: dict[str, str] = {}
    secure: dict[str, str] = {}
    for row in rows:
        name = row["name"]
        if row["secure"]:
            try:
                values[name] = secure[name] = secrets.decrypt(row["value"])
            except SecretsError as exc:
                raise SecretsError(f"secure variable {name}: {exc}") from None
        else:
            values[name] = row["value"]
    return JobEnv(values, secure)


@dataclass(frozen=True, slots=True)
class RotationReport:
    variables: int
    push_secrets: int


async def rotate_all(conn: AsyncConnection, secrets: Secrets) -> RotationReport:
    """Re-encrypt every secure variable and every workflow's push access token and signing secrets
    with the newest key (plain push secrets get encrypted), so older keys can be dropped."""
    variables = 0
    for row in await workflow_repo.lock_secure_env_vars(conn):
        await workflow_repo.update_env_var(conn, row.id, {"value": secrets.rotate(row.value)})
        variables += 1
    push_secrets = 0
    for wf in await workflow_repo.lock_all_settings(conn):
        new, count = endpoint_settings.reseal_all(wf.settings or {}, secrets)
        if count:
            await workflow_repo.set_settings(conn, wf.id, new)
            push_secrets += count
    return RotationReport(variables, push_secrets)
