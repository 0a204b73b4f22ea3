"""`wfs workflows export|import|backups|backup`: move a workflow between services as a package (a zip: its
definition, endpoint settings and environment variables; docs/packages.md), from staging to production in CI.

They are commands of `wfs workflows`, not a group of their own: a package is always one workflow's, and CI
scripts find them beside `wfs workflows deploy`."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from wfs_client import models
from wfs_client._transport import path_segment
from wfs_client.cli.files import attachment_name, passphrase, read_upload, write_download
from wfs_client.cli.formats import Format, table, when
from wfs_client.cli.state import OutputOption, emit, err, state, typer_exit
from wfs_client.errors import ApiError

CONFLICTS = 1
"""The exit code of an import refused for conflicting environment variables, or of a draft --deploy cannot
deploy."""
CHANGES_SHOWN = 50
"""How many of a dry run's definition changes the text output lists."""
VALUE_CHARS = 60

Workflow = Annotated[str, typer.Argument(help="The workflow's slug.")]
PassphraseEnv = Annotated[
    str | None,
    typer.Option(
        "--passphrase-env",
        metavar="VAR",
        help="The name of an environment variable holding the passphrase of the secure values (default: "
        "WFS_EXPORT_PASSPHRASE when set). Never the passphrase itself: it would show in `ps` and CI logs.",
    ),
]
OutFile = Annotated[
    str | None,
    typer.Option("--out-file", metavar="FILE", help="Where to write the zip (`-`: stdout); default: its own name."),
]


class OnConflict(enum.StrEnum):
    ask = "ask"
    keep = "keep"
    overwrite = "overwrite"


def _written(path: str | None, fmt: Format, size: int) -> None:
    if path is not None:
        emit({"file": path, "size": size}, fmt, text=lambda shown: str(shown["file"]))


def export(
    ctx: typer.Context,
    workflow: Workflow,
    version: Annotated[
        str | None, typer.Option("--version", help="A deployed version's number, current (the default) or draft.")
    ] = None,
    out_file: OutFile = None,
    passphrase_env: PassphraseEnv = None,
    output: OutputOption = None,
) -> None:
    """Export a version of a workflow as a package (a zip); print the file written.

    The file is named as the service names it (`Greeter.zip`), in the current directory, unless --out-file.
    Secure values are left out, unless a passphrase is given (--passphrase-env, or WFS_EXPORT_PASSPHRASE): then
    they are encrypted with it.

    Example:

        PASSPHRASE=... wfs workflows export greeter --version 3 --passphrase-env PASSPHRASE --out-file greeter.zip
    """
    options = state(ctx)
    secret = passphrase(passphrase_env)
    with options.client() as client:
        path = f"/v1/workflows/{path_segment(workflow)}/export"
        response = client.fetch(path, params={"version": version}, headers={"X-Export-Passphrase": secret})
    written = write_download(response.content, out_file, attachment_name(response, f"{workflow}.zip"))
    _written(written, options.format(output), len(response.content))


def _resolutions(given: list[str]) -> str | None:
    """`--resolve NAME=keep|overwrite` options as the JSON object the service takes."""
    chosen: dict[str, str] = {}
    for item in given:
        name, _, choice = item.partition("=")
        if not name or choice not in ("keep", "overwrite"):
            raise typer_exit(f"--resolve {item!r}: write NAME=keep or NAME=overwrite")
        chosen[name] = choice
    return json.dumps(chosen) if chosen else None


def _side(side: dict[str, Any]) -> str:
    value = side.get("value")
    shown = "(no value)" if value is None else str(value)
    shown = shown if len(shown) <= VALUE_CHARS else shown[: VALUE_CHARS - 1] + "…"
    return shown + (" (secure)" if side.get("secure") else "")


