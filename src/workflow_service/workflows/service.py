"""Workflow rules: drafts may be anything; only a valid draft deploys, as a new immutable version."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.audit.redact import Changed, changes
from workflow_service.core.clock import utcnow
from workflow_service.core.http import OutboundPolicy
from workflow_service.core.ids import parse_uuid, uuid7
from workflow_service.core.pagination import decode_cursor, encode_cursor
from workflow_service.core.secrets import Secrets
from workflow_service.engine.definition import Plan, PlanCache, compile_definition, content_hash
from workflow_service.errors import Conflict, InvalidDefinition, InvalidInput, NotDeployed, NotFound, ProblemItem
from workflow_service.people import repository as people_repo
from workflow_service.workflows import repository as repo
from workflow_service.workflows import settings as endpoint_settings
from workflow_service.workflows.refs import ScopedRef
from workflow_service.workflows.schemas import (
    DraftUpdate,
    Endpoints,
    ValidationReport,
    VersionList,
    VersionRead,
    VersionSummary,
    WorkflowCreate,
    WorkflowPage,
    WorkflowRead,
    WorkflowRef,
    WorkflowSummary,
)


def slugify(name: str) -> str:
    """A URL name from a workflow's name: accents dropped (`Résumé` -> `resume`), anything else not a letter or
    a digit a dash; `workflow` when nothing is left (a name in another script)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64].strip("-")
    return slug or "workflow"


def endpoints(base_url: str, slug: str, version: int | str) -> Endpoints:
    at = f"{base_url}/v1/workflows/{slug}/versions/{version}"
    return Endpoints(sync=f"{at}/sync", async_=f"{at}/async", push=f"{at}/push", estimate=f"{at}/estimate")


async def definition_problems(conn: AsyncConnection, row: Any) -> tuple[Plan | None, list[ProblemItem]]:
    """compile_definition, plus what needs the database: every `workflow` step must name a deployed
    workflow (a draft cannot run) other than this one, and a deployed version if it names one."""
    plan, problems = compile_definition(row.draft)
    raw_steps = row.draft.get("steps") if isinstance(row.draft, dict) else None
    for i, step in enumerate(raw_steps if isinstance(raw_steps, list) else []):
        if not (isinstance(step, dict) and step.get("type") == "workflow" and isinstance(step.get("workflow"), str)):
            continue
        where, target = f"$.steps[{i}].workflow", step["workflow"]
        if target in (row.slug, str(row.id)):
            problems.append(ProblemItem(path=where, message="a workflow cannot run itself as a step"))
            continue
        found = await repo.get(conn, ScopedRef(target, row.workspace_id))
        if found is None:
            problems.append(ProblemItem(path=where, message=f"there is no workflow {target!r}"))
        elif found.current_version is None:
            problems.append(
                ProblemItem(path=where, message=f"workflow {target!r} has never been deployed; a draft cannot be run")
            )
        elif str(step.get("version", "current")).isdigit():
            number = int(step["version"])
            if await repo.get_version(conn, found.id, number) is None:
                problems.append(
                    ProblemItem(path=f"$.steps[{i}].version", message=f"workflow {target!r} has no version {number}")
                )
    return (plan if not problems else None), problems


async def _read(conn: AsyncConnection, row: Any, base_url: str) -> WorkflowRead:
    _, problems = await definition_problems(conn, row)
    eps = endpoints(base_url, row.slug, row.current_version) if row.current_version else None
    return WorkflowRead(
        id=row.id,
        slug=row.slug,
        name=row.name,
        description=row.description,
        current_version=row.current_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        draft=row.draft,
        draft_problems=problems,
        endpoints=eps,
    )


async def _get(conn: AsyncConnection, ref: ScopedRef, *, for_update: bool = False) -> Any:
    row = await repo.get(conn, ref, for_update=for_update)
    if row is None:
        raise NotFound(f"workflow {ref!r} does not exist")
    return row


@dataclass(frozen=True, slots=True)
class Creator:
    """Who creates a workflow: the workspace it goes in, and the user made its owner (a workspace member who is
    not an owner or admin of the workspace, who would not otherwise see it)."""

    workspace_id: uuid.UUID
    member: uuid.UUID | None = None


async def create(conn: AsyncConnection, data: WorkflowCreate, base_url: str, creator: Creator) -> WorkflowRead:
    """Create a workflow with a draft definition (not yet deployed)."""
    slug = data.slug or slugify(data.name)
    if parse_uuid(slug) is not None:
        raise InvalidInput("a slug cannot look like an id", errors=[{"path": "$.slug", "message": "looks like a UUID"}])
    now = utcnow()
    values = {
        "id": uuid7(),
        "workspace_id": creator.workspace_id,
        "slug": slug,
        "name": data.name,
        "description": data.description,
        "draft": data.definition,
        "current_version": None,
        "created_at": now,
        "updated_at": now,
    }
    try:
        async with conn.begin_nested():
            await repo.insert(conn, values)
    except sa.exc.IntegrityError as exc:
        raise Conflict(f"a workflow with slug {slug!r} already exists", slug=slug) from exc
    if creator.member is not None:
        await people_repo.insert_workflow_member(
            conn,
            {"id": uuid7(), "workflow_id": values["id"], "user_id": creator.member, "role": "owner", "created_at": now},
        )
    return await _read(conn, await _get(conn, ScopedRef(str(values["id"]), creator.workspace_id)), base_url)


