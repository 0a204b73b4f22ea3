"""Dashboard pages: one job's details: its header and actions, options, variables, inputs, output, step outputs,
status history and deliveries; and its output files, streamed from the API with their names.

Its script follows the job's event stream and, on each event, reads this page again and swaps the sections
marked `data-live`: nothing here is rendered for the script alone."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from workflow_service.access.policy import Action
from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import Ui, UiDep
from workflow_service.ui.render import ACTIVE, parse_time

router = APIRouter()

JOB_ACTIONS = [
    Action.JOB_START,
    Action.JOB_CANCEL,
    Action.JOB_RERUN,
    Action.JOB_DELETE,
    Action.JOB_UPDATE,
    Action.JOB_REDELIVER,
]
FORMATS = ("txt", "json", "md", "pdf")
ENDED = ("completed", "failed", "canceled")


async def _optional(ui: Ui, path: str, body: Any = None, post: bool = False) -> Any:
    """An API read the page can do without (the person may not see the workflow, the job has no callback):
    None when refused."""
    try:
        return await (ui.api.post(path, body) if post else ui.api.get(path))
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        return None


def model_name(spec: Any) -> str | None:
    if isinstance(spec, dict) and spec.get("name"):
        return f"{spec.get('provider') or 'openai'}/{spec['name']}"
    return spec if isinstance(spec, str) else None


def variables_table(job: dict[str, Any], definition: dict[str, Any]) -> list[dict[str, Any]]:
    """Each variable: the workflow's default, the job's value, whether the job overrode it, and the steps that
    read it (`vars.NAME` in their definition)."""
    defaults: dict[str, Any] = definition.get("variables") or {}
    effective: dict[str, Any] = job.get("effective_variables") or {}
    overridden = set(job.get("overridden_variables") or [])
    names = list(dict.fromkeys([*defaults, *effective, *sorted(overridden)]))
    steps = definition.get("steps") or []
    rows = []
    for name in names:
        pattern = re.compile(r"\bvars\.\s*" + re.escape(name) + r"\b|vars\[['\"]" + re.escape(name) + r"['\"]\]")
        used = [str(s.get("id")) for s in steps if isinstance(s, dict) and pattern.search(json.dumps(s))]
        rows.append(
            {
                "name": name,
                "default": defaults.get(name),
                "has_default": name in defaults,
                "value": effective.get(name),
                "known": name in effective,
                "overridden": name in overridden,
                "used_in": used,
            }
        )
    return rows


def step_rows(job: dict[str, Any], definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The step records in order, with what the definition says of each (its name, its model) and, for a model
    call, the exact prompt sent and the answer's text."""
    defined = {str(s.get("id")): s for s in definition.get("steps") or [] if isinstance(s, dict)}
    default_model = model_name(definition.get("model"))
    rows = []
    for number, step in enumerate(job.get("steps") or [], start=1):
        spec = defined.get(step["id"], {})
        started, finished = parse_time(step.get("started_at")), parse_time(step.get("finished_at"))
        detail = step.get("detail") or {}
        request = detail.get("request") if isinstance(detail, dict) else None
        body = request.get("body") if isinstance(request, dict) else None
        rows.append(
            {
                "number": number,
                "step": step,
                "name": spec.get("name") or spec.get("description"),
                "configured_model": model_name(spec.get("model")) or (default_model if step["type"] == "llm" else None),
                "seconds": (finished - started).total_seconds() if started and finished else None,
                "prompt": body.get("messages", body) if isinstance(body, dict) else None,
                "answer": answer_text(detail.get("response")) if isinstance(detail, dict) else None,
                "raw_response": detail.get("response") if isinstance(detail, dict) else None,
            }
        )
    return rows


