"""Dashboard pages: a workflow's schedules and event triggers (`/ui/workflows/{w}/automation`): each with its
timing or hook URL, state and recent history; the schedules' actions (create, pause, resume, backfill, delete).
The triggers' actions are in automation_triggers.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form
from pydantic import BaseModel, Field
from starlette.responses import Response

from workflow_service.access.policy import Action
from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import CsrfDep, Ui, UiDep
from workflow_service.ui.pages.common import workflow_page
from workflow_service.ui.pages.once import forget, shown_once
from workflow_service.ui.pages.ops_forms import COMMON_ZONES, field_errors, json_object, local_time

router = APIRouter()

OVERLAPS = {
    "skip": "Skip the time while the previous job runs",
    "buffer_one": "Run it once the previous job ends (at most one waits)",
    "allow_all": "Run it anyway",
    "cancel_other": "Cancel the previous job, then run",
}
TRIGGER_DEFAULTS = {"name": "", "description": "", "auth": "standard_webhooks", "inputs": ""}
SECRET_KEYS = ("name", "url", "secret", "auth", "new")
"""What the page shows of a trigger's new secret (automation_triggers.py makes it)."""


@dataclass
class Refusal:
    """The API's (or the page's) refusal of the form named `form` (`schedule`, `trigger`, `backfill-<id>`, or a
    row's action), and what that form held."""

    problem: ApiProblem
    form: str = ""
    typed: dict[str, str] = field(default_factory=dict)


async def render(ui: Ui, ref: str, refusal: Refusal | None = None, secret: dict[str, Any] | None = None) -> Response:
    """The page, with a form's refusal, or a trigger's secret to show this once."""
    problem, form, typed = (refusal.problem, refusal.form, refusal.typed) if refusal else (None, "", {})
    wp = await workflow_page(ui, ref)
    path = f"/v1/workflows/{segment(wp.ref)}"
    schedules: list[dict[str, Any]] = []
    triggers: list[dict[str, Any]] = []
    if wp.may(Action.SCHEDULE_READ):
        schedules = (await ui.api.get(f"{path}/schedules"))["items"]
    if wp.may(Action.TRIGGERS_READ):
        for item in (await ui.api.get(f"{path}/triggers"))["items"]:
            if item["kind"] != "schedule":
                item["detail"] = await ui.api.get(f"{path}/triggers/{segment(item['id'])}")
                triggers.append(item)
    return ui.render(
        "ops/automation.html",
        problem.status if problem else 200,
        **wp.values("automation"),
        schedules=schedules,
        triggers=triggers,
        may_schedule=wp.may(Action.SCHEDULE_MANAGE),
        may_trigger=wp.may(Action.TRIGGERS_WRITE),
        deployed=bool(wp.workflow.get("current_version")),
        problem=problem,
        form=form,
        errors=field_errors(problem),
        schedule_form=ScheduleForm().model_dump() | (typed if form == "schedule" else {}),
        trigger_form=TRIGGER_DEFAULTS | (typed if form == "trigger" else {}),
        backfill_form=typed if form.startswith("backfill-") else {},
        overlaps=OVERLAPS,
        zones=COMMON_ZONES,
        secret=secret,
    )


def page_path(ref: str) -> str:
    return f"/ui/workflows/{segment(ref)}/automation"


@router.get("/workflows/{ref}/automation")
async def automation(ref: str, ui: UiDep) -> Response:
    """The workflow's schedules and event triggers, with what each did lately (and a trigger's new secret, once)."""
    return forget(ui, await render(ui, ref, secret=shown_once(ui, SECRET_KEYS)), page_path(ref))


def _interval(text: str) -> int | str:
    text = text.strip()
    return int(text) if text.isdigit() else text


