"""Dashboard pages: the jobs list (My jobs, and All jobs for whom the policy allows it): search, filters, sortable
columns, pages; deleting several jobs at once; and the small JSON its script polls while rows are active."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query
from markupsafe import Markup
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from workflow_service.access.policy import Action
from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import CsrfDep, Ui, UiDep
from workflow_service.ui.render import ACTIVE, ENVIRONMENT, duration, status_label, when

router = APIRouter()

STATUSES = ["new", "pending", "claimed", "running", "validating", "uploading", "completed", "failed", "canceled"]
ORIGINS = ["api", "rerun", "run_from_step", "duplicate", "child", "schedule", "trigger"]
ROW_ACTIONS = [Action.JOB_RERUN, Action.JOB_DELETE, Action.JOB_CANCEL]


@dataclass(frozen=True)
class Column:
    """A sortable column: its header, the API's sort key, and the direction of its first click."""

    key: str
    label: str
    sort: str
    descending_first: bool
    numeric: bool = False


COLUMNS = [
    Column("name", "Name", "name", False),
    Column("workflow", "Workflow", "workflow", False),
    Column("status", "Status", "status", False),
    Column("created", "Created", "created", True),
    Column("updated", "Last updated", "updated", True),
    Column("completed", "Last completed", "finished", True),
    Column("steps", "Steps", "steps", True, numeric=True),
    Column("duration", "Duration", "duration", True, numeric=True),
]


@dataclass(frozen=True)
class Listing:
    """What the person asked the list for (the query string of /ui/jobs)."""

    tab: str
    q: str
    workflow: str
    statuses: list[str]
    origin: str
    sort: str
    cursor: str

    def params(self, **changes: Any) -> list[tuple[str, str]]:
        values = {
            "tab": self.tab,
            "q": self.q,
            "workflow": self.workflow,
            "origin": self.origin,
            "sort": self.sort,
            "cursor": self.cursor,
        }
        values.update(changes)
        pairs = [(k, str(v)) for k, v in values.items() if v and not (k == "tab" and v == "mine")]
        pairs += [("status", s) for s in self.statuses]
        return pairs

    def url(self, ui: Ui, **changes: Any) -> str:
        query = urlencode(self.params(**changes))
        return ui.url("/ui/jobs") + (f"?{query}" if query else "")

    def headers(self, ui: Ui) -> list[dict[str, Any]]:
        """Each column's header: its link (sorting by it, or the other way when it is the sort) and aria-sort."""
        shown = []
        for column in COLUMNS:
            current = self.sort.lstrip("-") == column.sort
            descending = self.sort.startswith("-")
            if current:
                target = column.sort if descending else f"-{column.sort}"
            else:
                target = f"-{column.sort}" if column.descending_first else column.sort
            aria = ("descending" if descending else "ascending") if current else None
            shown.append(
                {"column": column, "url": self.url(ui, sort=target, cursor=""), "aria_sort": aria, "current": current}
            )
        return shown


STATUS_BADGE = ENVIRONMENT.from_string('{% from "macros.html" import status %}{{ status(value) }}')


def row_values(job: dict[str, Any]) -> dict[str, str]:
    """The cells of a row that change while the job runs, as HTML (the row script swaps them in)."""
    return {
        "status": STATUS_BADGE.render(value=job["status"]),
        "updated": str(when(job.get("updated_at"))),
        "completed": str(completed_cell(job)),
        "duration": duration(job.get("duration")),
    }


def completed_cell(job: dict[str, Any]) -> Markup:
    """When the job completed; for one that ended otherwise, how and when (it sorts with them by its end)."""
    if job["status"] == "completed":
        return when(job.get("finished_at"))
    if job.get("finished_at"):
        return Markup('<span class="muted">{} {}</span>').format(status_label(job["status"]), when(job["finished_at"]))
    return Markup('<span class="muted">—</span>')


