"""The package format (version 1), shared by export (writing) and import (reading).

A package is a zip holding exactly three JSON files, each an object with `format_version`:

- `flow_definition.json`: the steps and how the flow runs: the definition's `steps`, `output`, `model` and
  `timeout_s` (every key of a definition not in APP_DEFINITION_KEYS).
- `app_definition.json`: the workflow's `name` and `description`, where the package came from (`source`:
  workflow slug and version, a number or "draft"), the definition's `description`, `input_schema`,
  `output_schema`, `variables` and `guardrails` (under `definition`), and the endpoint `settings`
  (sync and queue timeouts, retention, push callback URL, timeout and whether push is on; never the push
  access token nor a signing secret).
- `env_variables.json`: the workflow's environment variables: name, notes, secure flag; a plain value as it
  is; a secure value never in clear: absent (`value` null, no `encrypted`), or, when the exporter gave a
  passphrase, encrypted with it (`encrypted`, see passphrase.py; the key's parameters in `encryption`).

The files are written with sorted keys, two-space indents and a final newline, in the zip in FILES order with a
fixed time stamp, so the same version (and environment) always makes the same bytes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1
"""The format this release writes; it reads this one and older ones (none yet)."""

FLOW_FILE = "flow_definition.json"
APP_FILE = "app_definition.json"
ENV_FILE = "env_variables.json"
FILES = (APP_FILE, FLOW_FILE, ENV_FILE)
"""The package's files, in the order they are written."""

APP_DEFINITION_KEYS = ("description", "input_schema", "output_schema", "variables", "guardrails")
"""The definition's keys that go to app_definition.json; every other key goes to flow_definition.json."""

MAX_PACKAGE_BYTES = 5 * 1024 * 1024
"""The largest upload (the zip, or the three files together)."""
MAX_UNCOMPRESSED_BYTES = 20 * 1024 * 1024
"""The most the files of a zip may expand to, counted while reading (a zip bomb stops there)."""
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
"""The time stamp of every file in the zip: the same version makes the same bytes."""


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: int = Field(ge=1, description="The package format; a newer one than FORMAT_VERSION is refused.")


class FlowFile(_File):
    definition: dict[str, Any] = Field(description="The definition's keys not in APP_DEFINITION_KEYS.")


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow: str = Field(description="The slug of the workflow it was exported from.")
    version: int | Literal["draft"]


class PushExport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    callback_url: str | None
    timeout_s: int | None


class SettingsExport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sync_timeout_s: int
    queue_timeout_s: float | None
    retention_days: int | Literal["forever"] | None = Field(
        description="The workflow's own retention: days, `forever`, or null (the workspace's default applies)."
    )
    push: PushExport


class AppFile(_File):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    source: Source
    definition: dict[str, Any] = Field(description="The definition's keys in APP_DEFINITION_KEYS.")
    settings: SettingsExport


class Encrypted(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nonce: str = Field(description="base64, 12 bytes")
    ciphertext: str = Field(description="base64: AES-256-GCM of the UTF-8 value, the tag appended")


class EnvVariable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    notes: str | None = None
    secure: bool = False
    value: str | None = Field(None, description="A plain variable's value; always null for a secure one.")
    encrypted: Encrypted | None = Field(None, description="A secure value, when exported with a passphrase.")


class KeyDerivation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scheme: Literal["scrypt+aes-256-gcm"] = "scrypt+aes-256-gcm"
    salt: str = Field(description="base64, 16 bytes")
    n: int = Field(ge=2)
    r: int = Field(ge=1)
    p: int = Field(ge=1)


class EnvFile(_File):
    encryption: KeyDerivation | None = Field(None, description="Set when secure values are encrypted.")
    variables: list[EnvVariable]


def split_definition(definition: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(flow part, app part) of a definition."""
    app = {k: v for k, v in definition.items() if k in APP_DEFINITION_KEYS}
    flow = {k: v for k, v in definition.items() if k not in APP_DEFINITION_KEYS}
    return flow, app


def join_definition(flow: dict[str, Any], app: dict[str, Any]) -> dict[str, Any]:
    """The definition the two parts were split from."""
    return {**flow, **app}
