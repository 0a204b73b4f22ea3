"""Dashboard pages: a workflow's schedules and event triggers (`/ui/workflows/{w}/automation`): each with its
timing or hook URL, state and recent history; the schedules' actions (create, pause, resume, backfill, delete).
The triggers' actions are in automation_triggers.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.responses import Response

from workflow_service.access.policy import Action
from workflow_service.ui.api import ApiProblem
from workflow_service.ui.context import CsrfDep, Ui, UiDep
from workflow_service.ui.pages.common import workflow_page
from workflow_service.ui.pages.ops_forms import COMMON_ZONES, field_errors, json_object, local_time, segment

router = APIRouter()

OVERLAPS = {
    "skip": "Skip the time while the previous job runs",
    "buffer_one": "Run it once the previous job ends (at most one waits)",
    "allow_all": "Run it anyway",
    "cancel_other": "Cancel the previous job, then run",
}
SCHEDULE_DEFAULTS = {
    "name": "",
    "description": "",
    "timing": "cron",
    "cron": "",
    "interval": "",
    "timezone": "UTC",
    "start_at": "",
    "end_at": "",
    "inputs": "{}",
    "overlap": "skip",
    "pause_after_failure": "",
}
TRIGGER_DEFAULTS = {"name": "", "description": "", "auth": "standard_webhooks", "inputs": ""}


async def render(
    ui: Ui,
    ref: str,
    *,
    problem: ApiProblem | None = None,
    form: str = "",
    typed: dict[str, str] | None = None,
    secret: dict[str, Any] | None = None,
) -> Response:
    """The page; `problem` is the refusal of the form named `form` (`schedule`, `trigger`, `backfill-<id>`, or
    a row's action), `typed` what that form held, `secret` a trigger's secret to show this once."""
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
    typed = typed or {}
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
        schedule_form=SCHEDULE_DEFAULTS | (typed if form == "schedule" else {}),
        trigger_form=TRIGGER_DEFAULTS | (typed if form == "trigger" else {}),
        backfill_form=typed if form.startswith("backfill-") else {},
        overlaps=OVERLAPS,
        zones=COMMON_ZONES,
        secret=secret,
    )


def _base(ref: str) -> str:
    return f"/ui/workflows/{segment(ref)}/automation"


@router.get("/workflows/{ref}/automation")
async def automation(ref: str, ui: UiDep) -> Response:
    """The workflow's schedules and event triggers, with what each did lately."""
    return await render(ui, ref)


def _interval(text: str) -> int | str:
    text = text.strip()
    return int(text) if text.isdigit() else text


@router.post("/workflows/{ref}/automation/schedules")
async def create_schedule(
    ref: str,
    ui: CsrfDep,
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    timing: Annotated[str, Form(max_length=10)] = "cron",
    cron: Annotated[str, Form(max_length=200)] = "",
    interval: Annotated[str, Form(max_length=40)] = "",
    timezone: Annotated[str, Form(max_length=100)] = "UTC",
    start_at: Annotated[str, Form(max_length=40)] = "",
    end_at: Annotated[str, Form(max_length=40)] = "",
    inputs: Annotated[str, Form(max_length=100_000)] = "{}",
    overlap: Annotated[str, Form(max_length=20)] = "skip",
    pause_after_failure: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Create a schedule: a cron expression or an interval, read in a time zone; its start and end are read there."""
    typed = dict(
        name=name,
        description=description,
        timing=timing,
        cron=cron,
        interval=interval,
        timezone=timezone,
        start_at=start_at,
        end_at=end_at,
        inputs=inputs,
        overlap=overlap,
        pause_after_failure=pause_after_failure,
    )
    try:
        body: dict[str, Any] = {
            "name": name.strip() or None,
            "description": description.strip() or None,
            "timezone": timezone.strip() or "UTC",
            "start_at": local_time(start_at, "$.start_at", timezone),
            "end_at": local_time(end_at, "$.end_at", timezone),
            "inputs": json_object(inputs, "$.inputs"),
            "overlap": overlap,
            "pause_after_failure": pause_after_failure == "on",
        }
        if timing == "interval":
            body["interval"] = _interval(interval) if interval.strip() else None
        else:
            body["cron"] = cron.strip() or None
        made = await ui.api.post(f"/v1/workflows/{segment(ref)}/schedules", body)
    except ApiProblem as problem:
        return await render(ui, ref, problem=problem, form="schedule", typed=typed)
    return ui.redirect(_base(ref), f"Schedule “{made['name']}” created: {made['frequency']}.")


@router.post("/workflows/{ref}/automation/schedules/{schedule_id}/backfill")
async def backfill(
    ref: str,
    schedule_id: str,
    ui: CsrfDep,
    start: Annotated[str, Form(alias="from", max_length=40)] = "",
    end: Annotated[str, Form(alias="to", max_length=40)] = "",
    timezone: Annotated[str, Form(max_length=100)] = "UTC",
) -> Response:
    """Run the times a schedule gave in a past interval (read in the schedule's time zone)."""
    typed = {"from": start, "to": end}
    form = f"backfill-{schedule_id}"
    try:
        body = {"from": local_time(start, "$.from", timezone), "to": local_time(end, "$.to", timezone)}
        done = await ui.api.post(f"/v1/workflows/{segment(ref)}/schedules/{segment(schedule_id)}/backfill", body)
    except ApiProblem as problem:
        return await render(ui, ref, problem=problem, form=form, typed=typed)
    message = f"Backfill: {done['created']} job(s) created, {done['already_run']} time(s) had run already."
    return ui.redirect(_base(ref), message)


@router.post("/workflows/{ref}/automation/schedules/{schedule_id}/{verb}")
async def schedule_action(ref: str, schedule_id: str, verb: str, ui: CsrfDep) -> Response:
    """Pause, resume or delete a schedule."""
    path = f"/v1/workflows/{segment(ref)}/schedules/{segment(schedule_id)}"
    messages = {"pause": "Schedule paused.", "resume": "Schedule resumed.", "delete": "Schedule deleted."}
    if verb not in messages:
        return await render(ui, ref, problem=ApiProblem(404, {"detail": f"no such action: {verb}"}))
    try:
        if verb == "delete":
            await ui.api.delete(path)
        else:
            await ui.api.post(f"{path}/{verb}")
    except ApiProblem as problem:
        return await render(ui, ref, problem=problem, form=f"schedule-{schedule_id}")
    return ui.redirect(_base(ref), messages[verb])
