"""Dashboard pages: a workflow's overview: the deployed version read-only, the draft editor (YAML or JSON) with
Save draft, Validate and Deploy, each problem at its path and line; its versions; deleting it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import Response

from workflow_service.access.policy import Action
from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import CsrfDep, Ui, UiDep
from workflow_service.ui.pages import definition_text as text_of
from workflow_service.ui.pages.common import WorkflowPage, workflow_page
from workflow_service.ui.pages.workflows import api_path, wpath

router = APIRouter()

DO = ("save", "validate", "deploy")


@dataclass(frozen=True)
class After:
    """What an action leaves on the page it renders again: the text typed, the problem, the errors to place on
    the text's lines (else the problem's, else the stored draft's), whether it validated, a dialog to open."""

    typed: str | None = None
    problem: ApiProblem | None = None
    errors: list[dict[str, Any]] | None = None
    validated: bool = False
    opened: str | None = None


async def overview_page(ui: Ui, wp: WorkflowPage, fmt: text_of.Format = "yaml", after: After = After()) -> Response:
    """The overview; after an action, with what was typed kept and the action's problems placed on its lines."""
    ref = wp.ref
    typed, problem, errors = after.typed, after.problem, after.errors
    versions: list[dict[str, Any]] = (await ui.api.get(api_path(ref, "/versions")))["items"]
    deployed = None
    if wp.workflow["current_version"] is not None:
        deployed = await ui.api.get(api_path(ref, "/versions/current"))
    text = typed if typed is not None else text_of.render(wp.workflow["draft"], fmt)
    if errors is None and problem is not None:
        errors = problem.errors
    shown = text_of.located(errors if errors is not None else wp.workflow["draft_problems"], text)
    status = problem.status if problem is not None else 200
    return ui.render(
        "workflows/overview.html",
        status,
        **wp.values("overview"),
        fmt=fmt,
        text=text,
        deployed=deployed,
        deployed_text=text_of.render(deployed["definition"], fmt) if deployed else None,
        draft_text=text_of.render(wp.workflow["draft"], fmt),
        versions=versions,
        editable=wp.may(Action.WORKFLOW_EDIT),
        deletable=wp.may(Action.WORKFLOW_DELETE),
        problem=problem,
        errors=shown,
        validated=after.validated,
        opened=after.opened,
    )


@router.get("/workflows/{ref}")
async def overview(ref: str, ui: UiDep, format: str | None = None) -> Response:
    """A workflow: its deployed version, its draft (the editor, for editors), its versions."""
    wp = await workflow_page(ui, ref)
    return await overview_page(ui, wp, text_of.format_of(format))


@router.post("/workflows/{ref}/draft")
async def save_draft(
    ref: str,
    ui: CsrfDep,
    definition: Annotated[str, Form(max_length=2_000_000)] = "",
    format: Annotated[str, Form(max_length=10)] = "yaml",
    do: Annotated[str, Form(max_length=10)] = "save",
) -> Response:
    """Save the text typed as the draft; then, as asked, validate it or deploy it as the next version."""
    wp = await workflow_page(ui, ref)
    fmt = text_of.format_of(format)
    action = do if do in DO else "save"
    try:
        parsed = text_of.parse(definition, fmt)
    except text_of.TextProblem as exc:
        refused = ApiProblem(422, {"detail": f"Nothing was saved: {exc.message}.", "errors": [exc.as_error()]})
        return await overview_page(ui, wp, fmt, After(definition, refused, [exc.as_error()]))
    try:
        saved = await ui.api.put(api_path(wp.ref, "/draft"), {"definition": parsed})
    except ApiProblem as problem:
        return await overview_page(ui, wp, fmt, After(definition, problem))
    wp.workflow = saved
    back = wpath(wp.ref) + f"?format={fmt}"
    if action == "validate":
        report = await ui.api.post(api_path(wp.ref, "/validate"))
        return await overview_page(ui, wp, fmt, After(definition, errors=report["problems"], validated=True))
    if action == "deploy":
        try:
            version = await ui.api.post(api_path(wp.ref, "/deploy"))
        except ApiProblem as problem:
            return await overview_page(ui, wp, fmt, After(definition, problem))
        return ui.redirect(back, f"Version {version['number']} deployed: it is the current version.")
    problems = len(saved["draft_problems"])
    note = f" It has {problems} problem(s) to fix before it can be deployed." if problems else ""
    return ui.redirect(back, f"Draft saved.{note}")


@router.get("/workflows/{ref}/versions/{number}")
async def version(ref: str, number: str, ui: UiDep, format: str | None = None) -> Response:
    """One deployed version, read-only: its definition and its endpoints."""
    wp = await workflow_page(ui, ref)
    found = await ui.api.get(api_path(wp.ref, f"/versions/{segment(number)}"))
    fmt = text_of.format_of(format)
    return ui.render(
        "workflows/version.html",
        **wp.values("overview"),
        version=found,
        fmt=fmt,
        text=text_of.render(found["definition"], fmt),
    )


@router.post("/workflows/{ref}/delete")
async def delete_workflow(
    ref: str,
    ui: CsrfDep,
    confirm_slug: Annotated[str, Form(max_length=1000)] = "",
    cancel_active: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Delete a workflow, once its slug was typed to confirm it."""
    wp = await workflow_page(ui, ref)
    if confirm_slug.strip() != wp.ref:
        message = f"type the workflow's slug, {wp.ref}, to delete it"
        refused = ApiProblem(422, {"detail": message, "errors": [{"path": "confirm_slug", "message": message}]})
        return await overview_page(ui, wp, after=After(problem=refused, errors=[], opened="delete"))
    try:
        await ui.api.delete(api_path(wp.ref), params={"cancel_active": "true" if cancel_active else None})
    except ApiProblem as problem:
        return await overview_page(ui, wp, after=After(problem=problem, errors=[], opened="delete"))
    return ui.redirect("/ui/workflows", f"Workflow “{wp.workflow['name']}” deleted.")
