"""Writing a package (spec.py): a workflow's version, its environment variables and endpoint settings as a zip of
three JSON files, the same bytes for the same version and environment when no passphrase is given."""

from __future__ import annotations

import asyncio
import io
import json
import re
import stat
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.db import AnyRow
from workflow_service.core.secrets import Secrets, SecretsError
from workflow_service.errors import InvalidInput, NotDeployed, NotFound, ServiceError
from workflow_service.packages import passphrase as keys
from workflow_service.packages.spec import (
    APP_FILE,
    ENV_FILE,
    FILES,
    FLOW_FILE,
    FORMAT_VERSION,
    ZIP_TIMESTAMP,
    AppFile,
    EnvFile,
    EnvVariable,
    FlowFile,
    KeyDerivation,
    PushExport,
    SettingsExport,
    Source,
    split_definition,
)
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows import service as workflow_service
from workflow_service.workflows import settings as endpoint_settings
from workflow_service.workflows.refs import ScopedRef

MIN_PASSPHRASE = 8
"""The shortest export passphrase, in characters."""
VERSION_PATH = "query:version"
FILE_MODE = stat.S_IFREG | 0o644
"""Every file's permissions in the zip (a regular file, rw-r--r--), whoever exports it."""
_UNSAFE_IN_FILE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')

Version = int | Literal["draft"]


class SecureValueUnreadable(ServiceError):
    status, code, title = 409, "secure_value_unreadable", "A secure value cannot be decrypted"


@dataclass(frozen=True, slots=True)
class Package:
    """An exported package: its file name and bytes, and what its audit entry says (the workflow, the version it
    holds, how many secure values it has and whether they are in it, encrypted)."""

    file_name: str
    content: bytes
    workflow_id: uuid.UUID
    slug: str
    version: Version
    secure: int
    encrypted: bool


def parse_version(version: str) -> int | Literal["draft"] | None:
    """`draft`, `current` (None) or a version number; anything else is a 422 naming the query parameter."""
    if version == "draft":
        return "draft"
    try:
        return workflow_service.parse_version(version)
    except InvalidInput as exc:
        message = "expected a version number, 'current' or 'draft'"
        raise InvalidInput(
            f"version must be 'current', 'draft' or a number from 1 to {workflow_service.MAX_VERSION}, not {version!r}",
            errors=[{"path": VERSION_PATH, "message": message}],
        ) from exc


def check_passphrase(passphrase: str | None, where: str) -> None:
    """422 naming `where` for a passphrase shorter than MIN_PASSPHRASE characters."""
    if passphrase is not None and len(passphrase) < MIN_PASSPHRASE:
        message = f"an export passphrase has at least {MIN_PASSPHRASE} characters"
        raise InvalidInput(message, errors=[{"path": where, "message": message}])


def file_name(workflow_name: str) -> str:
    """`<Workflow Name>.zip`, with the characters a file name cannot hold on common systems (`/`, `\\`, `:`,
    quotes, control characters, ...) replaced by `_`."""
    safe = _UNSAFE_IN_FILE_NAME.sub("_", workflow_name).strip(" .")
    return f"{safe or 'workflow'}.zip"


async def package_bytes(
    conn: AsyncConnection, ref: ScopedRef, version: str, passphrase: str | None, secrets: Secrets
) -> tuple[str, bytes]:
    """The file name and the bytes of the package of `version` (a number, `current` or `draft`) of the workflow:
    secure values left out, or encrypted with `passphrase` when one is given."""
    made = await export(conn, ref, version, passphrase, secrets)
    return made.file_name, made.content


