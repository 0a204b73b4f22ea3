"""`wfs keys`: a workflow's API keys (the tokens that callers of its endpoints use)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from wfs_client import models
from wfs_client.cli.formats import cell, table, when
from wfs_client.cli.state import OutputOption, emit, err, state

app = typer.Typer(
    help="Create, list and revoke a workflow's API keys.\n\nExample:\n\n    wfs keys create greeter --name ci",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
Workflow = Annotated[str, typer.Argument(help="The workflow's slug.")]


@app.command("create")
def create(
    ctx: typer.Context,
    workflow: Workflow,
    name: Annotated[str, typer.Option("--name", help="What the key is for, e.g. the calling system.")],
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", help="It stops working after this many days; default: never.")
    ] = None,
    output: OutputOption = None,
) -> None:
    """Create an API key for a workflow and print it. It is shown only this once: store it now.

    Example:

        wfs keys create greeter --name ci --expires-in-days 90
    """
    options = state(ctx)
    body: models.ApiKeyCreate = {"name": name}
    if expires_in_days is not None:
        body["expires_in_days"] = expires_in_days
    with options.client() as client:
        created = client.create_api_key(workflow, body)
    emit(created, options.format(output), text=lambda c: c["key"])
    err(f"wfs: key {created['prefix']}… ({created['id']}) is shown only once: store it now")


@app.command("list")
def list_keys(ctx: typer.Context, workflow: Workflow, output: OutputOption = None) -> None:
    """List a workflow's API keys (their public prefixes, never the keys).

    Example:

        wfs keys list greeter
    """
    options = state(ctx)
    with options.client() as client:
        found = client.list_api_keys(workflow)

    def view(listed: dict[str, Any]) -> str:
        rows = [
            [
                k["id"],
                k["name"],
                k["prefix"],
                when(k.get("created_at")),
                when(k.get("last_used_at")),
                when(k.get("expires_at")) if k.get("expires_at") else "never",
            ]
            for k in listed["items"]
        ]
        return table(["ID", "NAME", "PREFIX", "CREATED", "LAST USED", "EXPIRES"], rows)

    emit(found, options.format(output), text=view)


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    workflow: Workflow,
    key_id: Annotated[str, typer.Argument(help="The key's id (from `wfs keys list`).")],
    output: OutputOption = None,
) -> None:
    """Revoke a workflow's API key: it stops working at once.

    Example:

        wfs keys revoke greeter 0193a2c4-5b6e-7f00-8000-0123456789ab
    """
    options = state(ctx)
    with options.client() as client:
        client.revoke_api_key(workflow, key_id)
    emit({"id": key_id, "revoked": True}, options.format(output), text=lambda r: f"key {cell(r['id'])} revoked")
