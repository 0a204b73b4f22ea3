"""Encryption at rest (Fernet keys from WFS_SECRET_KEY) and redaction of secret values.

WFS_SECRET_KEY is a comma-separated list of Fernet keys, newest first: the newest encrypts, every
key decrypts. Rotating is prepending a new key, running `workflow-service rotate-secrets` (which
re-encrypts everything with the newest key), then dropping the old one.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

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


class _HasSecretKey(Protocol):
    """What `secrets_for` reads of the settings (so that this module does not import the settings)."""

    @property
    def secret_key(self) -> SecretStr | None: ...


def secrets_for(settings: _HasSecretKey) -> Secrets:
    """The Secrets for these settings (built once per key list)."""
    return _secrets(settings.secret_key.get_secret_value() if settings.secret_key is not None else "")


def new_key() -> str:
    return Fernet.generate_key().decode()


class Redactor:
    """Replaces every occurrence of a secret value by `[redacted:NAME]`, in strings and recursively in
    JSON values. Built once per job attempt from its secure variables (`redactor_for`).

    A value is found in the forms it takes on the way to a server and back: each of its characters as
    it is or escaped the ways URLs, JSON, JavaScript, Python and HTML escape it (`_character`), and as
    base64 or base64url at any byte offset (`_base64_forms`), so `base64("user:" + value)` of a basic
    auth header is found too. The forms are compiled into one pattern when the Redactor is made."""

    __slots__ = ("_anchors", "_names", "_pattern")

    def __init__(self, values: Mapping[str, str]) -> None:
        names: dict[str, str] = {}
        for name, value in sorted(values.items()):
            if len(value) >= REDACT_MIN_LENGTH:
                names.setdefault(value, name)
        # Longest first, so a secret that contains another is replaced whole; a named group per secret.
        ordered = sorted(names, key=len, reverse=True)
        self._names = {f"s{i}": names[value] for i, value in enumerate(ordered)}
        forms = [_forms(value) for value in ordered]
        branches = [f"(?P<s{i}>{'|'.join(pattern for pattern, _ in found)})" for i, found in enumerate(forms)]
        self._pattern = re.compile("|".join(branches)) if branches else None
        # Text holding none of the anchors holds no form: it is not searched (the pattern is slow).
        anchors = {anchor for found in forms for _, anchor in found}
        self._anchors = None if "" in anchors else tuple(anchors)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        if self._anchors is not None and not any(anchor in value for anchor in self._anchors):
            return value
        return self._pattern.sub(lambda m: f"[redacted:{self._names[m.lastgroup or '']}]", value)

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


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_BACKSLASHED = frozenset("/\\\"'")
_SHORT_ESCAPES = {"\n": "n", "\t": "t", "\r": "r", "\b": "b", "\f": "f"}
_HTML_NAMED = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos"}


def _hex(number: int, width: int) -> str:
    """A pattern for `number` in hex, `width` digits (0: no leading zeros), either case."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{number:0{width}x}")


def _character(char: str) -> str:
    r"""A pattern for one character of a secret, as it is or escaped.

    URL: `%2F`, `%2f`, `%252F` (encoded twice), `+` for a space (quote_plus). JSON and JavaScript:
    `\/`, `\"`, `\u002f` (UTF-16, so surrogate pairs), `\n`, each with any number of backslashes
    (escaped again). Python: `\x2f`, `\'`. HTML: `&#47;`, `&#x2f;`, `&amp;`. Letters, digits and
    `-._~` pass through all of these unchanged, so they are matched as they are."""
    if char in _UNRESERVED:
        return char
    code = ord(char)
    forms = [r"\\*" + re.escape(char) if char in _BACKSLASHED else re.escape(char)]
    forms.append("".join("%(?:25)?" + _hex(byte, 2) for byte in char.encode()))
    if char == " ":
        forms.append(r"\+")
    units = char.encode("utf-16-be")
    forms.append("".join(r"\\+u" + _hex(int.from_bytes(units[i : i + 2]), 4) for i in range(0, len(units), 2)))
    if code < 256:
        forms.append(r"\\+x" + _hex(code, 2))
    if char in _SHORT_ESCAPES:
        forms.append(r"\\+" + _SHORT_ESCAPES[char])
    forms += [f"&#0*{code};", "&#[xX]0*" + _hex(code, 0) + ";"]
    if char in _HTML_NAMED:
        forms.append(f"&{_HTML_NAMED[char]};")
    return "(?:" + "|".join(forms) + ")"