async def export(
    conn: AsyncConnection, ref: ScopedRef, version: str, passphrase: str | None, secrets: Secrets
) -> Package:
    """The package of `version` of the workflow (404 for an unknown workflow or version, 409 for `current` of one
    never deployed, 422 for a version that is not one or a passphrase too short)."""
    wanted = parse_version(version)
    check_passphrase(passphrase, "passphrase")
    row = await workflow_repo.get(conn, ref)
    if row is None:
        raise NotFound(f"workflow {ref!r} does not exist")
    number, definition = await _definition(conn, row, wanted)
    flow, app = split_definition(definition)
    env_rows = sorted(await workflow_repo.list_env_vars(conn, row.id), key=lambda var: str(var.name))
    env = await _env_file(env_rows, passphrase, secrets)
    files: dict[str, BaseModel] = {
        APP_FILE: AppFile(
            format_version=FORMAT_VERSION,
            name=row.name,
            description=row.description,
            source=Source(workflow=row.slug, version=number),
            definition=app,
            settings=settings_export(row.settings or {}),
        ),
        FLOW_FILE: FlowFile(format_version=FORMAT_VERSION, definition=flow),
        ENV_FILE: env,
    }
    content = write_zip({name: json_bytes(model) for name, model in files.items()})
    secure = sum(1 for var in env.variables if var.secure)
    return Package(file_name(row.name), content, row.id, row.slug, number, secure, env.encryption is not None)


async def _definition(conn: AsyncConnection, row: AnyRow, wanted: int | Literal["draft"] | None) -> tuple[Version, Any]:
    if wanted == "draft":
        return "draft", row.draft
    number = wanted
    if number is None:
        if row.current_version is None:
            raise NotDeployed(f"workflow {row.slug!r} has never been deployed: export `draft` or deploy it first")
        number = int(row.current_version)
    found = await workflow_repo.get_version(conn, row.id, number)
    if found is None:
        raise NotFound(f"workflow {row.slug!r} has no version {number}")
    return number, found.definition


def settings_export(stored: dict[str, Any]) -> SettingsExport:
    """The endpoint settings a package carries: never the push access token nor a signing secret."""
    shown = endpoint_settings.read(stored, workspace_retention=None)
    return SettingsExport(
        sync_timeout_s=shown.sync_timeout_s,
        queue_timeout_s=shown.queue_timeout_s,
        retention_days=shown.retention_days,
        push=PushExport(
            enabled=shown.push.enabled, callback_url=shown.push.callback_url, timeout_s=shown.push.timeout_s
        ),
    )


async def _env_file(rows: Sequence[AnyRow], passphrase: str | None, secrets: Secrets) -> EnvFile:
    """The variables, plain values as they are; secure ones left out, or with a passphrase decrypted from the
    service's key and encrypted with one key derived once for the package."""
    secure = [row for row in rows if row.secure]
    derivation: KeyDerivation | None = None
    key = b""
    plain: dict[str, str] = {}
    if passphrase is not None and secure:
        plain = {row.name: _stored_value(row, secrets) for row in secure}
        # scrypt takes tens of milliseconds and 32 MiB: off the event loop.
        derivation, key = await asyncio.to_thread(keys.new_key, passphrase)
    variables = [
        EnvVariable(
            name=row.name,
            notes=row.notes,
            secure=row.secure,
            value=None if row.secure else row.value,
            encrypted=keys.encrypt(key, row.name, plain[row.name]) if row.name in plain else None,
        )
        for row in rows
    ]
    return EnvFile(format_version=FORMAT_VERSION, encryption=derivation, variables=variables)


def _stored_value(row: AnyRow, secrets: Secrets) -> str:
    try:
        return secrets.decrypt(row.value)
    except SecretsError as exc:
        raise SecureValueUnreadable(f"secure variable {row.name}: {exc}") from None


def json_bytes(model: BaseModel) -> bytes:
    """A package file: sorted keys, two-space indents, a final newline; `encrypted` and `encryption` only when
    set."""
    data = model.model_dump(mode="json")
    if data.get("encryption") is None:
        data.pop("encryption", None)
    for var in data.get("variables") or ():
        if var.get("encrypted") is None:
            var.pop("encrypted", None)
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def write_zip(files: dict[str, bytes]) -> bytes:
    """The zip of the package's files, in FILES order, each deflated with a fixed time stamp and permissions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in FILES:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, on every platform: the permissions are Unix ones
            info.external_attr = FILE_MODE << 16
            archive.writestr(info, files[name], compresslevel=9)
    return buffer.getvalue()
