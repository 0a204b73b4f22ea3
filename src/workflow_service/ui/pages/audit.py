"""Dashboard pages: the audit log: a workflow's (for whom `workflow.audit` allows) and the workspace's (for whom
`audit.read` allows, with the chain's verification): entries filtered by action, category, actor and time, in
pages."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.responses import Response

from workflow_service.access.principal import PrincipalKind
from workflow_service.ui.api import ApiProblem
from workflow_service.ui.context import Ui, UiDep
from workflow_service.ui.pages.common import workflow_page
from workflow_service.ui.pages.ops_forms import field_errors, local_time, segment

router = APIRouter()

CATEGORIES = (
    "workflow",
    "settings",
    "env",
    "apikey",
    "job",
    "delivery",
    "trigger",
    "schedule",
    "share",
    "member",
    "token",
    "workspace",
    "auth",
)
ACTIONS = (
    "auth.signed_in",
    "auth.signed_out",
    "auth.sign_in_failed",
    "workflow.created",
    "workflow.draft_updated",
    "workflow.deployed",
    "workflow.exported",
    "workflow.imported",
    "workflow.deleted",
    "settings.updated",
    "env.created",
    "env.updated",
    "env.deleted",
    "apikey.created",
    "apikey.revoked",
    "share.granted",
    "share.role_changed",
    "share.revoked",
    "member.added",
    "member.role_changed",
    "member.removed",
    "token.created",
    "token.revoked",
    "job.canceled",
    "job.deleted",
    "job.rerun",
    "schedule.created",
    "schedule.paused",
    "trigger.created",
    "trigger.secret_rotated",
)
"""Suggested in the action filter; any action name may be typed (docs/audit.md lists them all)."""

Text = Annotated[str, Query(max_length=200)]


@dataclass
class Filters:
    """What the filter form holds, as typed (times as `datetime-local` values, read in UTC)."""

    action: str = ""
    category: str = ""
    actor: str = ""
    since: str = ""
    until: str = ""
    chain: str = "workspace"

    def params(self) -> dict[str, Any]:
        """The API's query: times with their offset (`form_problem` when one does not parse)."""
        return {
            "action": self.action.strip() or None,
            "category": self.category or None,
            "actor": self.actor.strip() or None,
            "since": local_time(self.since, "$.since"),
            "until": local_time(self.until, "$.until"),
        }

    def query(self, **more: str) -> str:
        values = {k: v for k, v in asdict(self).items() if v and not (k == "chain" and v == "workspace")}
        return urlencode(values | more)


async def _entries(ui: Ui, path: str, filters: Filters, cursor: str | None, extra: dict[str, Any]) -> dict[str, Any]:
    """One page of the log at `path`, or the problem of the filters (shown at the filter form)."""
    try:
        params = filters.params() | extra | {"cursor": cursor, "limit": 50}
        page: dict[str, Any] = await ui.api.get(path, params)
    except ApiProblem as problem:
        if problem.status != 422:
            raise
        return {"items": [], "next_cursor": None, "problem": problem}
    return page | {"problem": None}


def _values(page: dict[str, Any], filters: Filters, base: str) -> dict[str, Any]:
    problem: ApiProblem | None = page["problem"]
    next_url = f"{base}?{filters.query(cursor=page['next_cursor'])}" if page.get("next_cursor") else None
    return {
        "entries": page["items"],
        "next_url": next_url,
        "filters": filters,
        "filtered": bool(filters.query()),
        "categories": CATEGORIES,
        "actions": ACTIONS,
        "problem": problem,
        "errors": field_errors(problem),
    }


@router.get("/audit")
async def workspace_audit(
    ui: UiDep,
    action: Text = "",
    category: Text = "",
    actor: Text = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    chain: Annotated[str, Query(max_length=20)] = "workspace",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """The workspace's audit log, and whether its chain verifies."""
    filters = Filters(action, category, actor, since, until, chain)
    page = await _entries(ui, "/v1/audit-log", filters, cursor, {"chain": chain})
    report = await ui.api.get("/v1/audit-log/verify", {"chain": chain})
    values = _values(page, filters, ui.url("/ui/audit"))
    status = page["problem"].status if page["problem"] else 200
    is_operator = ui.principal.kind is PrincipalKind.ADMIN
    return ui.render("ops/audit.html", status, **values, report=report, chains=is_operator, workflow=None)


@router.get("/workflows/{ref}/audit")
async def workflow_audit(
    ref: str,
    ui: UiDep,
    action: Text = "",
    category: Text = "",
    actor: Text = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """The workflow's audit log."""
    wp = await workflow_page(ui, ref)
    filters = Filters(action, category, actor, since, until)
    page = await _entries(ui, f"/v1/workflows/{segment(wp.ref)}/audit-log", filters, cursor, {})
    values = _values(page, filters, ui.url(f"/ui/workflows/{segment(wp.ref)}/audit"))
    status = page["problem"].status if page["problem"] else 200
    return ui.render("ops/workflow_audit.html", status, **wp.values("audit"), **values)
