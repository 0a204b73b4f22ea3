"""Package import routes (docs/packages.md): a package as a new workflow, or as the draft of an existing one, and
the backups of the drafts imports replaced.

An import is a multipart/form-data upload: the zip in the file field `package`, or the three files in the fields
named after them without `.json` (`flow_definition`, `app_definition`, `env_variables`), with the text fields the
route lists. The package is read and checked (reader.py) before the request's transaction opens."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from pydantic import TypeAdapter, ValidationError

from workflow_service.access import routes as access
from workflow_service.access.policy import Action, WorkflowResource, reads_member_role
from workflow_service.audit.recorder import Entry
from workflow_service.deps import AuditDep, BaseUrlDep, ServicesDep, UowDep, WorkflowPathDep
from workflow_service.errors import InvalidInput, UnsupportedMediaType
from workflow_service.packages import backups, importer, reader
from workflow_service.packages.conflicts import RESOLUTIONS_PATH, OnConflict, Resolution
from workflow_service.packages.router import ZIP, content_disposition
from workflow_service.packages.schemas import BackupList, WorkflowImport
from workflow_service.packages.spec import APP_FILE, ENV_FILE, FLOW_FILE, MAX_PACKAGE_BYTES
from workflow_service.problems import problem_responses
from workflow_service.workflows.refs import ScopedRef

router = APIRouter(prefix="/v1/workflows", tags=["packages"])

_FILE_FIELDS = {"flow_definition": FLOW_FILE, "app_definition": APP_FILE, "env_variables": ENV_FILE}
_PACKAGE_FIELDS = frozenset({"package", *_FILE_FIELDS, "passphrase", "dry_run"})
NEW_FIELDS = _PACKAGE_FIELDS | {"slug", "name"}
EXISTING_FIELDS = _PACKAGE_FIELDS | {"backup", "on_conflict", "resolutions"}


def _file(name: str) -> Any:
    return File(description=f"`{name}`, when the package is sent as its three files instead of the zip.")


@dataclass(frozen=True, slots=True)
class Upload:
    """The files of an upload: the zip, or the three files by their names in the package."""

    zipped: bytes | None
    loose: dict[str, bytes]


async def _upload(
    request: Request,
    package: Annotated[UploadFile | None, File(description="The package: a zip of its three JSON files.")] = None,
    flow_definition: Annotated[UploadFile | None, _file(FLOW_FILE)] = None,
    app_definition: Annotated[UploadFile | None, _file(APP_FILE)] = None,
    env_variables: Annotated[UploadFile | None, _file(ENV_FILE)] = None,
) -> Upload:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise UnsupportedMediaType(
            "send the package as multipart/form-data: the zip in the field `package`, or the three files",
            errors=[{"path": "header:content-type", "message": "expected multipart/form-data"}],
        )
    zipped = None if package is None else await reader.read_capped(package, MAX_PACKAGE_BYTES)
    budget = MAX_PACKAGE_BYTES
    loose: dict[str, bytes] = {}
    for upload, name in ((flow_definition, FLOW_FILE), (app_definition, APP_FILE), (env_variables, ENV_FILE)):
        if upload is not None:
            loose[name] = await reader.read_capped(upload, budget)
            budget -= len(loose[name])
    return Upload(zipped, loose)


async def read_package(
    upload: Annotated[Upload, Depends(_upload)],
    passphrase: Annotated[
        str | None, Form(description="The passphrase the package's secure values were exported with.")
    ] = None,
) -> reader.Package:
    """The upload's package, read and checked (reader.py)."""
    return await reader.read(upload.zipped, upload.loose, passphrase)


PackageDep = Annotated[reader.Package, Depends(read_package)]
DryRun = Annotated[bool, Form(description="true: change nothing, answer what the import would do.")]


