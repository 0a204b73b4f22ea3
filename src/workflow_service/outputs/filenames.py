"""The file name of a downloaded output, and its `Content-Disposition` header.

The name comes from the job's name (else `<workflow slug>-<first 8 of the job id>`), with `-<step>` for a step's
output. Characters that file systems or the header refuse (path separators, quotes, control characters, `:*?<>|`)
become `_`. Browsers and clients that read RFC 6266 take the UTF-8 name from `filename*` (RFC 5987); `filename`
carries an ASCII fallback for older ones: accents dropped (`Résumé` -> `Resume`), other characters as `_`.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from urllib.parse import quote

MAX_STEM = 120
"""Characters of the name kept before the extension: long job names make unwieldy files."""

_UNSAFE = re.compile(r'[\x00-\x1f\x7f-\x9f/\\:*?"<>|;]')
_NOT_ASCII_SAFE = re.compile(r"[^A-Za-z0-9 ._()\[\]+,=@&'#!~-]")
_RUNS = re.compile(r"_{2,}")


def stem(job_name: str | None, workflow_slug: str, job_id: uuid.UUID, step: str | None = None) -> str:
    """The file name without its extension: the job's name, or the workflow's slug and the job id's first 8; a
    step's output adds `-<step>`."""
    base = job_name.strip() if job_name and job_name.strip() else f"{workflow_slug}-{str(job_id)[:8]}"
    return f"{base}-{step}" if step is not None else base


def safe(name: str) -> str:
    """`name` with the characters no file name may hold replaced by `_`, trimmed of leading dots, spaces and `_`
    (no hidden files, nothing left of a `../`) and cut to MAX_STEM characters; `output` if nothing is left."""
    cleaned = _RUNS.sub("_", _UNSAFE.sub("_", unicodedata.normalize("NFC", name)))
    cleaned = cleaned.lstrip("._ ")[:MAX_STEM].rstrip()
    return cleaned or "output"


def ascii_fallback(name: str) -> str:
    """`name` in printable ASCII: accents dropped, other characters `_`."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _RUNS.sub("_", _NOT_ASCII_SAFE.sub("_", stripped)).strip() or "output"


def content_disposition(stem_name: str, extension: str) -> str:
    """`attachment` with the file name `<stem>.<extension>`: `filename` in ASCII, and `filename*` in UTF-8 when
    the name is not plain ASCII."""
    name = f"{safe(stem_name)}.{extension}"
    fallback = ascii_fallback(name)
    header = f'attachment; filename="{fallback}"'
    if fallback != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header