async def workflows_seen(ui: Ui) -> list[dict[str, Any]]:
    """The workflows the person sees (for the filter and the new job form)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(5):  # at most 1000: the select is a filter, not a catalogue
        page = await ui.api.get("/v1/workflows", {"limit": 200, "cursor": cursor})
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return sorted(items, key=lambda w: str(w.get("name") or w["slug"]).lower())


class JobsQuery(BaseModel):
    """The query string of /ui/jobs."""

    tab: str = Field("mine", max_length=10)
    q: str = Field("", max_length=200)
    workflow: str = Field("", max_length=200)
    status: list[Annotated[str, Field(max_length=20)]] = Field(default_factory=list, max_length=20)
    origin: str = Field("", max_length=20)
    sort: str = Field("-created", max_length=20)
    cursor: str = Field("", max_length=2000)


@router.get("/jobs")
async def jobs_list(ui: UiDep, query: Annotated[JobsQuery, Query()]) -> Response:
    """The jobs list: the person's own jobs, or everyone's (All jobs) for workspace owners and admins."""
    tab, cursor = query.tab, query.cursor
    q, workflow, status, origin, sort = query.q, query.workflow, query.status, query.origin, query.sort
    may_list_all = await ui.can(Action.JOB_LIST_ALL)
    listing = Listing(
        "all" if tab == "all" and may_list_all else "mine", q, workflow, status or [], origin, sort, cursor
    )
    params: list[tuple[str, Any]] = [("scope", listing.tab), ("limit", 50)]
    params += [(k, v) for k, v in listing.params() if k not in ("tab",)]
    problem: ApiProblem | None = None
    try:
        page: dict[str, Any] = await ui.api.get("/v1/jobs", params)
    except ApiProblem as refused:
        if refused.status >= 500:
            raise
        problem, page = refused, {"items": [], "next_cursor": None}
    allowed = await ui.allowed_on_jobs(ROW_ACTIONS, [str(job["id"]) for job in page["items"]])
    rows = [{"job": job, "allowed": allowed[str(job["id"])], "completed": completed_cell(job)} for job in page["items"]]
    next_url = listing.url(ui, cursor=page["next_cursor"]) if page.get("next_cursor") else None
    return ui.render(
        "jobs/list.html",
        problem.status if problem else 200,
        listing=listing,
        headers=listing.headers(ui),
        rows=rows,
        may_delete_any=any("job.delete" in row["allowed"] for row in rows),
        next_url=next_url,
        back_url=listing.url(ui),
        first_url=listing.url(ui, cursor="") if cursor else None,
        may_list_all=may_list_all,
        workflows=await workflows_seen(ui),
        statuses=STATUSES,
        origins=ORIGINS,
        problem=problem,
        tabs={"mine": listing.url(ui, tab="mine", cursor=""), "all": listing.url(ui, tab="all", cursor="")},
    )


@router.get("/jobs/rows")
async def jobs_rows(ui: UiDep, id: Annotated[list[str] | None, Query(max_length=64)] = None) -> JSONResponse:
    """The live cells of the rows `id` names (at most 50): status, last updated, last completed, duration; a job
    that is gone or hidden is left out."""
    items = []
    for job_id in (id or [])[:50]:
        try:
            job = await ui.api.get(f"/v1/jobs/{segment(job_id)}", {"steps": False})
        except ApiProblem as problem:
            if problem.status >= 500:
                raise
            continue
        items.append({"id": job["id"], "active": job["status"] in ACTIVE, **row_values(job)})
    return JSONResponse({"items": items})


@router.post("/jobs/delete")
async def delete_selected(
    ui: CsrfDep, ids: Annotated[list[str] | None, Form(max_length=64)] = None, back: Annotated[str, Form()] = ""
) -> Response:
    """Delete the selected jobs (one API call checking each), and say what became of each."""
    target = back if back.startswith(ui.url("/ui/jobs")) else ui.url("/ui/jobs")
    target = target.removeprefix(ui.url(""))
    if not ids:
        return ui.redirect(target, "Select the jobs to delete first.", "error")
    answer = await ui.api.post("/v1/jobs/delete", {"ids": ids})
    results: list[dict[str, Any]] = answer["results"]
    deleted = [r for r in results if r["status"] == "deleted"]
    others = [r for r in results if r["status"] != "deleted"]
    message = f"{len(deleted)} job{'s' if len(deleted) != 1 else ''} deleted."
    if others:
        reasons = "; ".join(
            f"{r['id'][:8]}…: {r['status'].replace('_', ' ')} ({r.get('detail') or ''})" for r in others
        )
        message += f" Not deleted: {reasons}"
    return ui.redirect(target, message, "error" if others else "ok")
