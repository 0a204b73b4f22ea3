"""`wfs workflows`: list and read workflows, and deploy one from a file (create or update its draft, validate,
deploy: GitOps from CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from wfs_client.cli.formats import cell, table, when
from wfs_client.cli.state import OutputOption, emit, err, state, typer_exit
from wfs_client.client import Client
from wfs_client.errors import ApiError

app = typer.Typer(
    help="List, read, deploy, export and import workflows.\n\nExample:\n\n"
    "    wfs workflows deploy workflows/greeter.yaml",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
Workflow = Annotated[str, typer.Argument(help="The workflow's slug.")]
INVALID = 1
"""The exit code of a definition with problems."""


def _workflows_table(page: dict[str, Any]) -> str:
    rows = [
        [w["slug"], w["name"], cell(w.get("current_version")), when(w.get("updated_at"))] for w in page.get("items", [])
    ]
    more = f"\n(more: {page['next_cursor']})" if page.get("next_cursor") else ""
    return table(["SLUG", "NAME", "CURRENT", "UPDATED"], rows) + more


@app.command("list")
def list_workflows(ctx: typer.Context, output: OutputOption = None) -> None:
    """List the workflows you can see.

    Example:

        wfs workflows list --output json
    """
    options = state(ctx)
    with options.client() as client:
        page = client.list_workflows()
    emit(page, options.format(output), text=_workflows_table)


def _workflow_view(found: dict[str, Any]) -> str:
    endpoints = found.get("endpoints") or {}
    lines = [
        f"slug:      {found['slug']}",
        f"name:      {found['name']}",
        f"current:   {cell(found.get('current_version'))}",
        f"updated:   {when(found.get('updated_at'))}",
    ]
    if found.get("description"):
        lines.append(f"about:     {found['description']}")
    lines += [f"{mode + ':':<10} {url}" for mode, url in endpoints.items()]
    problems = found.get("draft_problems") or []
    lines += ["draft:     can be deployed" if not problems else "draft problems:"]
    lines += [f"  {p['path']}: {p['message']}" for p in problems]
    return "\n".join(lines)


@app.command("get")
def get_workflow(ctx: typer.Context, workflow: Workflow, output: OutputOption = None) -> None:
    """Show a workflow: its current version, endpoints and whether its draft can be deployed.

    Example:

        wfs workflows get greeter
    """
    options = state(ctx)
    with options.client() as client:
        found = client.get_workflow(workflow)
    emit(found, options.format(output), text=_workflow_view)


@app.command("versions")
def versions(ctx: typer.Context, workflow: Workflow, output: OutputOption = None) -> None:
    """List a workflow's deployed versions.

    Example:

        wfs workflows versions greeter
    """
    options = state(ctx)
    with options.client() as client:
        found = client.list_versions(workflow)

    def view(listed: dict[str, Any]) -> str:
        rows = [[str(v["number"]), when(v.get("created_at")), v["content_hash"][:12]] for v in listed["items"]]
        return table(["VERSION", "CREATED", "HASH"], rows)

    emit(found, options.format(output), text=view)


def _save_draft(client: Client, content: bytes, content_type: str) -> tuple[dict[str, Any], str]:
    """Create the workflow from the file, or replace its draft when it exists; the workflow and what was done."""
    try:
        created: dict[str, Any] = client.request("POST", "/v1/workflows", content=content, content_type=content_type)
        return created, "created"
    except ApiError as exc:
        slug = exc.problem.get("slug")
        if exc.status != 409 or not isinstance(slug, str):
            raise
    path = f"/v1/workflows/{quote(slug, safe='')}/draft"
    updated: dict[str, Any] = client.request("PUT", path, content=content, content_type=content_type)
    return updated, "updated"


@app.command("deploy")
def deploy(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A workflow file (YAML, or JSON by .json): name, slug, definition.")],
    no_deploy: Annotated[bool, typer.Option("--no-deploy", help="Save and validate the draft only.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Deploy a new version even when the draft equals the current one.")
    ] = False,
    output: OutputOption = None,
) -> None:
    """Deploy a workflow from a file: create it (or update its draft when it exists), validate the draft, and
    deploy it as a new version. A draft with problems prints each `path: message` and exits 1. A draft equal to
    the current version deploys nothing (the same file deployed on every CI run makes no new version), unless
    `--force`.

    The file has the fields of POST /v1/workflows: name, optional slug and description, and definition.

    Example:

        wfs workflows deploy workflows/greeter.yaml
    """
    options = state(ctx)
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise typer_exit(f"cannot read {file}: {exc.strerror or exc}") from None
    content_type = "application/json" if file.suffix.lower() == ".json" else "application/yaml"
    fmt = options.format(output)
    with options.client() as client:
        saved, done = _save_draft(client, content, content_type)
        slug = saved["slug"]
        report = client.validate_draft(slug)
        if report["problems"]:
            err(f"wfs: the draft of {slug} was {done} but cannot be deployed:")
            for problem in report["problems"]:
                err(f"{problem['path']}: {problem['message']}")
            raise typer.Exit(INVALID)
        if no_deploy:
            emit(saved, fmt, text=lambda _: f"{slug}: draft {done} and valid; not deployed")
            return
        current = _current_version(client, saved)
        if current is not None and current["definition"] == saved["draft"] and not force:
            text = f"{slug}: unchanged, version {current['number']} is current\n{current['endpoints']['async']}"
            emit(current, fmt, text=lambda _: text)
            return
        version = client.deploy_workflow(slug)
    emit(
        version, fmt, text=lambda v: f"{slug}: draft {done}, version {v['number']} deployed\n{v['endpoints']['async']}"
    )


def _current_version(client: Client, workflow: dict[str, Any]) -> dict[str, Any] | None:
    """The workflow's current version (with its definition), None before its first deploy."""
    if workflow.get("current_version") is None:
        return None
    return dict(client.get_version(workflow["slug"], str(workflow["current_version"])))