async def get(conn: AsyncConnection, ref: ScopedRef, base_url: str) -> WorkflowRead:
    """One workflow with its draft and the draft's problems."""
    return await _read(conn, await _get(conn, ref), base_url)


async def list_page(conn: AsyncConnection, visible: repo.Visible, cursor: str | None, limit: int) -> WorkflowPage:
    """The workflows `visible` shows, newest first."""
    rows = await repo.list_page(conn, visible, decode_cursor(cursor), limit + 1)
    items = [WorkflowSummary.model_validate(r, from_attributes=True) for r in rows[:limit]]
    return WorkflowPage(items=items, next_cursor=encode_cursor(rows[limit - 1].id) if len(rows) > limit else None)


async def update_draft(
    conn: AsyncConnection, ref: ScopedRef, data: DraftUpdate, base_url: str
) -> Changed[WorkflowRead]:
    """Replace the draft, and the name and description when given. A draft may be invalid; it just cannot be
    deployed until it is fixed. What changed is the draft's content hash (the definitions themselves are the
    workflow's, not the audit log's), the name and the description."""
    row = await _get(conn, ref, for_update=True)
    if data.slug is not None and data.slug != row.slug:
        message = f"this workflow's slug is {row.slug!r}; a draft update cannot rename it"
        raise InvalidInput(message, errors=[{"path": "$.slug", "message": message}])
    named: dict[str, Any] = {k: getattr(data, k) for k in ("name", "description") if k in data.model_fields_set}
    if named.get("name", "") is None:
        raise InvalidInput("a workflow's name cannot be null", errors=[{"path": "$.name", "message": "null"}])
    definition = data.definition
    await repo.update(conn, row.id, {"draft": definition, **named, "updated_at": utcnow()})
    workflow = await _read(conn, await _get(conn, ScopedRef(str(row.id), ref.workspace_id)), base_url)
    before = {"content_hash": content_hash(row.draft)} | {key: getattr(row, key) for key in named}
    after = {"content_hash": content_hash(definition)} | named
    return Changed(workflow, changes(before, after))


async def validate(conn: AsyncConnection, ref: ScopedRef) -> ValidationReport:
    """Check the draft without deploying it."""
    row = await _get(conn, ref)
    _, problems = await definition_problems(conn, row)
    return ValidationReport(valid=not problems, problems=problems)


async def deploy(conn: AsyncConnection, ref: ScopedRef, base_url: str) -> Changed[VersionRead]:
    """Freeze the draft as the next version and point `current` at it; what changed is `current_version`."""
    row = await _get(conn, ref, for_update=True)
    plan, problems = await definition_problems(conn, row)
    if plan is None:
        raise InvalidDefinition(
            f"the draft has {len(problems)} problem(s) and cannot be deployed",
            errors=[p.model_dump() for p in problems],
        )
    number = await repo.max_version(conn, row.id) + 1
    now = utcnow()
    values = {
        "id": uuid7(),
        "workflow_id": row.id,
        "number": number,
        "definition": row.draft,
        "content_hash": content_hash(row.draft),
        "created_at": now,
    }
    await repo.insert_version(conn, values)
    await repo.update(conn, row.id, {"current_version": number, "updated_at": now})
    version = VersionRead(
        number=number,
        content_hash=values["content_hash"],
        created_at=now,
        workflow=WorkflowRef(id=row.id, slug=row.slug),
        definition=row.draft,
        endpoints=endpoints(base_url, row.slug, number),
    )
    return Changed(version, changes({"current_version": row.current_version}, {"current_version": number}))


MAX_VERSION = 2**31 - 1


def parse_version(version: str) -> int | None:
    """`current` -> None, a positive number -> itself; anything else is a 422."""
    if version == "current":
        return None
    # ASCII digits only ("²".isdigit() is true), short enough for int() and within the INTEGER column.
    if version.isascii() and version.isdigit() and len(version) <= 10 and 0 < int(version) <= MAX_VERSION:
        return int(version)
    raise InvalidInput(
        f"version must be 'current' or a number from 1 to {MAX_VERSION}, not {version!r}",
        errors=[{"path": "path:version", "message": "expected a number or 'current'"}],
    )


async def list_versions(conn: AsyncConnection, ref: ScopedRef) -> VersionList:
    """Deployed versions, newest first."""
    row = await _get(conn, ref)
    return VersionList(
        items=[VersionSummary.model_validate(v, from_attributes=True) for v in await repo.list_versions(conn, row.id)]
    )


