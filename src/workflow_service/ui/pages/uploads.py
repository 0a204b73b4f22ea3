"""Passing a person's upload on to the API: the package import routes take multipart/form-data, as a browser
sends it; the dashboard sends the same form, built here, so the API reads and checks the package itself."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import UploadFile

MAX_UPLOAD_BYTES = 5 * 1024 * 1024 + 1
"""Read at most this much of an upload: one byte over the API's package limit, so the API still says it is too
large (413), with its own words."""


@dataclass(frozen=True)
class FilePart:
    """One file of a form: its field, its name, its bytes."""

    field: str
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart(fields: Mapping[str, str | None], files: list[FilePart]) -> tuple[bytes, str]:
    """The body and the Content-Type of a multipart/form-data form of `fields` (None ones left out) and `files`."""
    boundary = "wfs-" + secrets.token_hex(16)
    parts: list[bytes] = []
    for name, value in fields.items():
        if value is None:
            continue
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n'
        parts.append(head.encode() + value.encode() + b"\r\n")
    for part in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(part.field)}"; '
            f'filename="{_quoted(part.filename)}"\r\nContent-Type: {part.content_type}\r\n\r\n'
        )
        parts.append(head.encode() + part.content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


async def read_upload(upload: UploadFile | None, field: str = "package") -> FilePart | None:
    """The file a person chose (None when they chose none: a browser sends an empty part without a name)."""
    if upload is None or not upload.filename:
        return None
    content = await upload.read(MAX_UPLOAD_BYTES)
    return FilePart(field, upload.filename, content, upload.content_type or "application/octet-stream")
