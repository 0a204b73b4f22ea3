"""Endpoint settings of a workflow: sync wait, queue timeout, async push (callback URL, access token, push
timeout, signing secrets), and how long its ended jobs are kept (retention, see jobs/retention.py).

Stored as JSON in `workflow.settings`. The access token and the signing secrets are write-only: no
response ever contains them, except a new signing secret once, when it is made. With WFS_SECRET_KEY set
they are stored encrypted, as `{"enc": "<fernet token>"}`; without it, as plain strings.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.audit import redact
from workflow_service.audit.recorder import SYSTEM, Author, Entry
from workflow_service.core.clock import utcnow
from workflow_service.core.http import OutboundError, OutboundPolicy, check_url
from workflow_service.core.secrets import Secrets
from workflow_service.errors import InvalidInput
from workflow_service.workflows import repository as workflow_repo

SYNC_TIMEOUT_DEFAULT = 180
PUSH_TIMEOUT_DEFAULT = 180
SECRET_OVERLAP = timedelta(hours=24)
FOREVER = "forever"
RetentionDays = Annotated[int, Field(ge=1, le=36500, strict=True)] | Literal["forever"]
"""A workflow's own retention: days (1 to 36500), or `forever`."""
RETENTION = (
    "How long the workflow's ended jobs are kept: days after they ended (1 to 36500), then deleted with their "
    "steps, events and deliveries; `forever` keeps them whatever the workspace's default; null takes the "
    "workspace's `retention_days` (null there too: kept forever)."
)


def effective_retention(own: Any, workspace_days: int | None) -> int | None:
    """The days a workflow's ended jobs are kept, from its own setting (days, `forever`, or None: unset) and its
    workspace's default; None: forever."""
    if own is None:
        return workspace_days
    return None if own == FOREVER else int(own)


class PushSettingsRead(BaseModel):
    enabled: bool
    callback_url: str | None
    has_access_token: bool = Field(description="Whether an access token is set (it is never returned).")
    timeout_s: int | None = Field(
        description="A push job not ended this long after submission fails with `push_timeout`; null means no limit."
    )
    disabled_reason: str | None = Field(
        description="Why push was turned off by the service (a 410 from the callback URL), if it was."
    )
    signing_secrets: int = Field(
        description="How many signing secrets currently sign callbacks and the jobs' own notices (`notify_url`): 2 "
        "during a rotation, 0 until push is enabled or a secret is made with `rotate-signing-secret`."
    )


class SettingsRead(BaseModel):
    sync_timeout_s: int = Field(description="How long the sync endpoint waits before answering 202.")
    queue_timeout_s: float | None = Field(
        description="A job not claimed this long after submission fails with `queue_timeout`; null means no limit."
    )
    push: PushSettingsRead
    retention_days: RetentionDays | None = Field(description=RETENTION)
    effective_retention_days: int | None = Field(
        description="The retention that applies: `retention_days`, else the workspace's default; null: ended jobs "
        "are kept forever."
    )
    signing_secret: str | None = Field(
        None, description="A new signing secret (`whsec_…`), shown only in the response that created it."
    )


class PushSettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    callback_url: str | None = Field(None, max_length=2048)
    access_token: str | None = Field(None, min_length=1, max_length=4096, description="Write-only.")
    timeout_s: int | None = Field(None, ge=60, le=600, description="60 to 600, or null for no limit.")


class SettingsUpdate(BaseModel):
    """Only the fields present change."""

    model_config = ConfigDict(extra="forbid")

    sync_timeout_s: int | None = Field(None, ge=60, le=300)
    queue_timeout_s: float | None = Field(None, gt=0, le=7 * 86400)
    push: PushSettingsUpdate | None = None
    retention_days: RetentionDays | None = Field(None, description=RETENTION)

    @field_validator("sync_timeout_s")
    @classmethod
    def _sync_timeout_not_null(cls, value: int | None) -> int:
        if value is None:  # only reached when null was sent explicitly; an absent field is not validated
            raise ValueError("must be a number of seconds from 60 to 300")
        return value


def new_signing_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def seal(value: str, secrets: Secrets) -> str | dict[str, str]:
    """How a secret is stored: encrypted when a key is configured, else as is."""
    return {"enc": secrets.encrypt(value)} if secrets.configured else value


def reveal(stored: Any, secrets: Secrets) -> str:
    """The plain value of a stored secret (raises SecretsError when it cannot be decrypted)."""
    if isinstance(stored, dict):
        return secrets.decrypt(str(stored["enc"]))
    return str(stored)