def _escaped(text: str) -> str:
    return "".join(map(_character, text))


_BASE64_ALPHABETS = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",  # base64url
)


ANCHOR_MIN_LENGTH = 3
"""Characters every form of a value must contain as they are for the quick check before the search."""


def _base64_forms(value: str) -> list[tuple[str, str]]:
    """Patterns for `value` in base64 and base64url at each of the three byte offsets it can start at
    in longer data (`user:value` in a basic auth header, say), padded or not, with their anchors.
    Every character that carries bits of the value is matched: one that also carries bits of the
    data around it (at either end) as any of the characters it can be."""
    data = value.encode()
    forms = []
    for alphabet in _BASE64_ALPHABETS:
        for offset in range(3):
            first_bit, end_bit = 8 * offset, 8 * (offset + len(data))
            parts, fixed = [], ""  # `fixed`: the characters decided by the value alone, others as spaces
            for char in range(first_bit // 6, (end_bit - 1) // 6 + 1):
                bits = range(6 * char, 6 * char + 6)
                outside = [bit for bit in bits if not first_bit <= bit < end_bit]
                candidates = set()
                for filler in range(1 << len(outside)):
                    index = 0
                    for bit in bits:
                        if bit in outside:
                            index = index << 1 | (filler >> outside.index(bit)) & 1
                        else:
                            position = bit - first_bit
                            index = index << 1 | (data[position // 8] >> (7 - position % 8)) & 1
                    candidates.add(alphabet[index])
                parts.append("(?:" + "|".join(_character(c) for c in sorted(candidates)) + ")")
                fixed += candidates.pop() if len(candidates) == 1 else " "
            forms.append(("".join(parts) + _character("=") + "{0,2}", _anchor(fixed)))
    return forms


def _anchor(text: str) -> str:
    """The longest run of `text` that every escape leaves as it is ("" if shorter than ANCHOR_MIN_LENGTH)."""
    runs = "".join(c if c in _UNRESERVED else " " for c in text).split()
    longest = max(runs, key=len, default="")
    return longest if len(longest) >= ANCHOR_MIN_LENGTH else ""


def _forms(value: str) -> list[tuple[str, str]]:
    """Patterns for every form of `value`, each with a substring that every text it matches contains."""
    return [(_escaped(value), _anchor(value)), *_base64_forms(value)]


@functools.lru_cache(maxsize=256)
def _redactor(items: tuple[tuple[str, str], ...]) -> Redactor:
    return Redactor(dict(items))


def redactor_for(secure: Mapping[str, str]) -> Redactor:
    """The Redactor for a job's secure variables (NAME -> value), made once per set of values."""
    return _redactor(tuple(sorted(secure.items()))) if secure else NO_REDACTION


NO_REDACTION = Redactor({})


_log_redactor: contextvars.ContextVar[Redactor | None] = contextvars.ContextVar("log_redactor", default=None)
_log_factory_lock = threading.Lock()
_log_factory_installed = False


def redact_logs(redactor: Redactor) -> None:
    """Redact `redactor`'s secrets from every log record made from now on in the current context:
    called at the start of a job's own task, it covers every line logged while the job runs (an
    outbound request line, a library's traceback), whoever logs it. Without secrets it does nothing."""
    if not redactor:
        return
    _install_log_factory()
    _log_redactor.set(redactor)


def _install_log_factory() -> None:
    global _log_factory_installed
    with _log_factory_lock:
        if _log_factory_installed:
            return
        make = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            redactor = _log_redactor.get()
            if redactor is not None:
                _redact_record(record, redactor)
            return record

        logging.setLogRecordFactory(factory)
        _log_factory_installed = True


_traceback_formatter = logging.Formatter()


def _redact_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Format the record's message and traceback now, redacted; handlers print these as they are."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: logged without its arguments (they may hold a value)
        record.msg, record.args = f"unformattable log message from {record.name}", None
        return
    record.msg, record.args = redactor.text(message), None
    if record.exc_info:
        record.exc_text = redactor.text(_traceback_formatter.formatException(record.exc_info))
        record.exc_info = None  # a handler formatting it again would show the values
    if record.stack_info:
        record.stack_info = redactor.text(record.stack_info)