async def check_form(request: Request, allowed: Collection[str]) -> None:
    """422 for a field the route does not take (a mistyped `dry_run` must not import for real), or text holding
    the NUL character."""
    form = await request.form()
    problems = [
        {"path": f"form:{key}", "message": "not a field of this upload"} for key in form if key not in allowed
    ] + [
        {"path": f"form:{key}", "message": "must not contain the NUL character (U+0000)"}
        for key, value in form.multi_items()
        if isinstance(value, str) and "\x00" in value
    ]
    if problems:
        raise InvalidInput("; ".join(f"{p['path']}: {p['message']}" for p in problems), errors=problems)


@dataclass(frozen=True, slots=True)
class NewForm:
    """The fields of an import as a new workflow, and the base of the URLs it answers."""

    slug: str | None
    name: str | None
    dry_run: bool
    base: str


async def _new_form(
    request: Request,
    base: BaseUrlDep,
    slug: Annotated[str | None, Form(description="The new workflow's slug (default: from its name).")] = None,
    name: Annotated[str | None, Form(description="The new workflow's name (default: the package's).")] = None,
    dry_run: DryRun = False,
) -> NewForm:
    await check_form(request, NEW_FIELDS)
    return NewForm(slug, name, dry_run, base)


UPLOAD = {"requestBody": {"required": True}}
"""Every field of the form is optional on its own, but the upload is not: it carries the package."""
IMPORTED = {"model": WorkflowImport, "description": "A dry run: what the import would do (nothing was changed)."}


@router.post(
    "/import",
    dependencies=[access.require(Action.WORKFLOW_CREATE)],
    status_code=201,
    response_model=WorkflowImport,
    responses={200: IMPORTED, **problem_responses(401, 409, 413, 415, 422)},
    openapi_extra=UPLOAD,
)
async def import_workflow(
    package: PackageDep,
    form: Annotated[NewForm, Depends(_new_form)],
    audit: AuditDep,
    services: ServicesDep,
    response: Response,
) -> WorkflowImport:
    """Import a package (multipart: the zip as `package`, or its three files) as a new workflow in the caller's
    workspace: the definition as its draft (deploy it to run it), its description, endpoint settings (push left
    off: an access token is never in a package) and environment variables (a secure one without a value in the
    package is listed as `needs_value`, not created). 409 when the slug is taken."""
    principal = audit.principal
    member = principal.user_id if reads_member_role(principal) else None
    new = importer.NewWorkflow(principal.workspace_id, member, form.slug, form.name, form.dry_run)
    imported = await importer.import_new(audit.uow.conn, package, new, form.base, services)
    made = imported.answer.workflow
    if made is None:
        response.status_code = 200
        return imported.answer
    response.headers["Location"] = f"{form.base}/v1/workflows/{made.slug}"
    origin = imported.answer.report.origin
    described = f"imported workflow {made.slug!r} ({made.name}) from a package of {origin.workflow!r}"
    await audit.record(_entry(made.id, made.slug, described, imported.changes))
    return imported.answer


def _entry(workflow_id: Any, slug: str, description: str, changes: dict[str, Any]) -> Entry:
    return Entry(
        action="workflow.imported",
        description=description,
        target_id=str(workflow_id),
        target_name=slug,
        workflow_id=workflow_id,
        changes=changes,
    )


def _resolutions(raw: str | None) -> dict[str, Resolution]:
    if raw is None or not raw.strip():
        return {}
    try:
        parsed: dict[str, Resolution] = TypeAdapter(dict[str, Resolution]).validate_json(raw)
    except ValidationError as exc:
        message = 'a JSON object {"NAME": "keep" | "overwrite"}'
        details = "; ".join(e["msg"] for e in exc.errors()[:3])
        raise InvalidInput(
            f"resolutions must be {message} ({details})", errors=[{"path": RESOLUTIONS_PATH, "message": message}]
        ) from None
    return parsed


@dataclass(frozen=True, slots=True)
class Target:
    """The workflow an import goes into: as the path names it, as the access policy reads it, and the base of the
    URLs it answers."""

    ref: ScopedRef
    resource: WorkflowResource
    base: str


async def _target(
    workflow: WorkflowPathDep, resource: Annotated[WorkflowResource, Depends(access.workflow)], base: BaseUrlDep
) -> Target:
    return Target(workflow, resource, base)