def answer_text(response: Any) -> str | None:
    """The text of a model's answer (OpenAI's or Anthropic's shape); None when it has none."""
    if not isinstance(response, dict):
        return None
    choices = response.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        content = (choices[0].get("message") or {}).get("content")
        return content if isinstance(content, str) else None
    parts = response.get("content")
    if isinstance(parts, list):
        texts = [str(p["text"]) for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "".join(texts) if texts else None
    return None


def progress(job: dict[str, Any], definition: dict[str, Any]) -> dict[str, int]:
    steps = job.get("steps") or []
    done = sum(1 for s in steps if s["status"] in ("completed", "skipped", "failed"))
    return {"done": done, "total": max(len(definition.get("steps") or []), len(steps))}


async def job_page(ui: Ui, job_id: str, *, problem: ApiProblem | None = None, form: Any = None) -> Response:
    """The page of the job (ApiProblem 404 when the person may not see it), with a refused action's problem."""
    job: dict[str, Any] = await ui.api.get(f"/v1/jobs/{segment(job_id)}")
    jid = str(job["id"])
    allowed = await ui.allowed_actions(JOB_ACTIONS, job=jid)
    wf = job["workflow"]
    version = await _optional(ui, f"/v1/workflows/{wf['id']}/versions/{job['version']}")
    workflow = await _optional(ui, f"/v1/workflows/{wf['id']}")
    definition: dict[str, Any] = (version or {}).get("definition") or {}
    has_llm = any(isinstance(s, dict) and s.get("type") == "llm" for s in definition.get("steps") or [])
    estimate = None
    if has_llm and job.get("inputs") is not None and job.get("variables") is not None:
        body = {"inputs": job["inputs"], "variables": job["variables"]}
        estimate = await _optional(ui, f"/v1/workflows/{wf['id']}/versions/{job['version']}/estimate", body, True)
    events = (await ui.api.get(f"/v1/jobs/{jid}/events"))["items"]
    deliveries = await _optional(ui, f"/v1/jobs/{jid}/deliveries")
    models = sorted(
        {m for m in [model_name(definition.get("model"))] if m}
        | {s["model"] for s in job["steps"] or [] if s.get("model")}
    )
    return ui.render(
        "jobs/detail.html",
        problem.status if problem else 200,
        job=job,
        active=job["status"] in ACTIVE,
        ended=job["status"] in ENDED,
        allowed=allowed,
        workflow=workflow,
        definition=definition,
        defaults_json=json.dumps(definition.get("variables") or {}),
        models=models,
        estimate=estimate,
        variables=variables_table(job, definition),
        steps=step_rows(job, definition),
        progress=progress(job, definition),
        events=events,
        deliveries=(deliveries or {}).get("items", []),
        problem=problem,
        form=form or {},
        formats=FORMATS,
    )


@router.get("/jobs/{job_id}")
async def job_details(job_id: str, ui: UiDep) -> Response:
    """A job's details; its script keeps them up to date while it runs."""
    return await job_page(ui, job_id)


async def _file(ui: Ui, path: str, format: str) -> Response:
    answer = await ui.api.call("GET", path, params={"format": format})
    if not answer.ok:
        problem = answer.json() if answer.body.startswith(b"{") else {}
        raise ApiProblem(answer.status, problem if isinstance(problem, dict) else {})
    headers = {k: v for k, v in answer.headers.items() if k in ("content-type", "content-disposition")}
    return Response(answer.body, status_code=answer.status, headers=headers)


FormatQuery = Annotated[str, Query(pattern="^(txt|json|md|pdf)$")]


@router.get("/jobs/{job_id}/output")
async def job_output(job_id: str, ui: UiDep, format: FormatQuery = "txt") -> Response:
    """The job's output as a file (txt, json, md or pdf), named as the API names it."""
    return await _file(ui, f"/v1/jobs/{segment(job_id)}/output", format)


@router.get("/jobs/{job_id}/steps/{step}/output")
async def step_output(job_id: str, step: str, ui: UiDep, format: FormatQuery = "txt") -> Response:
    """One step's output as a file."""
    return await _file(ui, f"/v1/jobs/{segment(job_id)}/steps/{segment(step)}/output", format)
