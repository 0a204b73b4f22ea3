"""Importing a package that reader.py has checked: as a new workflow, or as the draft of an existing one.

A new workflow gets the package's definition as its draft (never deployed: it must be deployed to run), its name
and description, its endpoint settings (through the settings' own update, so that a callback URL the outbound
policy refuses is refused here too) and its environment variables (secure ones encrypted at rest as PUT env does;
one the package has no value for is not created, and is listed as `needs_value`).

An existing workflow gets the package's definition as its draft, and nothing else of its own changes: its name,
description and endpoint settings stay, and its deployed versions are never touched. Its environment variables
are merged as conflicts.py says; a conflict left unresolved changes nothing (409). It may first back up the draft
it replaces (backups.py).

Everything happens in the caller's transaction; a dry run reads and changes nothing, and answers what would be
done."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.context import Context
from workflow_service.core.db import AnyRow
from workflow_service.core.secrets import Secrets, SecretsError
from workflow_service.engine.definition import content_hash
from workflow_service.errors import Conflict, InvalidInput, NotFound, ProblemItem, json_path
from workflow_service.packages import backups
from workflow_service.packages import conflicts as env_rules
from workflow_service.packages.conflicts import EnvPlan, OnConflict, Resolution, Variable
from workflow_service.packages.diff import diff
from workflow_service.packages.errors import InvalidPackageFile
from workflow_service.packages.reader import Package
from workflow_service.packages.schemas import BackupRead, EnvReport, ImportReport, PackageOrigin, WorkflowImport
from workflow_service.packages.spec import APP_FILE
from workflow_service.workflows import env, service
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows import settings as endpoint_settings
from workflow_service.workflows.refs import ScopedRef
from workflow_service.workflows.schemas import DraftUpdate, WorkflowCreate


@dataclass(frozen=True, slots=True)
class Imported:
    """What an import answers, and what it changed, for its audit entry (secure values redacted)."""

    answer: WorkflowImport
    changes: dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Draft:
    """A workflow as definition_problems reads it, with the draft it would have."""

    id: uuid.UUID | None
    slug: str
    workspace_id: uuid.UUID
    draft: dict[str, Any]


def incoming(package: Package) -> list[Variable]:
    """The package's variables, secure values decrypted (None: not carried)."""
    return [
        Variable(v.name, package.secure_values.get(v.name) if v.secure else v.value, v.secure, v.notes)
        for v in package.env.variables
    ]


def _origin(package: Package) -> PackageOrigin:
    source = package.app.source
    return PackageOrigin(workflow=source.workflow, version=source.version, format_version=package.app.format_version)


def _env_report(plan: EnvPlan) -> EnvReport:
    return EnvReport(
        added=[v.name for v in plan.added],
        overwritten=[v.name for v in plan.overwritten],
        kept=plan.kept,
        needs_value=plan.needs_value,
        conflicts=plan.conflicts,
    )


def settings_update(package: Package) -> endpoint_settings.SettingsUpdate:
    """The package's endpoint settings as an update of a new workflow's: push is never enabled by an import (its
    access token is never in a package)."""
    settings = package.app.settings
    fields: dict[str, Any] = {
        "sync_timeout_s": settings.sync_timeout_s,
        "push": {"timeout_s": settings.push.timeout_s},
    }
    if settings.queue_timeout_s is not None:
        fields["queue_timeout_s"] = settings.queue_timeout_s
    if settings.retention_days is not None:
        fields["retention_days"] = settings.retention_days
    if settings.push.callback_url is not None:
        fields["push"]["callback_url"] = settings.push.callback_url
    try:
        return endpoint_settings.SettingsUpdate.model_validate(fields)
    except ValidationError as exc:
        items = [
            {"path": f"{APP_FILE}:{json_path(('settings', *e['loc']))}", "message": e["msg"]} for e in exc.errors()
        ]
        raise InvalidPackageFile(
            f"{APP_FILE}: its endpoint settings are not valid here: "
            + "; ".join(f"{i['path']}: {i['message']}" for i in items[:5]),
            errors=items,
        ) from None


async def _write_env(
    conn: AsyncConnection, ref: ScopedRef, plan: EnvPlan, secrets: Secrets
) -> dict[str, dict[str, Any]]:
    """Write the plan's variables as PUT env writes them; what changed, by `env.<NAME>.<field>`."""
    found: dict[str, dict[str, Any]] = {}
    for variable in plan.writes:
        assert variable.value is not None
        data = env.EnvVarWrite(value=variable.value, secure=variable.secure, notes=variable.notes)
        written = await env.put_var(conn, ref, variable.name, data, secrets)
        found |= {f"env.{variable.name}.{field}": change for field, change in written.changes.items()}
    return found


@dataclass(frozen=True, slots=True)
class NewWorkflow:
    """Where the new workflow goes (its workspace; a workspace member who imports it is made its owner), its slug
    and name when not the package's (default: the package's name, and a slug made from it), and whether this is a
    dry run."""

    workspace_id: uuid.UUID
    member: uuid.UUID | None = None
    slug: str | None = None
    name: str | None = None
    dry_run: bool = False