class ScheduleForm(BaseModel):
    """The new schedule form, as typed."""

    name: str = Field("", max_length=200)
    description: str = Field("", max_length=2000)
    timing: str = Field("cron", max_length=10)
    cron: str = Field("", max_length=200)
    interval: str = Field("", max_length=40)
    timezone: str = Field("UTC", max_length=100)
    start_at: str = Field("", max_length=40)
    end_at: str = Field("", max_length=40)
    inputs: str = Field("{}", max_length=100_000)
    overlap: str = Field("skip", max_length=20)
    pause_after_failure: str = Field("", max_length=5)

    def body(self) -> dict[str, Any]:
        """The API's ScheduleCreate (`form_problem` for a field the page cannot read)."""
        body: dict[str, Any] = {
            "name": self.name.strip() or None,
            "description": self.description.strip() or None,
            "timezone": self.timezone.strip() or "UTC",
            "start_at": local_time(self.start_at, "$.start_at", self.timezone),
            "end_at": local_time(self.end_at, "$.end_at", self.timezone),
            "inputs": json_object(self.inputs, "$.inputs"),
            "overlap": self.overlap,
            "pause_after_failure": self.pause_after_failure == "on",
        }
        if self.timing == "interval":
            body["interval"] = _interval(self.interval) if self.interval.strip() else None
        else:
            body["cron"] = self.cron.strip() or None
        return body


@router.post("/workflows/{ref}/automation/schedules")
async def create_schedule(ref: str, ui: CsrfDep, form: Annotated[ScheduleForm, Form()]) -> Response:
    """Create a schedule: a cron expression or an interval, read in a time zone; its start and end are read there."""
    try:
        made = await ui.api.post(f"/v1/workflows/{segment(ref)}/schedules", form.body())
    except ApiProblem as problem:
        return await render(ui, ref, Refusal(problem, "schedule", form.model_dump()))
    return ui.redirect(page_path(ref), f"Schedule “{made['name']}” created: {made['frequency']}.")


class BackfillForm(BaseModel):
    """A past interval, in the schedule's time zone."""

    start: str = Field("", alias="from", max_length=40)
    end: str = Field("", alias="to", max_length=40)
    timezone: str = Field("UTC", max_length=100)


@router.post("/workflows/{ref}/automation/schedules/{schedule_id}/backfill")
async def backfill(ref: str, schedule_id: str, ui: CsrfDep, form: Annotated[BackfillForm, Form()]) -> Response:
    """Run the times a schedule gave in a past interval (read in the schedule's time zone)."""
    typed = {"from": form.start, "to": form.end}
    try:
        body = {
            "from": local_time(form.start, "$.from", form.timezone),
            "to": local_time(form.end, "$.to", form.timezone),
        }
        done = await ui.api.post(f"/v1/workflows/{segment(ref)}/schedules/{segment(schedule_id)}/backfill", body)
    except ApiProblem as problem:
        return await render(ui, ref, Refusal(problem, f"backfill-{schedule_id}", typed))
    message = f"Backfill: {done['created']} job(s) created, {done['already_run']} time(s) had run already."
    return ui.redirect(page_path(ref), message)


@router.post("/workflows/{ref}/automation/schedules/{schedule_id}/{verb}")
async def schedule_action(ref: str, schedule_id: str, verb: str, ui: CsrfDep) -> Response:
    """Pause, resume or delete a schedule."""
    return await pause_resume_delete(ui, ref, "schedule", schedule_id, verb)


async def pause_resume_delete(ui: Ui, ref: str, kind: str, item_id: str, verb: str) -> Response:
    """Pause, resume or delete one of the workflow's schedules or triggers (`kind`), through the API."""
    path = f"/v1/workflows/{segment(ref)}/{kind}s/{segment(item_id)}"
    done = {"pause": "paused", "resume": "resumed", "delete": "deleted"}
    if verb not in done:
        return await render(ui, ref, Refusal(ApiProblem(404, {"detail": f"no such action: {verb}"})))
    try:
        if verb == "delete":
            await ui.api.delete(path)
        else:
            await ui.api.post(f"{path}/{verb}")
    except ApiProblem as problem:
        return await render(ui, ref, Refusal(problem, f"{kind}-{item_id}"))
    return ui.redirect(page_path(ref), f"{kind.capitalize()} {done[verb]}.")