async def get_version(conn: AsyncConnection, ref: ScopedRef, version: str, base_url: str) -> VersionRead:
    """One deployed version with its frozen definition."""
    row = await _get(conn, ref)
    number = parse_version(version)
    if number is None:
        if row.current_version is None:
            raise NotDeployed(f"workflow {row.slug!r} has never been deployed")
        number = row.current_version
    v = await repo.get_version(conn, row.id, number)
    if v is None:
        raise NotFound(f"workflow {row.slug!r} has no version {number}")
    return VersionRead(
        number=v.number,
        content_hash=v.content_hash,
        created_at=v.created_at,
        workflow=WorkflowRef(id=row.id, slug=row.slug),
        definition=v.definition,
        endpoints=endpoints(base_url, row.slug, v.number),
    )


@dataclass(slots=True)
class Target:
    """What a submission runs: a workflow's version and its compiled plan."""

    workflow_id: uuid.UUID
    workspace_id: uuid.UUID
    slug: str
    version_id: uuid.UUID
    number: int
    plan: Plan
    settings: dict[str, Any]


async def plan_for(conn: AsyncConnection, plans: PlanCache, version_id: uuid.UUID) -> Plan:
    plan = plans.get(version_id)
    if plan is None:
        row = await repo.get_definition(conn, version_id)
        if row is None:
            raise NotFound(f"version {version_id} does not exist")
        plan = plans.put(version_id, row.definition)
    return plan


async def resolve_target(conn: AsyncConnection, plans: PlanCache, ref: ScopedRef, version: str) -> Target:
    """The version a job will be locked to: `current` is resolved now, at submission."""
    number = parse_version(version)
    return await target_of(conn, plans, ref, number, await repo.resolve_for_submit(conn, ref, number))


async def target_of(conn: AsyncConnection, plans: PlanCache, ref: ScopedRef, number: int | None, row: Any) -> Target:
    """The Target of `repo.resolve_for_submit`'s `row` for `ref` and `number`, or why there is none."""
    if row is None:
        raise NotFound(f"workflow {ref!r} does not exist")
    if row.current_version is None:
        raise NotDeployed(f"workflow {row.slug!r} has never been deployed, so it has no endpoints; deploy it first")
    if row.version_id is None:
        raise NotFound(f"workflow {row.slug!r} has no version {number}")
    plan = await plan_for(conn, plans, row.version_id)
    return Target(row.workflow_id, row.workspace_id, row.slug, row.version_id, row.number, plan, row.settings or {})


async def _settings_read(
    conn: AsyncConnection, row: Any, stored: dict[str, Any], secret: str | None = None
) -> endpoint_settings.SettingsRead:
    """The settings `stored` of the workflow `row` as shown (the retention that applies needs its workspace's)."""
    retention = await repo.workspace_retention(conn, row.workspace_id)
    return endpoint_settings.read(stored, secret, workspace_retention=retention)


async def get_settings(conn: AsyncConnection, ref: ScopedRef) -> endpoint_settings.SettingsRead:
    """The workflow's endpoint settings."""
    row = await _get(conn, ref)
    return await _settings_read(conn, row, row.settings or {})


async def update_settings(
    conn: AsyncConnection,
    ref: ScopedRef,
    update: endpoint_settings.SettingsUpdate,
    policy: OutboundPolicy,
    secrets: Secrets,
) -> SettingsChanged:
    """Apply a partial update; the callback URL must pass the outbound policy now (and again at send time)."""
    row = await _get(conn, ref, for_update=True)
    new, secret = await endpoint_settings.apply(row.settings or {}, update, policy, secrets)
    await repo.update(conn, row.id, {"settings": new, "updated_at": utcnow()})
    return await _settings_changed(conn, row, new, secret)


async def rotate_signing_secret(conn: AsyncConnection, ref: ScopedRef, secrets: Secrets) -> SettingsChanged:
    """A new signing secret, shown once; the old one stays valid for 24 h. Push need not be enabled: the
    secret also signs the notices of jobs submitted with their own `notify_url` (the first one is made so)."""
    row = await _get(conn, ref, for_update=True)
    new, secret = endpoint_settings.rotate(row.settings or {}, secrets)
    await repo.update(conn, row.id, {"settings": new, "updated_at": utcnow()})
    return await _settings_changed(conn, row, new, secret)


@dataclass(frozen=True, slots=True)
class SettingsChanged:
    """A workflow's settings changed: the workflow, its settings as they now read (with a new signing secret, to
    be shown once), and what changed (`settings.changes`: the access token and signing secrets redacted)."""

    workflow: WorkflowRef
    settings: endpoint_settings.SettingsRead
    changes: dict[str, dict[str, Any]]


async def _settings_changed(
    conn: AsyncConnection, row: Any, new: dict[str, Any], secret: str | None
) -> SettingsChanged:
    read = await _settings_read(conn, row, new, secret)
    return SettingsChanged(WorkflowRef(id=row.id, slug=row.slug), read, endpoint_settings.changes(row.settings, new))
