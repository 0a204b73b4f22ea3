"""Dashboard pages: a workflow's configuration: its details (name, description), the sync/async setup (sync timeout,
push with its callback URL, write-only access token and timeout), retention, and its environment variables (secure
values never shown). Export, import and backups are on the same page (packages.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form
from pydantic import BaseModel, Field
from starlette.responses import Response

from workflow_service.access.policy import Action
from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import CsrfDep, Ui, UiDep
from workflow_service.ui.pages.common import WorkflowPage, workflow_page
from workflow_service.ui.pages.workflows import api_path, wpath

router = APIRouter()

SECURE_WARNING = (
    "A secure value is encrypted where it is stored and never shown again, not even here: jobs use it, but store "
    "and send [redacted:NAME] in its place. To change it, or to make it plain, you enter the value again."
)


@dataclass(frozen=True)
class After:
    """What an action leaves on the page it renders again: its problem, shown in the section `at`, what was typed,
    a signing secret to show once, the conflicts of an import to resolve."""

    problem: ApiProblem | None = None
    at: str | None = None
    typed: dict[str, Any] = field(default_factory=dict)
    signing_secret: str | None = None
    conflicts: dict[str, Any] | None = None


async def configuration_page(ui: Ui, wp: WorkflowPage, after: After | None = None) -> Response:
    """The configuration page; after a refused action, its problem shown in its section, what was typed kept."""
    after = after or After()
    problem, ref = after.problem, wp.ref
    settings = await ui.api.get(api_path(ref, "/settings"))
    env: list[dict[str, Any]] = (await ui.api.get(api_path(ref, "/env")))["items"]
    versions: list[dict[str, Any]] = (await ui.api.get(api_path(ref, "/versions")))["items"]
    may_export = wp.may(Action.WORKFLOW_EXPORT)
    backups: list[dict[str, Any]] = []
    if may_export:
        backups = (await ui.api.get(api_path(ref, "/backups")))["items"]
    return ui.render(
        "workflows/configuration.html",
        problem.status if problem is not None else 200,
        **wp.values("configuration"),
        settings=settings,
        env=env,
        versions=versions,
        backups=backups,
        may_edit=wp.may(Action.WORKFLOW_EDIT),
        may_manage=wp.may(Action.WORKFLOW_MANAGE),
        may_export=may_export,
        problem=problem,
        at=after.at,
        typed=after.typed,
        signing_secret=after.signing_secret,
        conflicts=after.conflicts,
        secure_warning=SECURE_WARNING,
    )


@router.get("/workflows/{ref}/configuration")
async def configuration(ref: str, ui: UiDep) -> Response:
    """A workflow's details, endpoint settings, environment variables, export, import and backups."""
    wp = await workflow_page(ui, ref)
    return await configuration_page(ui, wp)


def _back(wp: WorkflowPage, section: str) -> str:
    return wpath(wp.ref, "/configuration") + f"#{section}"


