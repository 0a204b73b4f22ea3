"""Encryption at rest (Fernet keys from WFS_SECRET_KEY) and redaction of secret values.

WFS_SECRET_KEY is a comma-separated list of Fernet keys, newest first: the newest encrypts, every
key decrypts. Rotating is prepending a new key, running `workflow-service rotate-secrets` (which
re-encrypts everything with the newest key), then dropping the old one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from workflow_service.config import Settings
from workflow_service.errors import ServiceError

REDACT_MIN_LENGTH = 4
"""Shorter secret values are not redacted: replacing every `abc` in a job's data would garble it."""


class SecretKeyRequired(ServiceError):
    status, code, title = 409, "secret_key_required", "WFS_SECRET_KEY is required"


class SecretsError(Exception):
    """A stored secret cannot be decrypted (no key configured, or none of the keys made it)."""


class Secrets:
    """Encrypts with the newest key, decrypts with any. Unconfigured (no keys) it refuses both."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = len(keys)
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None

    @property
    def configured(self) -> bool:
        return self._fernet is not None

    def _require(self) -> MultiFernet:
        if self._fernet is None:
            raise SecretKeyRequired("WFS_SECRET_KEY is required to store or read secret values; set it and restart")
        return self._fernet

    def encrypt(self, value: str) -> str:
        """A Fernet token for `value`, made with the newest key."""
        return self._require().encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The value of a token made with any configured key."""
        if self._fernet is None:
            raise SecretsError("a secret value is stored encrypted, but WFS_SECRET_KEY is not set")
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretsError(
                "a secret value cannot be decrypted with any key in WFS_SECRET_KEY (was the key that encrypted "
                "it removed before `workflow-service rotate-secrets` ran?)"
            ) from None

    def rotate(self, token: str) -> str:
        """The same value as a token made with the newest key."""
        fernet = self._require()
        try:
            return fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretsError("a secret value cannot be decrypted with any key in WFS_SECRET_KEY") from None


def parse_keys(raw: str) -> list[str]:
    """The keys of a WFS_SECRET_KEY value; a ValueError names the one that is not a Fernet key."""
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    for position, key in enumerate(keys, 1):
        try:
            Fernet(key.encode())
        except ValueError:
            raise ValueError(
                f"WFS_SECRET_KEY: key {position} is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
    return keys


@functools.lru_cache(maxsize=8)
def _secrets(raw: str) -> Secrets:
    return Secrets(parse_keys(raw))


def secrets_for(settings: Settings) -> Secrets:
    """The Secrets for these settings (built once per key list)."""
    return _secrets(settings.secret_key.get_secret_value() if settings.secret_key is not None else "")


def new_key() -> str:
    return Fernet.generate_key().decode()


class Redactor:
    """Replaces every occurrence of a secret value (in strings, recursively in JSON values) by
    `[redacted:NAME]`. Built once per job attempt from its secure variables."""

    __slots__ = ("_names", "_pattern")

    def __init__(self, values: Mapping[str, str]) -> None:
        names: dict[str, str] = {}
        for name, value in sorted(values.items()):
            if len(value) >= REDACT_MIN_LENGTH:
                names.setdefault(value, name)
        self._names = names
        # Longest first, so a secret that contains another is replaced whole.
        alternatives = sorted(names, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(lambda m: f"[redacted:{self._names[m.group(0)]}]", value)

    def __call__(self, value: Any) -> Any:
        """A copy of the JSON value `value` with every secret replaced (the value itself is not changed)."""
        if self._pattern is None:
            return value
        return _redact(value, self.text)


def _redact(value: Any, text: Any) -> Any:
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {(text(k) if isinstance(k, str) else k): _redact(v, text) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v, text) for v in value]
    return value


NO_REDACTION = Redactor({})
