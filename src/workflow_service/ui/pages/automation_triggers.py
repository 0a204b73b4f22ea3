"""Dashboard pages: a workflow's event triggers' actions: create (its secret shown once), pause, resume, rotate
the secret (shown once), delete. The page itself is automation.py's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from pydantic import BaseModel, Field
from starlette.responses import Response

from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import CsrfDep
from workflow_service.ui.pages.automation import Refusal, page_path, pause_resume_delete, render
from workflow_service.ui.pages.once import redirect_showing
from workflow_service.ui.pages.ops_forms import form_problem, json_object

router = APIRouter()


def _mapping(inputs: str) -> dict[str, Any] | None:
    """The mapping of the form's inputs field: a JSON object of templates, or one template; None (the whole event
    as the inputs) when empty."""
    text = inputs.strip()
    if not text:
        return None
    if text.startswith("{{"):
        return {"inputs": text}
    if not text.startswith("{"):
        raise form_problem("$.mapping.inputs", "a JSON object of templates, or one {{ template }}")
    return {"inputs": json_object(text, "$.mapping.inputs")}


class TriggerForm(BaseModel):
    """The new trigger form, as typed."""

    name: str = Field("", max_length=200)
    description: str = Field("", max_length=2000)
    auth: str = Field("standard_webhooks", max_length=40)
    inputs: str = Field("", max_length=100_000)


@router.post("/workflows/{ref}/automation/triggers")
async def create_trigger(ref: str, ui: CsrfDep, form: Annotated[TriggerForm, Form()]) -> Response:
    """Create an event trigger: its URL and secret, the secret shown once on the page redirected to."""
    try:
        body: dict[str, Any] = {"type": "webhook", "name": form.name.strip(), "auth": form.auth}
        if form.description.strip():
            body["description"] = form.description.strip()
        mapping = _mapping(form.inputs)
        if mapping is not None:
            body["mapping"] = mapping
        made = await ui.api.post(f"/v1/workflows/{segment(ref)}/triggers", body)
    except ApiProblem as problem:
        return await render(ui, ref, Refusal(problem, "trigger", form.model_dump()))
    secret = {"name": made["name"], "url": made["url"], "secret": made["secret"], "auth": made["auth"], "new": True}
    return redirect_showing(ui, page_path(ref), secret)


@router.post("/workflows/{ref}/automation/triggers/{trigger_id}/rotate-secret")
async def rotate_secret(ref: str, trigger_id: str, ui: CsrfDep) -> Response:
    """A new secret for the trigger, shown once on the page redirected to; the one before works for 24 hours more."""
    path = f"/v1/workflows/{segment(ref)}/triggers/{segment(trigger_id)}"
    try:
        made = await ui.api.post(f"{path}/rotate-secret")
    except ApiProblem as problem:
        return await render(ui, ref, Refusal(problem, f"trigger-{trigger_id}"))
    secret = {"name": made["name"], "url": made["url"], "secret": made["secret"], "auth": made["auth"], "new": False}
    return redirect_showing(ui, page_path(ref), secret)


@router.post("/workflows/{ref}/automation/triggers/{trigger_id}/{verb}")
async def trigger_action(ref: str, trigger_id: str, verb: str, ui: CsrfDep) -> Response:
    """Pause, resume or delete a trigger."""
    return await pause_resume_delete(ui, ref, "trigger", trigger_id, verb)
