"""Dashboard pages: the audit log: a workflow's (for whom `workflow.audit` allows) and the workspace's (for whom
`audit.read` allows, with the chain's verification): entries filtered by action, category, actor and time, in
pages."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from workflow_service.access.principal import PrincipalKind
from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import Ui, UiDep
from workflow_service.ui.pages.common import workflow_page
from workflow_service.ui.pages.ops_forms import field_errors, local_time

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


class Filters(BaseModel):
    """What the filter form holds, as typed (times as `datetime-local` values, read in UTC), and the page."""

    action: str = Field("", max_length=200)
    category: str = Field("", max_length=200)
    actor: str = Field("", max_length=200)
    since: str = Field("", max_length=40)
    until: str = Field("", max_length=40)
    cursor: str | None = Field(None, max_length=500)

    def params(self) -> dict[str, Any]:
        """The API's query: times with their offset (`form_problem` when one does not parse)."""
        return {
            "action": self.action.strip() or None,
            "category": self.category or None,
            "actor": self.actor.strip() or None,
            "since": local_time(self.since, "$.since"),
            "until": local_time(self.until, "$.until"),
            "cursor": self.cursor,
            "limit": 50,
        }

    def query(self, **more: str) -> str:
        """The page's own query string with `more` (no cursor unless given)."""
        values = {k: v for k, v in self.model_dump(exclude={"cursor"}).items() if v and v != "workspace"}
        return urlencode(values | more)


class WorkspaceFilters(Filters):
    chain: str = Field("workspace", max_length=20)
    """`deployment`: the operator reads what belongs to no workspace."""


async def _entries(ui: Ui, path: str, filters: Filters, extra: dict[str, Any]) -> dict[str, Any]:
    """One page of the log at `path`, or the problem of the filters (shown at the filter form)."""
    try:
        params = filters.params() | extra
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
        "chain": getattr(filters, "chain", "workspace"),
        "categories": CATEGORIES,
        "actions": ACTIONS,
        "problem": problem,
        "errors": field_errors(problem),
    }


@router.get("/audit")
async def workspace_audit(ui: UiDep, filters: Annotated[WorkspaceFilters, Query()]) -> Response:
    """The workspace's audit log, and whether its chain verifies."""
    page = await _entries(ui, "/v1/audit-log", filters, {"chain": filters.chain})
    report = await ui.api.get("/v1/audit-log/verify", {"chain": filters.chain})
    values = _values(page, filters, ui.url("/ui/audit"))
    status = page["problem"].status if page["problem"] else 200
    is_operator = ui.principal.kind is PrincipalKind.ADMIN
    return ui.render("ops/audit.html", status, **values, report=report, chains=is_operator, workflow=None)


@router.get("/workflows/{ref}/audit")
async def workflow_audit(ref: str, ui: UiDep, filters: Annotated[Filters, Query()]) -> Response:
    """The workflow's audit log."""
    wp = await workflow_page(ui, ref)
    page = await _entries(ui, f"/v1/workflows/{segment(wp.ref)}/audit-log", filters, {})
    values = _values(page, filters, ui.url(f"/ui/workflows/{segment(wp.ref)}/audit"))
    status = page["problem"].status if page["problem"] else 200
    return ui.render("ops/workflow_audit.html", status, **wp.values("audit"), **values)
