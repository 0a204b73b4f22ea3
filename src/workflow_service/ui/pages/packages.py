"""Dashboard pages: a workflow's packages, on its configuration page: export a version (the API's zip passed on as
it answered it), import a package as the new draft (optionally backing the current one up; conflicting environment
variables listed, each to overwrite or keep, then Proceed), and the backups with their downloads."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, Field
from starlette.responses import Response

from workflow_service.ui.api import Answer, ApiProblem, segment
from workflow_service.ui.context import CsrfDep, UiDep
from workflow_service.ui.pages.common import workflow_page
from workflow_service.ui.pages.configuration import After, configuration_page
from workflow_service.ui.pages.uploads import FilePart, multipart, read_upload
from workflow_service.ui.pages.workflows import api_path, wpath

router = APIRouter()

PASSED_ON = ("content-type", "content-disposition", "cache-control")
MAX_CARRIED = 8 * 1024 * 1024
"""The longest package carried back in a page (base64) while its conflicts are resolved."""


def problem_of(answer: Answer) -> ApiProblem:
    found = answer.json() if answer.body.startswith(b"{") else {}
    return ApiProblem(answer.status, found if isinstance(found, dict) else {})


def passed_on(answer: Answer) -> Response:
    """A download as the API answered it: its bytes, type and file name."""
    headers = {k: v for k, v in answer.headers.items() if k in PASSED_ON and k != "content-type"}
    headers.setdefault("cache-control", "no-store")
    return Response(answer.body, status_code=200, media_type=answer.headers.get("content-type"), headers=headers)


def header_text(value: str) -> str:
    """A header value whose bytes are `value`'s UTF-8 (headers travel as Latin-1; the API reads them back as UTF-8)."""
    return value.encode().decode("latin-1")


@router.post("/workflows/{ref}/configuration/export")
async def export(
    ref: str,
    ui: CsrfDep,
    version: Annotated[str, Form(max_length=20)] = "current",
    passphrase: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Download a version as a package (`<Name>.zip`), secure values encrypted with the passphrase if one is given."""
    wp = await workflow_page(ui, ref)
    headers = {"X-Export-Passphrase": header_text(passphrase)} if passphrase else None
    answer = await ui.api.call("GET", api_path(wp.ref, "/export"), params={"version": version}, headers=headers)
    if not answer.ok:
        typed = {"export_version": version}
        return await configuration_page(ui, wp, After(problem_of(answer), "export", typed))
    return passed_on(answer)


@router.get("/workflows/{ref}/configuration/backups/{backup_id}")
async def download_backup(ref: str, backup_id: str, ui: UiDep) -> Response:
    """Download a backup of a draft an import replaced."""
    wp = await workflow_page(ui, ref)
    answer = await ui.api.call("GET", api_path(wp.ref, f"/backups/{segment(backup_id)}"))
    if not answer.ok:
        raise problem_of(answer)
    return passed_on(answer)


def _carried(package_b64: str) -> FilePart | None:
    try:
        content = base64.b64decode(package_b64, validate=True)
    except (binascii.Error, ValueError):
        return None
    return FilePart("package", "package.zip", content, "application/zip")


def imported_note(report: dict[str, Any]) -> str:
    env = report["env"]
    notes = ["Package imported as the draft: deploy it to run it."]
    if report.get("backup"):
        notes.append(f"The draft it replaced is kept as {report['backup']['file_name']}.")
    for key, label in (("added", "added"), ("overwritten", "overwritten"), ("kept", "kept")):
        if env.get(key):
            notes.append(f"Variables {label}: {', '.join(env[key])}.")
    if env.get("needs_value"):
        notes.append(f"Set a value for: {', '.join(env['needs_value'])}.")
    if report.get("draft_problems"):
        notes.append(f"The draft has {len(report['draft_problems'])} problem(s) to fix before deploying.")
    return " ".join(notes)


class ImportForm(BaseModel):
    """The import form's fields besides the file: the package carried back while its conflicts are resolved."""

    package_b64: str = Field("", max_length=MAX_CARRIED * 2)
    package_name: str = Field("", max_length=1000)
    backup: str = Field("", max_length=10)
    passphrase: str = Field("", max_length=10_000)


@router.post("/workflows/{ref}/configuration/import")
async def import_version(
    ref: str, ui: CsrfDep, form: Annotated[ImportForm, Form()], package: Annotated[UploadFile | None, File()] = None
) -> Response:
    """Import a package as the workflow's draft. Conflicting environment variables come back to be resolved one by
    one (overwrite or keep); the package is carried in the page meanwhile, so it is not chosen again."""
    wp = await workflow_page(ui, ref)
    upload = await read_upload(package)
    if upload is None and form.package_b64:
        upload = _carried(form.package_b64)
    if upload is None:
        message = "choose a package (.zip) to import"
        refused = ApiProblem(422, {"detail": message, "errors": [{"path": "package", "message": message}]})
        return await configuration_page(ui, wp, After(refused, "import"))
    sent = await ui.request.form()
    resolutions = {
        key.removeprefix("resolve."): value
        for key, value in sent.multi_items()
        if key.startswith("resolve.") and value in ("keep", "overwrite")
    }
    fields = {
        "backup": "true" if form.backup else None,
        "passphrase": form.passphrase or None,
        "resolutions": json.dumps(resolutions) if resolutions else None,
    }
    content, content_type = multipart(fields, [upload])
    answer = await ui.api.call("POST", api_path(wp.ref, "/import"), content=content, content_type=content_type)
    if answer.status == 409 and (answer.json() or {}).get("code") == "env_conflicts":
        carried = {
            "package_b64": base64.b64encode(upload.content).decode(),
            "package_name": form.package_name or upload.filename,
            "backup": bool(form.backup),
            "passphrase_given": bool(form.passphrase),
            "items": answer.json().get("conflicts", []),
        }
        return await configuration_page(ui, wp, After(problem_of(answer), "import", conflicts=carried))
    if not answer.ok:
        return await configuration_page(ui, wp, After(problem_of(answer), "import"))
    return ui.redirect(wpath(wp.ref, "/configuration") + "#import", imported_note(answer.json()["report"]))