def _conflicts(error: ApiError, workflow: str, fmt: Format) -> typer.Exit:
    """Each conflicting variable on a line and how to resolve them; the exit to raise."""
    conflicts = [c for c in error.problem.get("conflicts") or [] if isinstance(c, dict)]
    if fmt is not Format.text:
        emit(error.problem, fmt)
    err(f"wfs: the package's environment variables conflict with {workflow}'s; nothing was imported:")
    for conflict in conflicts:
        resolved = "" if conflict.get("resolution") == "ask" else f" (resolved: {conflict.get('resolution')})"
        here, package = _side(conflict.get("existing") or {}), _side(conflict.get("imported") or {})
        err(f"{conflict.get('name')}: here {here}, package {package}{resolved}")
    first = next((c.get("name") for c in conflicts if c.get("resolution") == "ask"), "NAME")
    err(
        "import again with --on-conflict keep (keep the values here) or --on-conflict overwrite (take the "
        f"package's), or choose for each: --resolve {first}=keep, --resolve {first}=overwrite"
    )
    return typer.Exit(CONFLICTS)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def _change(change: dict[str, Any]) -> str:
    kind, path = change["change"], change["path"]
    if kind == "added":
        return f"  + {path}: {_short(change.get('after'))}"
    if kind == "removed":
        return f"  - {path}: {_short(change.get('before'))}"
    return f"  ~ {path}: {_short(change.get('before'))} -> {_short(change.get('after'))}"


def _report_view(done: dict[str, Any], head: str) -> str:
    """What an import did (or, for a dry run, would do), for people."""
    report: dict[str, Any] = done["report"]
    lines = [head]
    if report.get("backup"):
        backup = report["backup"]
        lines.append(f"backup: {backup['file_name']} (id {backup['id']})")
    env = report["env"]
    for key, label in (("added", "added"), ("kept", "kept"), ("overwritten", "overwritten")):
        if env.get(key):
            lines.append(f"variables {label}: {', '.join(env[key])}")
    if env.get("needs_value"):
        lines.append(f"variables that need a value (secure, not in the package): {', '.join(env['needs_value'])}")
    if report.get("push_left_disabled"):
        lines.append("push left disabled: give it an access token and enable it in the workflow's settings")
    definition = report.get("definition")
    if report.get("dry_run") and definition is not None:
        changes = definition["changes"]
        lines.append(f"definition changes: {definition['total'] or 'none'}")
        lines += [_change(c) for c in changes[:CHANGES_SHOWN]]
        if definition["total"] > min(len(changes), CHANGES_SHOWN):
            lines.append(f"  ... and {definition['total'] - min(len(changes), CHANGES_SHOWN)} more (see -o json)")
    if done.get("version"):
        lines.append(f"version {done['version']['number']} deployed: {done['version']['endpoints']['async']}")
    problems = report.get("draft_problems") or []
    lines += ["draft problems (it cannot be deployed here yet):"] if problems else []
    lines += [f"  {p['path']}: {p['message']}" for p in problems]
    return "\n".join(lines)


def _head(done: dict[str, Any], into: str | None, dry_run: bool) -> str:
    """The first line: what was imported, as what."""
    origin = done["report"]["origin"]
    source = "draft" if origin["version"] == "draft" else f"version {origin['version']}"
    came = f"{origin['workflow']} {source}"
    if dry_run:
        target = f"the draft of {into}" if into else "a new workflow"
        return f"dry run: nothing changed; importing {came} as {target} would do this"
    slug = done["workflow"]["slug"]
    if into:
        return f"{slug}: draft replaced by {came}" + ("" if done.get("version") else " (not deployed)")
    return f"{slug}: imported {came} as a new workflow" + ("" if done.get("version") else " (draft, not deployed)")