async def import_new(
    conn: AsyncConnection, package: Package, new: NewWorkflow, base_url: str, services: Context
) -> Imported:
    """Create a workflow from the package (or, for a dry run, check that it would be created, and how)."""
    policy, secrets = services.policy, services.secrets
    try:
        data = WorkflowCreate(
            name=new.name or package.app.name,
            slug=new.slug,
            description=package.app.description,
            definition=package.definition,
        )
    except ValidationError as exc:
        errors = [{"path": f"form:{e['loc'][0]}", "message": e["msg"]} for e in exc.errors()]
        raise InvalidInput("; ".join(f"{e['path']}: {e['message']}" for e in errors), errors=errors) from None
    update = settings_update(package)
    plan = env_rules.plan({}, incoming(package), "ask", {})
    slug = data.slug or service.slugify(data.name)
    if new.dry_run:
        await endpoint_settings.apply({}, update, policy, secrets)  # a callback URL the policy refuses: 422
        if await workflow_repo.get(conn, ScopedRef(slug, new.workspace_id)) is not None:
            raise Conflict(f"a workflow with slug {slug!r} already exists", slug=slug)
        _, problems = await service.definition_problems(conn, _Draft(None, slug, new.workspace_id, data.definition))
        return Imported(WorkflowImport(workflow=None, report=_report(package, plan, problems, dry_run=True)), {})
    made = await service.create(conn, data, base_url, service.Creator(new.workspace_id, new.member))
    ref = ScopedRef(str(made.id), new.workspace_id)
    settings = await service.update_settings(conn, ref, update, policy, secrets)
    changes: dict[str, dict[str, Any]] = {
        "slug": {"before": None, "after": made.slug},
        "name": {"before": None, "after": made.name},
        "content_hash": {"before": None, "after": content_hash(data.definition)},
        **{f"settings.{field}": change for field, change in settings.changes.items()},
        **await _write_env(conn, ref, plan, secrets),
    }
    workflow = await service.get(conn, ref, base_url)
    report = _report(package, plan, workflow.draft_problems, dry_run=False)
    return Imported(WorkflowImport(workflow=workflow, report=report), changes)


def _report(package: Package, plan: EnvPlan, problems: list[ProblemItem], *, dry_run: bool) -> ImportReport:
    """The report of an import as a new workflow."""
    return ImportReport(
        dry_run=dry_run,
        origin=_origin(package),
        definition=None,
        draft_problems=problems,
        env=_env_report(plan),
        settings_applied=True,
        push_left_disabled=package.app.settings.push.enabled,
        backup=None,
    )


def _report_into(prepared: Prepared, problems: list[ProblemItem], backup: BackupRead | None = None) -> ImportReport:
    """The report of an import into an existing workflow: how its draft changes; its settings stay."""
    package = prepared.package
    report = _report(package, prepared.plan, problems, dry_run=prepared.choices.dry_run)
    changed = {
        "definition": diff(prepared.row.draft, package.definition),
        "settings_applied": False,
        "push_left_disabled": False,
        "backup": backup,
    }
    return report.model_copy(update=changed)


@dataclass(frozen=True, slots=True)
class Choices:
    """How an import into an existing workflow goes: its conflicts' resolutions, a dry run, a backup first."""

    on_conflict: OnConflict = "ask"
    resolutions: Mapping[str, Resolution] | None = None
    dry_run: bool = False
    backup: bool = False


@dataclass(frozen=True, slots=True)
class Prepared:
    """An import into an existing workflow, worked out (its row locked): what it will do."""

    ref: ScopedRef
    row: AnyRow
    package: Package
    plan: EnvPlan
    choices: Choices


async def prepare(
    conn: AsyncConnection, ref: ScopedRef, package: Package, choices: Choices, secrets: Secrets
) -> Prepared:
    """Lock the workflow and work out the import; 409 `env_conflicts` for a conflict left unresolved, unless a dry
    run (which lists it)."""
    row = await workflow_repo.get(conn, ref, for_update=True)
    if row is None:
        raise NotFound(f"workflow {ref!r} does not exist")
    rows = await workflow_repo.list_env_vars(conn, row.id)
    existing = {r.name: Variable(r.name, _stored(r, secrets), r.secure, r.notes) for r in rows}
    plan = env_rules.plan(existing, incoming(package), choices.on_conflict, choices.resolutions or {})
    if not choices.dry_run:
        plan.refuse_unresolved()
    return Prepared(ref, row, package, plan, choices)


def _stored(row: AnyRow, secrets: Secrets) -> str | None:
    """A variable's value, a secure one decrypted (None when the service cannot: it then differs from any)."""
    if not row.secure:
        value: str = row.value
        return value
    try:
        return secrets.decrypt(row.value)
    except SecretsError:
        return None


async def dry_run(conn: AsyncConnection, prepared: Prepared) -> Imported:
    """What the import would do, changing nothing."""
    row, package = prepared.row, prepared.package
    draft = _Draft(row.id, row.slug, row.workspace_id, package.definition)
    _, problems = await service.definition_problems(conn, draft)
    return Imported(WorkflowImport(workflow=None, report=_report_into(prepared, problems)), {})


async def apply(conn: AsyncConnection, prepared: Prepared, base_url: str, secrets: Secrets, actor: str) -> Imported:
    """Back the draft up when asked, replace it with the package's, merge the variables."""
    ref, row, package = prepared.ref, prepared.row, prepared.package
    changes: dict[str, dict[str, Any]] = {}
    backup = None
    if prepared.choices.backup:
        backup = await backups.create(conn, ref, row.id, secrets, actor)
        changes["backup"] = {"before": None, "after": backup.file_name}
    updated = await service.update_draft(conn, ref, DraftUpdate(definition=package.definition), base_url)
    changes |= updated.changes
    changes |= await _write_env(conn, ref, prepared.plan, secrets)
    workflow = await service.get(conn, ref, base_url)
    report = _report_into(prepared, workflow.draft_problems, backup)
    return Imported(WorkflowImport(workflow=workflow, report=report), changes)
