"""A trigger's secret, and checking that an event was sent by someone who holds it.

`standard_webhooks`: the sender signs each event as Standard Webhooks say (`webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`) with the trigger's `whsec_…` secret, which is
stored encrypted with WFS_SECRET_KEY (so it needs one). The signature is verified with the `standardwebhooks`
library; a timestamp more than five minutes from now is refused (a replay), as the library does.

`bearer`: the sender sends `Authorization: Bearer <token>`; only the token's SHA-256 is stored, and it is compared
in constant time.

A rotation makes a new secret; the one before keeps working for 24 hours, so senders can switch over.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as random
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from workflow_service.core.secrets import Secrets, SecretsError
from workflow_service.errors import InvalidSignature, StaleTimestamp, Unauthorized, Unavailable

SECRET_OVERLAP = timedelta(hours=24)
"""How long a rotated-out secret keeps working."""
TOLERANCE = timedelta(minutes=5)
"""How far a `webhook-timestamp` may be from now (the Standard Webhooks libraries' tolerance)."""
TOKEN_START = "wfs_hook_"
SIGNED_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")

Entry = dict[str, Any]
"""A stored secret: `{"value", "created_at", "expires_at"}` (see models/triggers.py)."""


def new_secret(auth: str) -> str:
    """A fresh `whsec_…` signing secret (32 random bytes), or a bearer token (256 random bits)."""
    if auth == "bearer":
        return TOKEN_START + random.token_urlsafe(32)
    return "whsec_" + base64.b64encode(random.token_bytes(32)).decode()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def stored(auth: str, secret: str, keys: Secrets, now: datetime) -> Entry:
    """How a new secret is stored: a signing secret encrypted (409 `secret_key_required` without WFS_SECRET_KEY),
    a bearer token as its hash."""
    value: Any = _hash(secret) if auth == "bearer" else {"enc": keys.encrypt(secret)}
    return {"value": value, "created_at": now.isoformat(), "expires_at": None}


def active(entries: Sequence[Entry], now: datetime) -> list[Entry]:
    """The secrets that work now: the newest, and a rotated-out one within its overlap."""
    return [e for e in entries if e.get("expires_at") is None or datetime.fromisoformat(e["expires_at"]) > now]


def rotated(entries: Sequence[Entry], new: Entry, now: datetime) -> list[Entry]:
    """The secrets after a rotation: the new one, and those working now, each ending within the overlap."""
    until = (now + SECRET_OVERLAP).isoformat()
    kept = [{**e, "expires_at": e.get("expires_at") or until} for e in active(entries, now)]
    return [new, *kept]


def resealed(entries: Sequence[Entry], keys: Secrets) -> list[Entry]:
    """Encrypted secrets re-encrypted with the newest key (`workflow-service rotate-secrets`)."""
    return [
        {**e, "value": {"enc": keys.rotate(e["value"]["enc"])}} if isinstance(e["value"], dict) else e for e in entries
    ]


def check_bearer(entries: Sequence[Entry], authorization: str | None, now: datetime) -> None:
    """401 unless `authorization` is `Bearer <a token of the trigger>`."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send the trigger's token as `Authorization: Bearer <token>`")
    digest = _hash(token.strip()).encode()
    # Every entry is compared, so that the time taken does not tell which one matched.
    matched = [hmac.compare_digest(digest, str(e["value"]).encode()) for e in active(entries, now)]
    if not any(matched):
        raise Unauthorized("the bearer token is not this trigger's (or it was rotated out)")


def check_signature(
    entries: Sequence[Entry], keys: Secrets, body: bytes, headers: Mapping[str, str], now: datetime
) -> str:
    """The event's `webhook-id` once its Standard Webhooks signature verifies with one of the trigger's secrets;
    401 `invalid_signature` or `stale_timestamp` otherwise."""
    missing = [name for name in SIGNED_HEADERS if not headers.get(name)]
    if missing:
        raise InvalidSignature(
            f"a signed event needs the headers {', '.join(SIGNED_HEADERS)}; missing: {', '.join(missing)}",
            errors=[{"path": f"header:{name}", "message": "required"} for name in missing],
        )
    _check_timestamp(headers["webhook-timestamp"], now)
    signed = {name: headers[name] for name in SIGNED_HEADERS}
    for entry in active(entries, now):
        try:
            secret = keys.decrypt(entry["value"]["enc"])
        except SecretsError as exc:  # the operator's keys, not the sender's doing
            raise Unavailable(f"the trigger's secret cannot be read: {exc}") from None
        try:
            Webhook(secret).verify(body, signed, json_parse=False)
        except WebhookVerificationError:
            continue
        return signed["webhook-id"]
    raise InvalidSignature(
        "no signature in webhook-signature matches the body signed with the trigger's secret",
        errors=[{"path": "header:webhook-signature", "message": "does not verify"}],
    )


def _check_timestamp(value: str, now: datetime) -> None:
    if not (value.isascii() and value.isdigit() and len(value) <= 12):
        raise InvalidSignature(
            "webhook-timestamp must be the time the event was sent, in whole seconds since the Unix epoch",
            errors=[{"path": "header:webhook-timestamp", "message": "expected Unix seconds"}],
        )
    skew = abs(now.timestamp() - int(value))
    if skew > TOLERANCE.total_seconds():
        raise StaleTimestamp(
            f"webhook-timestamp is {int(skew)} s from now; at most {int(TOLERANCE.total_seconds())} s are accepted "
            "(sign each delivery, redeliveries too, with the time it is sent)",
            errors=[{"path": "header:webhook-timestamp", "message": "outside the tolerance"}],
        )
