"""Dashboard actions on one job, each one API operation: rename, change its variables (while new), start, cancel,
rerun, run from a step, duplicate (a form asking a name and variables), delete, redeliver its callback.

A refusal shows the job's page again with the API's problem (or the duplicate form, with what was typed)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import CsrfDep, Ui, UiDep
from workflow_service.ui.pages.job import job_page

router = APIRouter()

Back = Annotated[str, Form(max_length=4000)]


def back_to(ui: Ui, back: str, default: str) -> str:
    """Where an action returns: the list page it came from (`back`, a URL of /ui/jobs), else `default`."""
    root = ui.url("")
    if back.startswith(ui.url("/ui/jobs")) and "//" not in back and "\\" not in back:
        return back.removeprefix(root)
    return default


def parse_value(text: str) -> Any:
    """What a person typed for a variable or an input: JSON when it parses (a number, true, a list), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@router.post("/jobs/{job_id}/rename")
async def rename(job_id: str, ui: CsrfDep, name: Annotated[str, Form(max_length=1000)] = "") -> Response:
    """Rename the job (an empty name removes it)."""
    try:
        await ui.api.patch(f"/v1/jobs/{segment(job_id)}", {"name": name.strip() or None})
    except ApiProblem as problem:
        return await job_page(ui, job_id, problem=problem, form={"name": name})
    return ui.redirect(f"/ui/jobs/{segment(job_id)}", "Job renamed.")


@router.post("/jobs/{job_id}/variables")
async def change_variables(job_id: str, ui: CsrfDep, request: Request) -> Response:
    """Replace the job's variable overrides (while it is new): each `var.NAME` field that differs from the
    workflow's default becomes an override."""
    form = await request.form()
    defaults = json.loads(str(form.get("defaults") or "{}"))
    overrides: dict[str, Any] = {}
    for key, value in form.multi_items():
        if key.startswith("var.") and isinstance(value, str):
            name = key.removeprefix("var.")
            parsed = value if isinstance(defaults.get(name), str) else parse_value(value)
            if name not in defaults or defaults[name] != parsed:
                overrides[name] = parsed
    try:
        await ui.api.patch(f"/v1/jobs/{segment(job_id)}", {"variables": overrides})
    except ApiProblem as problem:
        return await job_page(ui, job_id, problem=problem)
    return ui.redirect(f"/ui/jobs/{segment(job_id)}", "Variables saved.")


async def _act(ui: Ui, job_id: str, call: tuple[str, Any], done: str, back: str = "") -> Response:
    """POST `call` (a path under the job's, and its body); then the job's page (or the new job's, or the list it
    came from)."""
    path, body = call
    try:
        answer = await ui.api.post(f"/v1/jobs/{segment(job_id)}{path}", body)
    except ApiProblem as problem:
        return await job_page(ui, job_id, problem=problem)
    target = f"/ui/jobs/{segment(job_id)}"
    if isinstance(answer, dict) and answer.get("id") and str(answer["id"]) != job_id:
        target = f"/ui/jobs/{answer['id']}"  # a new job: rerun, run from a step
    return ui.redirect(back_to(ui, back, target), done)


@router.post("/jobs/{job_id}/start")
async def start(job_id: str, ui: CsrfDep) -> Response:
    """Start a new job."""
    return await _act(ui, job_id, ("/start", None), "Job started.")


@router.post("/jobs/{job_id}/cancel")
async def cancel(job_id: str, ui: CsrfDep, back: Back = "") -> Response:
    """Cancel an active job."""
    return await _act(ui, job_id, ("/cancel", None), "Job canceled.", back)


@router.post("/jobs/{job_id}/rerun")
async def rerun(job_id: str, ui: CsrfDep) -> Response:
    """Run the job again as a new job; its page opens."""
    return await _act(ui, job_id, ("/rerun", None), "Running again as this new job.")


@router.post("/jobs/{job_id}/run-from-step")
async def run_from_step(job_id: str, ui: CsrfDep, step: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Run the job again from one step (the earlier steps' results reused); the new job's page opens."""
    return await _act(ui, job_id, ("/run-from-step", {"step": step}), f"Running again from step “{step}”.")


@router.post("/jobs/{job_id}/redeliver")
async def redeliver(job_id: str, ui: CsrfDep) -> Response:
    """Send the job's callback again now."""
    try:
        attempt = await ui.api.post(f"/v1/jobs/{segment(job_id)}/deliveries/redeliver")
    except ApiProblem as problem:
        return await job_page(ui, job_id, problem=problem)
    answered = attempt.get("status_code") or attempt.get("error") or "no answer"
    return ui.redirect(f"/ui/jobs/{segment(job_id)}", f"Callback sent again: {answered}.")


@router.post("/jobs/{job_id}/delete")
async def delete(job_id: str, ui: CsrfDep, back: Back = "") -> Response:
    """Delete the job (canceled first if it is active); back to the list."""
    try:
        await ui.api.delete(f"/v1/jobs/{segment(job_id)}")
    except ApiProblem as problem:
        if problem.status == 404 or back:
            return ui.redirect(back_to(ui, back, "/ui/jobs"), f"Not deleted: {problem.detail}", "error")
        return await job_page(ui, job_id, problem=problem)
    return ui.redirect(back_to(ui, back, "/ui/jobs"), "Job deleted.")


async def _duplicate_form(
    ui: Ui, job_id: str, *, problem: ApiProblem | None = None, typed: dict[str, Any] | None = None
) -> Response:
    job: dict[str, Any] = await ui.api.get(f"/v1/jobs/{segment(job_id)}", {"steps": False})
    variables = job.get("effective_variables") if job.get("effective_variables") is not None else None
    default_name = f"{job.get('name') or job['workflow']['slug']} (copy)"
    values = typed or {
        "name": default_name,
        "variables": json.dumps(job.get("variables") or {}, indent=2),
        "start": True,
    }
    return ui.render(
        "jobs/duplicate.html",
        problem.status if problem else 200,
        job=job,
        effective=variables,
        values=values,
        problem=problem,
    )


@router.get("/jobs/{job_id}/duplicate")
async def duplicate_form(job_id: str, ui: UiDep) -> Response:
    """Duplicate a job: a new name, and optionally other variables."""
    return await _duplicate_form(ui, job_id)


@router.post("/jobs/{job_id}/duplicate")
async def duplicate(
    job_id: str,
    ui: CsrfDep,
    name: Annotated[str, Form(max_length=1000)] = "",
    variables: Annotated[str, Form(max_length=100_000)] = "",
    start: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Make the duplicate (started now, or left new); its page opens."""
    typed = {"name": name, "variables": variables, "start": bool(start)}
    try:
        overrides = json.loads(variables) if variables.strip() else {}
    except ValueError as error:
        bad = ApiProblem(
            422, {"detail": "The variables are not JSON.", "errors": [{"path": "variables", "message": str(error)}]}
        )
        return await _duplicate_form(ui, job_id, problem=bad, typed=typed)
    body = {"name": name.strip() or None, "variables": overrides, "start": bool(start)}
    try:
        created = await ui.api.post(f"/v1/jobs/{segment(job_id)}/duplicate", body)
    except ApiProblem as problem:
        return await _duplicate_form(ui, job_id, problem=problem, typed=typed)
    return ui.redirect(f"/ui/jobs/{created['id']}", "Duplicated: this is the new job.")