def reseal(stored: Any, secrets: Secrets) -> Any:
    """A stored secret re-encrypted with the newest key (a plain one is encrypted)."""
    if isinstance(stored, dict):
        return {"enc": secrets.rotate(str(stored["enc"]))}
    return {"enc": secrets.encrypt(str(stored))}


def _push(stored: dict[str, Any]) -> dict[str, Any]:
    push: dict[str, Any] = stored.get("push") or {}
    return push


def _active_entries(stored: dict[str, Any], now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or utcnow()
    return [
        entry
        for entry in _push(stored).get("secrets", [])
        if entry.get("expires_at") is None or datetime.fromisoformat(entry["expires_at"]) > now
    ]


def active_secrets(stored: dict[str, Any], secrets: Secrets, now: datetime | None = None) -> list[str]:
    """The secrets that sign a callback now: the newest, plus a rotated-out one for its 24 h overlap."""
    return [reveal(entry["secret"], secrets) for entry in _active_entries(stored, now)]


def access_token(stored: dict[str, Any], secrets: Secrets) -> str:
    """The push access token, decrypted."""
    return reveal(_push(stored)["access_token"], secrets)


def reseal_all(stored: dict[str, Any], secrets: Secrets) -> tuple[dict[str, Any], int]:
    """The settings with the access token and signing secrets re-encrypted with the newest key, and
    how many values that was."""
    push = _push(stored)
    if not push:
        return stored, 0
    push = {**push}
    count = 0
    if push.get("access_token"):
        push["access_token"] = reseal(push["access_token"], secrets)
        count += 1
    if push.get("secrets"):
        push["secrets"] = [{**entry, "secret": reseal(entry["secret"], secrets)} for entry in push["secrets"]]
        count += len(push["secrets"])
    return {**stored, "push": push}, count


def read(stored: dict[str, Any], signing_secret: str | None = None, *, workspace_retention: int | None) -> SettingsRead:
    """The settings as shown, with the retention that applies given the workspace's default."""
    push = _push(stored)
    return SettingsRead(
        sync_timeout_s=stored.get("sync_timeout_s", SYNC_TIMEOUT_DEFAULT),
        queue_timeout_s=stored.get("queue_timeout_s"),
        push=PushSettingsRead(
            enabled=bool(push.get("enabled")),
            callback_url=push.get("callback_url"),
            has_access_token=bool(push.get("access_token")),
            timeout_s=push.get("timeout_s", PUSH_TIMEOUT_DEFAULT),
            disabled_reason=push.get("disabled_reason"),
            signing_secrets=len(_active_entries(stored)),
        ),
        retention_days=stored.get("retention_days"),
        effective_retention_days=effective_retention(stored.get("retention_days"), workspace_retention),
        signing_secret=signing_secret,
    )


async def apply(
    stored: dict[str, Any], update: SettingsUpdate, policy: OutboundPolicy, secrets: Secrets
) -> tuple[dict[str, Any], str | None]:
    """The new settings, and a signing secret when enabling push made the first one."""
    new = {**stored}
    fields = update.model_fields_set
    if "sync_timeout_s" in fields:
        new["sync_timeout_s"] = update.sync_timeout_s
    if "queue_timeout_s" in fields:
        new["queue_timeout_s"] = update.queue_timeout_s
    if "retention_days" in fields:
        new["retention_days"] = update.retention_days
        if update.retention_days is None:  # unset: the workspace's default applies
            del new["retention_days"]
    created_secret = None
    if update.push is not None:
        push = await _apply_push({**_push(stored)}, update.push, policy, secrets)
        if push.get("enabled"):
            created_secret = _enable(push, secrets)
        new["push"] = push
    return new, created_secret


async def _apply_push(
    push: dict[str, Any], update: PushSettingsUpdate, policy: OutboundPolicy, secrets: Secrets
) -> dict[str, Any]:
    """`push` with the fields sent in `update` (a callback URL must pass the outbound policy)."""
    given = update.model_fields_set
    if "callback_url" in given:
        if update.callback_url is not None:
            await _check_callback_url(policy, update.callback_url)
        push["callback_url"] = update.callback_url
    if "access_token" in given:
        token = update.access_token
        push["access_token"] = seal(token, secrets) if token is not None else None
    if "timeout_s" in given:
        push["timeout_s"] = update.timeout_s
    if "enabled" in given:
        push["enabled"] = bool(update.enabled)
        if push["enabled"]:
            push["disabled_reason"] = None
    return push


async def _check_callback_url(policy: OutboundPolicy, url: str) -> None:
    try:
        await check_url(policy, url)
    except OutboundError as exc:
        raise InvalidInput(
            f"callback_url: {exc}", errors=[{"path": "$.push.callback_url", "message": str(exc)}]
        ) from exc


def _enable(push: dict[str, Any], secrets: Secrets) -> str | None:
    """Check that enabled push has a callback URL and an access token, and give it its first signing secret
    when it has none: that secret is returned, to be shown once."""
    missing = [name for name in ("callback_url", "access_token") if not push.get(name)]
    if missing:
        raise InvalidInput(
            f"push needs {' and '.join(missing)} before it can be enabled",
            errors=[{"path": f"$.push.{name}", "message": "required to enable push"} for name in missing],
        )
    if _active_entries({"push": push}):
        return None
    created = new_signing_secret()
    push["secrets"] = [{"secret": seal(created, secrets), "created_at": utcnow().isoformat(), "expires_at": None}]
    return created


def rotate(stored: dict[str, Any], secrets: Secrets) -> tuple[dict[str, Any], str]:
    """A new signing secret; the current ones keep signing for 24 h so consumers can switch over."""
    now = utcnow()
    secret = new_signing_secret()
    push = {**_push(stored)}
    kept = [
        {**entry, "expires_at": entry.get("expires_at") or (now + SECRET_OVERLAP).isoformat()}
        for entry in _active_entries(stored, now)
    ]
    push["secrets"] = [{"secret": seal(secret, secrets), "created_at": now.isoformat(), "expires_at": None}, *kept]
    return {**stored, "push": push}, secret


def disable_push(stored: dict[str, Any], reason: str) -> dict[str, Any]:
    return {**stored, "push": {**_push(stored), "enabled": False, "disabled_reason": reason}}


def can_sign(stored: dict[str, Any]) -> bool:
    """Whether the workflow has a signing secret (made by enabling push, or by a rotation): what signs its push
    callbacks and its jobs' own notices (jobs/notices.py)."""
    return bool(_active_entries(stored))


def push_ready(stored: dict[str, Any]) -> bool:
    push = _push(stored)
    return bool(push.get("enabled") and push.get("callback_url") and push.get("access_token"))


def push_timeout(stored: dict[str, Any]) -> int | None:
    value = _push(stored).get("timeout_s", PUSH_TIMEOUT_DEFAULT)
    return None if value is None else int(value)


def _audit_view(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The settings as the audit log compares them: every field by its dotted name, as `read` shows it (the
    defaults filled in), but the access token and the signing secrets as stored, to be redacted (`changes`)."""
    shown = read(stored or {}, workspace_retention=None)
    push = _push(stored or {})
    return {
        "sync_timeout_s": shown.sync_timeout_s,
        "queue_timeout_s": shown.queue_timeout_s,
        "retention_days": shown.retention_days,
        "push.enabled": shown.push.enabled,
        "push.callback_url": shown.push.callback_url,
        "push.access_token": push.get("access_token"),
        "push.timeout_s": shown.push.timeout_s,
        "push.disabled_reason": shown.push.disabled_reason,
        "push.signing_secrets": push.get("secrets") or None,
    }


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """What a change of the stored settings changed, for its audit entry: each changed field before and after,
    the access token and the signing secrets redacted (listed when they changed, never shown)."""
    return redact.changes(_audit_view(before), _audit_view(after))


async def stop_push(conn: AsyncConnection, workflow_id: uuid.UUID, reason: str) -> bool:
    """Turn the workflow's push off, saying why (the callback URL answered 410 Gone), under its row lock, and
    record it in the audit log as the service's own change; False when push was already off (nothing done)."""
    row = await workflow_repo.lock_settings(conn, workflow_id)
    current = row.settings or {}
    if not _push(current).get("enabled"):
        return False
    new = disable_push(current, reason)
    await workflow_repo.set_settings(conn, workflow_id, new)
    entry = Entry(
        action="settings.push_disabled",
        description=f"push for workflow {row.slug!r} was turned off: {reason}",
        target_id=str(workflow_id),
        target_name=row.slug,
        workflow_id=workflow_id,
        changes=changes(current, new),
    )
    await Author(row.workspace_id, SYSTEM).record(conn, entry)
    return True
