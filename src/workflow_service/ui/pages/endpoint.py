"""Dashboard pages: a workflow's endpoint: the sync, async poll and async push URLs of its current version (or of a
version pinned), each with a curl to copy (a `$WFS_TOKEN` placeholder, never a real token), and Deploy."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.responses import Response

from workflow_service.access.policy import Action
from workflow_service.ui.api import ApiProblem
from workflow_service.ui.context import CsrfDep, Ui, UiDep
from workflow_service.ui.pages.common import WorkflowPage, workflow_page
from workflow_service.ui.pages.workflows import api_path, wpath

router = APIRouter()

TABS = {"sync": "Synchronous", "async": "Asynchronous poll", "push": "Asynchronous push"}
_NUMBERED = re.compile(r"/versions/\d+/")
SAMPLES = {"string": "text", "integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}


def sample_inputs(schema: Any) -> dict[str, Any]:
    """Inputs to show in an example call: each property of the version's input schema with a value of its type
    (its example, default or first enum value when it has one)."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return {}
    sample: dict[str, Any] = {}
    for name, spec in properties.items():
        spec = spec if isinstance(spec, dict) else {}
        examples = spec.get("examples")
        if isinstance(examples, list) and examples:
            sample[name] = examples[0]
        elif "default" in spec:
            sample[name] = spec["default"]
        elif isinstance(spec.get("enum"), list) and spec["enum"]:
            sample[name] = spec["enum"][0]
        else:
            kind = spec.get("type")
            sample[name] = SAMPLES.get(kind if isinstance(kind, str) else "string", "text")
    return sample


def _shell_quoted(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def curl(url: str, inputs: dict[str, Any] | None = None) -> str:
    """A curl that calls `url` as the holder of `$WFS_TOKEN` (an API key or a personal access token)."""
    lines = [f'curl -X POST "{url}"', '  -H "Authorization: Bearer $WFS_TOKEN"']
    if inputs is not None:
        body = json.dumps({"inputs": inputs}, ensure_ascii=False)
        lines += ['  -H "Content-Type: application/json"', f"  -d {_shell_quoted(body)}"]
    return " \\\n".join(lines)


def poll_curl(base: str) -> str:
    """Following an async job: the Location the submission answered."""
    return f'curl -H "Authorization: Bearer $WFS_TOKEN" "{base}/v1/jobs/$JOB_ID"'


async def endpoint_page(
    ui: Ui, wp: WorkflowPage, version: str | None, tab: str, *, problem: ApiProblem | None = None
) -> Response:
    ref, workflow = wp.ref, wp.workflow
    versions: list[dict[str, Any]] = (await ui.api.get(api_path(ref, "/versions")))["items"]
    shown: dict[str, Any] | None = None
    if workflow["current_version"] is not None:
        shown = await ui.api.get(api_path(ref, f"/versions/{version or 'current'}"))
    calls: dict[str, dict[str, str]] = {}
    if shown is not None:
        eps = shown["endpoints"]
        inputs = sample_inputs(shown["definition"].get("input_schema"))
        for kind in TABS:
            url = eps[kind] if version else _NUMBERED.sub("/versions/current/", eps[kind])
            calls[kind] = {"url": url, "curl": curl(url, inputs)}
        base = eps["sync"].split("/v1/", 1)[0]
        calls["async"]["poll"] = poll_curl(base)
    settings = await ui.api.get(api_path(ref, "/settings"))
    draft_changed = shown is not None and version is None and workflow["draft"] != shown["definition"]
    return ui.render(
        "workflows/endpoint.html",
        problem.status if problem is not None else 200,
        **wp.values("endpoint"),
        versions=versions,
        pinned=version,
        shown=shown,
        calls=calls,
        tab=tab,
        tabs=TABS,
        tab_query=lambda key: urlencode({"tab": key, **({"version": version} if version else {})}),
        push=settings["push"],
        may_deploy=wp.may(Action.WORKFLOW_EDIT),
        may_manage=wp.may(Action.WORKFLOW_MANAGE),
        may_keys=wp.may(Action.APIKEY_MANAGE),
        draft_changed=draft_changed,
        problem=problem,
    )


def _tab(value: str | None) -> str:
    return value if value in TABS else "sync"


def _version(value: str | None) -> str | None:
    return value if value and value.isdigit() else None


@router.get("/workflows/{ref}/endpoint")
async def endpoint(ref: str, ui: UiDep, version: str | None = None, tab: str | None = None) -> Response:
    """The endpoints of the current version, or of the version pinned, with a curl for each."""
    wp = await workflow_page(ui, ref)
    return await endpoint_page(ui, wp, _version(version), _tab(tab))


@router.post("/workflows/{ref}/endpoint/deploy")
async def deploy(ref: str, ui: CsrfDep) -> Response:
    """Deploy the draft as the next version, which the `current` endpoints then run."""
    wp = await workflow_page(ui, ref)
    try:
        made = await ui.api.post(api_path(wp.ref, "/deploy"))
    except ApiProblem as problem:
        return await endpoint_page(ui, wp, None, "sync", problem=problem)
    return ui.redirect(wpath(wp.ref, "/endpoint"), f"Version {made['number']} deployed: it is the current version.")
