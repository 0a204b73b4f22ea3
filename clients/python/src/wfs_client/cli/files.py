"""Files `wfs` downloads and uploads: the name a download's Content-Disposition gives it (RFC 6266, its
`filename*` read as RFC 5987 says), where to write it (`-`: stdout), a file to upload, and a passphrase named by
an environment variable."""

from __future__ import annotations

import os
import re
import sys
from email.message import Message
from pathlib import Path
from urllib.parse import unquote

import httpx

from wfs_client.cli.state import typer_exit

PASSPHRASE_ENV = "WFS_EXPORT_PASSPHRASE"
"""The environment variable holding a package's passphrase when --passphrase-env names none."""
_EXTENDED = re.compile(r"""filename\*\s*=\s*([^';]+)'[^']*'([^;\s]+)""", re.IGNORECASE)


def attachment_name(response: httpx.Response, fallback: str) -> str:
    """The file name the answer gives its body, as a name in the current directory (never a path elsewhere);
    `fallback` when it gives none usable."""
    header = response.headers.get("Content-Disposition", "")
    name: str | None = None
    extended = _EXTENDED.search(header)
    if extended:
        try:
            name = unquote(extended.group(2), encoding=extended.group(1), errors="strict")
        except (LookupError, UnicodeDecodeError):
            name = None
    if not name:
        message = Message()
        message["Content-Disposition"] = header
        found = message.get_filename()
        name = found if isinstance(found, str) else None
    # The service already replaces separators; a name from elsewhere must still not climb out of the directory.
    name = Path((name or "").replace("\\", "/")).name
    return name if name not in ("", ".", "..") else fallback


def write_download(content: bytes, out_file: str | None, default_name: str) -> str | None:
    """Write `content` to `out_file` (`-`: stdout), else to `default_name` in the current directory; the path
    written, None for stdout."""
    if out_file == "-":
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return None
    path = Path(out_file) if out_file is not None else Path(default_name)
    try:
        path.write_bytes(content)
    except OSError as exc:
        raise typer_exit(f"cannot write {path}: {exc.strerror or exc}") from None
    return str(path)


def read_upload(path: Path) -> bytes:
    """The bytes of a file to upload; exit 2 with one line when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise typer_exit(f"cannot read {path}: {exc.strerror or exc}") from None


def passphrase(variable: str | None) -> str | None:
    """The passphrase held by the environment variable `variable` (exit 2 when it is unset or empty), else by
    WFS_EXPORT_PASSPHRASE when set, else None. Never a flag's value: it would show in `ps` and in CI logs."""
    if variable is None:
        return os.environ.get(PASSPHRASE_ENV) or None
    value = os.environ.get(variable)
    if not value:
        raise typer_exit(f"--passphrase-env {variable}: the environment variable {variable} is not set or empty")
    return value