def import_package(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The package: a zip made by an export (or a backup).")],
    into: Annotated[
        str | None, typer.Option("--into", metavar="WORKFLOW", help="Replace this workflow's draft instead.")
    ] = None,
    slug: Annotated[
        str | None, typer.Option("--slug", help="The new workflow's slug (default: from its name).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="The new workflow's name (default: the package's).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Change nothing; show what the import would do.")] = False,
    on_conflict: Annotated[
        OnConflict | None,
        typer.Option("--on-conflict", help="With --into, for variables that differ: ask (exit 1), keep, overwrite."),
    ] = None,
    resolve: Annotated[
        list[str] | None,
        typer.Option("--resolve", metavar="NAME=keep|overwrite", help="With --into, one variable's choice."),
    ] = None,
    backup: Annotated[
        bool, typer.Option("--backup", help="With --into, first keep the draft it replaces as a backup.")
    ] = False,
    deploy: Annotated[
        bool, typer.Option("--deploy", help="Then deploy the imported draft (exit 1 if it has problems here).")
    ] = False,
    passphrase_env: PassphraseEnv = None,
    output: OutputOption = None,
) -> None:
    """Import a package as a new workflow, or with --into as an existing workflow's draft.

    With --into, the workflow's deployed versions, name and settings stay. The draft is not deployed, unless
    --deploy. Variables that differ between the workflow and the package exit 1, each on a line; choose with
    --on-conflict or --resolve and import again.

    Example:

        wfs workflows import Greeter.zip --into greeter --backup --on-conflict keep --passphrase-env PASSPHRASE
    """
    options = state(ctx)
    if into is not None and (slug or name):
        raise typer_exit("--slug and --name name a new workflow: leave them out with --into")
    if into is None and (on_conflict or resolve or backup):
        raise typer_exit("--on-conflict, --resolve and --backup replace a draft: give the workflow with --into")
    if deploy and dry_run:
        raise typer_exit("--deploy and --dry-run: a dry run changes nothing, so there is nothing to deploy")
    content = read_upload(file)
    secret, fmt = passphrase(passphrase_env), options.format(output)
    with options.client() as client:
        if into is None:
            # None fields are left out of the form: the service's defaults (a slug from the name, the package's name).
            new: models.Body_importWorkflow = {"package": content, "passphrase": secret, "dry_run": dry_run}
            done = client.import_workflow(new | {"slug": slug, "name": name})
        else:
            body: models.Body_importIntoWorkflow = {"package": content, "passphrase": secret, "dry_run": dry_run}
            body |= {"backup": backup, "resolutions": _resolutions(resolve or [])}
            if on_conflict is not None:
                body["on_conflict"] = on_conflict.value
            try:
                done = client.import_into_workflow(into, body)
            except ApiError as error:
                if error.status == 409 and error.code == "env_conflicts":
                    raise _conflicts(error, into, fmt) from None
                raise
        shown: dict[str, Any] = dict(done)
        problems = shown["report"]["draft_problems"] if deploy else []
        if deploy and not problems:
            shown["version"] = dict(client.deploy_workflow(shown["workflow"]["slug"]))
    emit(shown, fmt, text=lambda d: _report_view(d, _head(d, into, dry_run)))
    if problems:
        where = "draft_problems" if fmt is not Format.text else "listed above"
        err(f"wfs: imported, but not deployed: the draft has {len(problems)} problem(s) here ({where})")
        raise typer.Exit(CONFLICTS)


def backups(ctx: typer.Context, workflow: Workflow, output: OutputOption = None) -> None:
    """List the backups of a workflow's drafts that imports with --backup replaced, newest first.

    Example:

        wfs workflows backups greeter
    """
    options = state(ctx)
    with options.client() as client:
        found = client.list_backups(workflow)

    def view(listed: dict[str, Any]) -> str:
        rows = [
            [b["id"], b["file_name"], str(b["size"]), when(b["created_at"]), b["created_by"]] for b in listed["items"]
        ]
        return table(["ID", "FILE", "BYTES", "CREATED", "BY"], rows) if rows else f"{workflow} has no backups"

    emit(dict(found), options.format(output), text=view)


def backup(
    ctx: typer.Context,
    workflow: Workflow,
    backup_id: Annotated[str, typer.Argument(metavar="ID", help="The backup's id (see wfs workflows backups).")],
    out_file: OutFile = None,
    output: OutputOption = None,
) -> None:
    """Download a backup; print the file written.

    The file is `Exported_<Workflow Name>.zip` in the current directory, unless --out-file. It imports back like
    any package.

    Example:

        wfs workflows backup greeter 0193a2c4-5b6e-7f00-8000-0123456789ab --out-file before.zip
    """
    options = state(ctx)
    with options.client() as client:
        path = f"/v1/workflows/{path_segment(workflow)}/backups/{path_segment(backup_id)}"
        response = client.fetch(path)
    written = write_download(response.content, out_file, attachment_name(response, f"Exported_{workflow}.zip"))
    _written(written, options.format(output), len(response.content))


def register(app: typer.Typer) -> None:
    """Add the commands to `wfs workflows`."""
    app.command("export")(export)
    app.command("import")(import_package)
    app.command("backups")(backups)
    app.command("backup")(backup)
