"""Dashboard pages: a new job: pick a deployed workflow the person may run, name the job, fill its inputs (one
field per simple property of its input schema, or JSON) and override its variables; it is submitted to the
workflow's current version (`submitAsync`) and its page opens. A refusal shows each error at its field."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from workflow_service.access.policy import Action
from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import CsrfDep, Ui, UiDep
from workflow_service.ui.pages.job_actions import parse_value
from workflow_service.ui.pages.jobs import workflows_seen

router = APIRouter()

SIMPLE = ("string", "integer", "number", "boolean")


def input_fields(schema: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The form's fields for an input schema: one per property of a simple type; and whether the inputs need a
    JSON box too (properties of other types, or a schema without properties)."""
    properties: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    fields, needs_json = [], not properties
    for name, prop in properties.items():
        kind = prop.get("type") if isinstance(prop, dict) else None
        if kind not in SIMPLE and not (isinstance(prop, dict) and prop.get("enum")):
            needs_json = True
            continue
        fields.append(
            {
                "name": name,
                "type": kind or "string",
                "required": name in required,
                "enum": prop.get("enum"),
                "description": prop.get("description") or prop.get("title"),
                "default": prop.get("default"),
            }
        )
    return fields, needs_json


def coerce(kind: str, text: str) -> Any:
    """A field's text as its type, when it reads as one; else the text (the API then says what is wrong)."""
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    if kind in ("integer", "number"):
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if kind == "integer" and number.is_integer() and "." not in text else number
    return text


async def runnable(ui: Ui) -> list[dict[str, Any]]:
    """The deployed workflows the person may run."""
    return [
        w
        for w in await workflows_seen(ui)
        if w.get("current_version") and await ui.can(Action.JOB_SUBMIT, workflow=str(w["slug"]))
    ]


async def _form(
    ui: Ui, workflow: str, *, typed: dict[str, Any] | None = None, problem: ApiProblem | None = None
) -> Response:
    choices = await runnable(ui)
    chosen = next((w for w in choices if workflow in (w["slug"], str(w["id"]))), None)
    fields: list[dict[str, Any]] = []
    needs_json, description = False, None
    variables: dict[str, Any] = {}
    if chosen is not None:
        version = await ui.api.get(f"/v1/workflows/{segment(str(chosen['slug']))}/versions/current")
        definition = version.get("definition") or {}
        fields, needs_json = input_fields(definition.get("input_schema") or {})
        variables = definition.get("variables") or {}
        description = definition.get("description")
    by_field: dict[str, str] = {}
    for error in problem.errors if problem else []:
        path = str(error.get("path") or "")
        by_field.setdefault(path.removeprefix("$."), str(error.get("message") or ""))
    return ui.render(
        "jobs/new.html",
        problem.status if problem else 200,
        choices=choices,
        chosen=chosen,
        fields=fields,
        needs_json=needs_json,
        variables=variables,
        description=description,
        typed=typed or {},
        problem=problem,
        by_field=by_field,
    )


@router.get("/jobs/new")
async def new_job_form(ui: UiDep, workflow: Annotated[str, Query(max_length=200)] = "") -> Response:
    """The new job form (pick a workflow first, then its inputs)."""
    return await _form(ui, workflow)


@router.post("/jobs/new")
async def new_job(ui: CsrfDep, request: Request) -> Response:
    """Create and start the job; its page opens."""
    form = await request.form()
    typed = {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"}
    workflow = typed.get("workflow", "")
    if not workflow:
        missing = ApiProblem(
            422, {"detail": "Choose a workflow.", "errors": [{"path": "workflow", "message": "required"}]}
        )
        return await _form(ui, "", typed=typed, problem=missing)
    inputs: dict[str, Any] = {}
    raw = typed.get("inputs_json", "").strip()
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError as error:
            bad = {"detail": "The inputs are not JSON.", "errors": [{"path": "inputs", "message": str(error)}]}
            return await _form(ui, workflow, typed=typed, problem=ApiProblem(422, bad))
        if not isinstance(parsed, dict):
            bad = {
                "detail": "The inputs must be a JSON object.",
                "errors": [{"path": "inputs", "message": "not an object"}],
            }
            return await _form(ui, workflow, typed=typed, problem=ApiProblem(422, bad))
        inputs.update(parsed)
    variables: dict[str, Any] = {}
    for key, value in typed.items():
        kind, _, name = key.partition(".")
        if kind == "input" and value != "":
            inputs[name] = coerce(typed.get(f"type.{name}", "string"), value)
        elif kind == "var" and value != typed.get(f"default.{name}"):
            variables[name] = value if typed.get(f"vtype.{name}") == "str" else parse_value(value)
    body = {"inputs": inputs, "variables": variables, "name": typed.get("name", "").strip() or None}
    try:
        job = await ui.api.post(f"/v1/workflows/{segment(workflow)}/versions/current/async", body)
    except ApiProblem as problem:
        return await _form(ui, workflow, typed=typed, problem=problem)
    return ui.redirect(f"/ui/jobs/{job['id']}", "Job started.")
