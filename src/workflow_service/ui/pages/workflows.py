"""Dashboard pages: the workflows list, with a new workflow (its name, slug, description and a starter definition)
and the import of a package as a new workflow."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, Field
from starlette.responses import Response

from workflow_service.access.policy import Action
from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import CsrfDep, Ui, UiDep
from workflow_service.ui.pages import definition_text as text_of
from workflow_service.ui.pages.uploads import multipart, read_upload

router = APIRouter()

PAGE_SIZE = 50


def wpath(ref: str, rest: str = "") -> str:
    """The dashboard path of a workflow's page."""
    return f"/ui/workflows/{segment(ref)}{rest}"


def api_path(ref: str, rest: str = "") -> str:
    """The API path of a workflow's resource."""
    return f"/v1/workflows/{segment(ref)}{rest}"


async def _list_page(
    ui: Ui,
    cursor: str | None = None,
    *,
    problem: ApiProblem | None = None,
    form: dict[str, Any] | None = None,
    opened: str | None = None,
) -> Response:
    page = await ui.api.get("/v1/workflows", params={"cursor": cursor, "limit": PAGE_SIZE})
    items: list[dict[str, Any]] = page["items"]
    may_create = await ui.can(Action.WORKFLOW_CREATE)
    runnable: set[str] = set()
    for item in items:
        if item["current_version"] is not None and await ui.can(Action.JOB_SUBMIT, workflow=item["slug"]):
            runnable.add(item["slug"])
    next_url = None
    if page["next_cursor"]:
        next_url = ui.url("/ui/workflows?" + urlencode({"cursor": page["next_cursor"]}))
    starter = form if form is not None else {"definition": text_of.render(text_of.STARTER, "yaml"), "format": "yaml"}
    return ui.render(
        "workflows/list.html",
        problem.status if problem is not None else 200,
        workflows=items,
        runnable=runnable,
        may_create=may_create,
        next_url=next_url,
        problem=problem,
        form=starter,
        opened=opened,
    )


@router.get("/workflows")
async def workflows(ui: UiDep, cursor: str | None = None) -> Response:
    """The workflows the person may see, newest first."""
    return await _list_page(ui, cursor)


class NewWorkflow(BaseModel):
    """The "New workflow" form."""

    name: str = Field("", max_length=1000)
    slug: str = Field("", max_length=1000)
    description: str = Field("", max_length=20_000)
    definition: str = Field("", max_length=2_000_000)
    format: str = Field("yaml", max_length=10)


@router.post("/workflows")
async def create_workflow(ui: CsrfDep, form: Annotated[NewWorkflow, Form()]) -> Response:
    """Create a workflow whose draft is the definition typed (not deployed yet)."""
    fmt = text_of.format_of(form.format)
    typed = {**form.model_dump(), "format": fmt}
    name, slug, description = form.name, form.slug, form.description
    try:
        parsed = text_of.parse(form.definition, fmt)
    except text_of.TextProblem as exc:
        refused = ApiProblem(422, {"detail": f"The definition: {exc.message}", "errors": [exc.as_error()]})
        return await _list_page(ui, problem=refused, form=typed, opened="new")
    body = {"name": name, "slug": slug or None, "description": description or None, "definition": parsed}
    try:
        created = await ui.api.post("/v1/workflows", body)
    except ApiProblem as problem:
        return await _list_page(ui, problem=problem, form=typed, opened="new")
    problems = len(created["draft_problems"])
    note = f" Its draft has {problems} problem(s) to fix before deploying." if problems else " Deploy it to run it."
    return ui.redirect(wpath(created["slug"]) + f"?format={fmt}", f"Workflow “{created['name']}” created.{note}")


@router.post("/workflows/import")
async def import_workflow(
    ui: CsrfDep,
    package: Annotated[UploadFile | None, File()] = None,
    slug: Annotated[str, Form(max_length=1000)] = "",
    name: Annotated[str, Form(max_length=1000)] = "",
    passphrase: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Import a package (a zip) as a new workflow: its draft, settings and environment variables."""
    typed = {"slug": slug, "name": name}
    upload = await read_upload(package)
    if upload is None:
        refused = ApiProblem(422, {"detail": "Choose a package (.zip) to import.", "errors": []})
        return await _list_page(ui, problem=refused, form=None, opened="import")
    fields = {"slug": slug or None, "name": name or None, "passphrase": passphrase or None}
    content, content_type = multipart(fields, [upload])
    answer = await ui.api.call("POST", "/v1/workflows/import", content=content, content_type=content_type)
    if not answer.ok:
        found = answer.json() if answer.body.startswith(b"{") else {}
        problem = ApiProblem(answer.status, found if isinstance(found, dict) else {})
        return await _list_page(ui, problem=problem, form={**typed, "import": True}, opened="import")
    made = answer.json()
    return ui.redirect(wpath(made["workflow"]["slug"]), imported_message(made["workflow"], made["report"]))


def imported_message(workflow: dict[str, Any], report: dict[str, Any]) -> str:
    """What a person should know after an import: what it made and what is left to do."""
    notes = [f"Workflow “{workflow['name']}” imported."]
    needs = report.get("env", {}).get("needs_value") or []
    if needs:
        notes.append(f"Set the secure variable(s) {', '.join(needs)} in Configurations.")
    if report.get("push_left_disabled"):
        notes.append("Push was left off: give it an access token and enable it in Configurations.")
    if report.get("draft_problems"):
        notes.append(f"Its draft has {len(report['draft_problems'])} problem(s) to fix before deploying.")
    else:
        notes.append("Deploy it to run it.")
    return " ".join(notes)