async def _choices(
    request: Request,
    backup: Annotated[
        bool, Form(description="true: first keep the current draft as `Exported_<Workflow Name>.zip` (its backups).")
    ] = False,
    on_conflict: Annotated[
        OnConflict,
        Form(description="What to do with a variable that differs: `ask` (409 listing them), `keep`, `overwrite`."),
    ] = "ask",
    resolutions: Annotated[
        str | None,
        Form(description='Per variable, overriding `on_conflict`: a JSON object {"NAME": "keep" | "overwrite"}.'),
    ] = None,
    dry_run: DryRun = False,
) -> importer.Choices:
    await check_form(request, EXISTING_FIELDS)
    return importer.Choices(on_conflict, _resolutions(resolutions), dry_run, backup)


@router.post(
    "/{workflow}/import",
    dependencies=[access.require(Action.WORKFLOW_EDIT, on=access.workflow)],
    response_model=WorkflowImport,
    responses=problem_responses(401, 403, 404, 409, 413, 415, 422),
    openapi_extra=UPLOAD,
)
async def import_into_workflow(
    target: Annotated[Target, Depends(_target)],
    package: PackageDep,
    choices: Annotated[importer.Choices, Depends(_choices)],
    audit: AuditDep,
    services: ServicesDep,
) -> WorkflowImport:
    """Import a package (multipart: the zip as `package`, or its three files) as the workflow's draft: deployed
    versions, name, description and endpoint settings are untouched; deploy the draft to run it. Environment
    variables only in the package are added, only in the workflow kept; one that differs (value or secure flag) is a
    conflict, which without a resolution is a 409 `env_conflicts` listing them (secure values redacted), nothing
    changed. `dry_run=true` answers the definition's changes and the variables' fate, changing nothing."""
    conn, principal = audit.uow.conn, audit.principal
    prepared = await importer.prepare(conn, target.ref, package, choices, services.secrets)
    if choices.dry_run:
        return (await importer.dry_run(conn, prepared)).answer
    if prepared.plan.writes:  # as PUT env would need
        access.check(principal, Action.WORKFLOW_MANAGE, target.resource)
    if choices.backup:  # a backup is an export of the draft
        access.check(principal, Action.WORKFLOW_EXPORT, target.resource)
    imported = await importer.apply(conn, prepared, target.base, services.secrets, principal.actor)
    made = imported.answer.workflow
    assert made is not None
    report = imported.answer.report
    described = f"imported a package of {report.origin.workflow!r} as the draft of workflow {made.slug!r}"
    if report.backup is not None:
        described += f", backing up the draft it replaced as {report.backup.file_name!r}"
    await audit.record(_entry(made.id, made.slug, described, imported.changes))
    return imported.answer


@router.get(
    "/{workflow}/backups",
    dependencies=[access.require(Action.WORKFLOW_EXPORT, on=access.workflow)],
    response_model=BackupList,
    responses=problem_responses(401, 403, 404),
)
async def list_backups(workflow: WorkflowPathDep, uow: UowDep) -> BackupList:
    """List the backups of the workflow's drafts that imports replaced, newest first."""
    return await backups.list_backups(uow.conn, workflow)


@router.get(
    "/{workflow}/backups/{backup_id}",
    dependencies=[access.require(Action.WORKFLOW_EXPORT, on=access.workflow)],
    response_class=Response,
    responses={
        200: {
            "description": "The backup: a package (zip) of the draft as it was, secure values left out.",
            "content": {ZIP: {"schema": {"type": "string", "format": "binary"}}},
        },
        **problem_responses(401, 403, 404),
    },
)
async def download_backup(workflow: WorkflowPathDep, backup_id: str, uow: UowDep) -> Response:
    """Download a backup (`Exported_<Workflow Name>.zip`); it imports back like any package."""
    found = await backups.download(uow.conn, workflow, backup_id)
    headers = {"Content-Disposition": content_disposition(found.file_name), "Cache-Control": "no-store"}
    return Response(found.content, media_type=ZIP, headers=headers)