@router.post("/workflows/{ref}/configuration/details")
async def save_details(
    ref: str,
    ui: CsrfDep,
    name: Annotated[str, Form(max_length=1000)] = "",
    description: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """Rename the workflow or change its description (the draft is sent back as it is: only these change)."""
    wp = await workflow_page(ui, ref)
    body = {"definition": wp.workflow["draft"], "name": name, "description": description or None}
    try:
        await ui.api.put(api_path(wp.ref, "/draft"), body)
    except ApiProblem as problem:
        typed = {"name": name, "description": description}
        return await configuration_page(ui, wp, After(problem, "details", typed))
    return ui.redirect(_back(wp, "details"), "Workflow details saved.")


def number(value: str) -> int | float | str | None:
    """A number typed in a form: None when left empty, the text itself when it is not a number (the API then says
    what it expects, at its path)."""
    text = value.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


class SetupForm(BaseModel):
    """The sync/async setup form: numbers as typed (the API says what it expects of each, at its path)."""

    sync_timeout_s: str = Field("", max_length=20)
    queue_timeout_s: str = Field("", max_length=20)
    push_enabled: str = Field("", max_length=10)
    callback_url: str = Field("", max_length=5000)
    access_token: str = Field("", max_length=5000)
    push_timeout: str = Field("set", max_length=10)
    push_timeout_s: str = Field("", max_length=20)
    retention: str = Field("default", max_length=10)
    retention_days: str = Field("", max_length=20)

    def settings_change(self) -> dict[str, Any]:
        """The settings update the form asks for (an access token left empty keeps the one set)."""
        push: dict[str, Any] = {
            "enabled": bool(self.push_enabled),
            "callback_url": self.callback_url.strip() or None,
            "timeout_s": None if self.push_timeout == "none" else number(self.push_timeout_s),
        }
        if self.access_token:
            push["access_token"] = self.access_token
        retention: Any = None  # the workspace's default
        if self.retention == "forever":
            retention = "forever"
        elif self.retention == "days":
            retention = number(self.retention_days)
        return {
            "sync_timeout_s": number(self.sync_timeout_s),
            "queue_timeout_s": number(self.queue_timeout_s),
            "push": push,
            "retention_days": retention,
        }


@router.post("/workflows/{ref}/configuration/settings")
async def save_settings(ref: str, ui: CsrfDep, form: Annotated[SetupForm, Form()]) -> Response:
    """Save the sync/async setup and retention. Enabling push the first time shows its signing secret, once."""
    wp = await workflow_page(ui, ref)
    try:
        saved = await ui.api.patch(api_path(wp.ref, "/settings"), form.settings_change())
    except ApiProblem as problem:
        typed = {**form.model_dump(exclude={"access_token"}), "push_enabled": bool(form.push_enabled)}
        return await configuration_page(ui, wp, After(problem, "setup", {"settings": typed}))
    if saved.get("signing_secret"):
        response = await configuration_page(ui, wp, After(signing_secret=saved["signing_secret"]))
        response.headers["Cache-Control"] = "no-store"
        return response
    return ui.redirect(_back(wp, "setup"), "Sync/async setup saved.")


class VariableForm(BaseModel):
    """The form of an environment variable (its name only when it is added)."""

    name: str = Field("", max_length=1000)
    value: str = Field("", max_length=100_000)
    secure: str = Field("", max_length=10)
    notes: str = Field("", max_length=5000)

    def typed(self, name: str) -> dict[str, Any]:
        """What the page keeps after a refusal: never a secure value."""
        return {
            "name": name,
            "value": "" if self.secure else self.value,
            "secure": bool(self.secure),
            "notes": self.notes,
        }

    def write(self) -> dict[str, Any]:
        return {"value": self.value, "secure": bool(self.secure), "notes": self.notes or None}


def _env_path(wp: WorkflowPage, name: str) -> str:
    return api_path(wp.ref, f"/env/{segment(name)}")


@router.post("/workflows/{ref}/configuration/env")
async def add_variable(ref: str, ui: CsrfDep, form: Annotated[VariableForm, Form()]) -> Response:
    """Add an environment variable (a name already taken is refused: edit that one instead)."""
    wp = await workflow_page(ui, ref)
    name = form.name.strip()
    typed = {"env_new": form.typed(name)}
    existing = {var["name"] for var in (await ui.api.get(api_path(wp.ref, "/env")))["items"]}
    if name in existing:
        message = f"{name} already exists: edit it in the list instead"
        refused = ApiProblem(409, {"detail": message, "errors": [{"path": "name", "message": message}]})
        return await configuration_page(ui, wp, After(refused, "env", typed))
    if not name:
        message = "give the variable a name"
        refused = ApiProblem(422, {"detail": message, "errors": [{"path": "name", "message": message}]})
        return await configuration_page(ui, wp, After(refused, "env", typed))
    try:
        await ui.api.put(_env_path(wp, name), form.write())
    except ApiProblem as problem:
        return await configuration_page(ui, wp, After(problem, "env", typed))
    return ui.redirect(_back(wp, "env"), f"Environment variable {name} added.")


@router.post("/workflows/{ref}/configuration/env/{name}")
async def edit_variable(ref: str, name: str, ui: CsrfDep, form: Annotated[VariableForm, Form()]) -> Response:
    """Change an environment variable's value, secure flag or notes (a secure value must be entered again)."""
    wp = await workflow_page(ui, ref)
    current = await ui.api.get(_env_path(wp, name))
    typed = {"env_edit": form.typed(name)}
    if current["secure"] and not form.value:
        message = "enter the value again: a secure value is never shown, so it cannot be kept as it is"
        refused = ApiProblem(422, {"detail": message, "errors": [{"path": "value", "message": message}]})
        return await configuration_page(ui, wp, After(refused, "env", typed))
    try:
        await ui.api.put(_env_path(wp, name), form.write())
    except ApiProblem as problem:
        return await configuration_page(ui, wp, After(problem, "env", typed))
    return ui.redirect(_back(wp, "env"), f"Environment variable {name} saved.")


@router.post("/workflows/{ref}/configuration/env/{name}/delete")
async def delete_variable(ref: str, name: str, ui: CsrfDep) -> Response:
    """Delete an environment variable: jobs claimed from now on no longer see it."""
    wp = await workflow_page(ui, ref)
    try:
        await ui.api.delete(_env_path(wp, name))
    except ApiProblem as problem:
        return await configuration_page(ui, wp, After(problem, "env"))
    return ui.redirect(_back(wp, "env"), f"Environment variable {name} deleted.")
