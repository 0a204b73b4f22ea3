"""Package routes: exporting a workflow's version as a zip (docs/packages.md)."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Response

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.audit.recorder import Entry
from workflow_service.deps import AuditDep, ServicesDep, WorkflowPathDep
from workflow_service.errors import InvalidInput
from workflow_service.packages import export
from workflow_service.problems import problem_responses

router = APIRouter(prefix="/v1/workflows", tags=["packages"])

ZIP = "application/zip"
PASSPHRASE_HEADER = "X-Export-Passphrase"
_NOT_IN_FALLBACK = re.compile(r'[^\x20-\x7e]|["\\%]')

ExportVersion = Annotated[
    str,
    Query(description="A version number, `current` (the deployed version) or `draft` (the one in development)."),
]
ExportPassphrase = Annotated[
    str | None,
    Header(
        alias=PASSPHRASE_HEADER,
        description=f"Encrypt the secure environment values with this passphrase (at least {export.MIN_PASSPHRASE} "
        "characters, UTF-8); without it they are left out. A header, never a query parameter: URLs are logged.",
    ),
]
EXPORTED = {
    "description": "The package: a zip of `app_definition.json`, `flow_definition.json` and `env_variables.json`.",
    "content": {ZIP: {"schema": {"type": "string", "format": "binary"}}},
    "headers": {
        "Content-Disposition": {
            "description": "`attachment`, named after the workflow (`Banking Assistant.zip`), RFC 6266.",
            "schema": {"type": "string"},
        }
    },
}


def passphrase_of(raw: str | None) -> str | None:
    """The header's passphrase: its bytes read as UTF-8 (a server reads header bytes as Latin-1), at least
    MIN_PASSPHRASE characters, else a 422 naming the header."""
    if raw is None:
        return None
    where = f"header:{PASSPHRASE_HEADER}"
    try:
        passphrase = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        message = "the passphrase is not UTF-8"
        raise InvalidInput(message, errors=[{"path": where, "message": message}]) from None
    export.check_passphrase(passphrase, where)
    return passphrase


def content_disposition(file_name: str) -> str:
    """`attachment` with the file name twice (RFC 6266): a quoted ASCII fallback (accents dropped, other characters
    `_`) and the UTF-8 name percent-encoded (RFC 5987), which clients that read it prefer."""
    stem = file_name.removesuffix(".zip")
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    fallback = _NOT_IN_FALLBACK.sub("_", ascii_stem).strip(" ._") or "workflow"
    return f"attachment; filename=\"{fallback}.zip\"; filename*=UTF-8''{quote(file_name, safe='')}"


@router.get(
    "/{workflow}/export",
    dependencies=[access.require(Action.WORKFLOW_EXPORT, on=access.workflow)],
    response_class=Response,
    responses={200: EXPORTED, **problem_responses(401, 403, 404, 409, 422)},
)
async def export_workflow(
    workflow: WorkflowPathDep,
    audit: AuditDep,
    services: ServicesDep,
    version: ExportVersion = "current",
    passphrase: ExportPassphrase = None,
) -> Response:
    """Export a version of the workflow as a package (a zip named after it): its definition, endpoint settings
    (never the push access token or signing secrets) and environment variables, secure values left out unless
    `X-Export-Passphrase` is given, which encrypts them. 409 for `current` of a workflow never deployed."""
    made = await export.export(audit.uow.conn, workflow, version, passphrase_of(passphrase), services.secrets)
    what = "the draft" if made.version == "draft" else f"version {made.version}"
    described = f"exported {what} of workflow {made.slug!r}"
    if made.secure:
        how = "encrypted with a passphrase" if made.encrypted else "left out"
        described += f", its {made.secure} secure value(s) {how}"
    entry = Entry(
        action="workflow.exported",
        description=described,
        target_id=str(made.workflow_id),
        target_name=made.slug,
        workflow_id=made.workflow_id,
    )
    await audit.record(entry)
    headers = {"Content-Disposition": content_disposition(made.file_name), "Cache-Control": "no-store"}
    return Response(made.content, media_type=ZIP, headers=headers)
