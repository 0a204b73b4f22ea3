"""The `wfs` command: run workflows and follow their jobs from a terminal or a CI script.

Exit codes: 0 done (a job completed), 1 a job failed (or a definition has problems), 2 a usage,
configuration or API error (one line on stderr), 3 a job still running when --timeout ran out, 4 a job
canceled, 130 interrupted."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from wfs_client import __version__
from wfs_client.cli import jobs, keys, packages, workflows
from wfs_client.cli.formats import Format
from wfs_client.cli.run import run
from wfs_client.cli.state import USAGE_ERROR, OutputOption, State, describe, emit, err, state
from wfs_client.config import masked
from wfs_client.errors import WfsError

app = typer.Typer(
    name="wfs",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
config_app = typer.Typer(
    help="Show the configuration in use.\n\nExample:\n\n    wfs config show",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _print_version(value: bool) -> None:
    if value:
        print(f"wfs {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    ctx: typer.Context,
    url: Annotated[str | None, typer.Option("--url", help="The server's URL (default: WFS_URL, the profile).")] = None,
    token: Annotated[str | None, typer.Option("--token", help="The token (default: WFS_TOKEN, the profile).")] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="The config file's profile (default: WFS_PROFILE).")
    ] = None,
    output: Annotated[
        Format | None, typer.Option("--output", "-o", help="json or yaml for scripts; text (default) for people.")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print wfs's version.")
    ] = False,
) -> None:
    """Run workflow-service workflows and follow their jobs.

    The server and token come from --url/--token, else WFS_URL/WFS_TOKEN, else a profile of
    ~/.config/workflow-service/config.toml (WFS_CONFIG names another file).

    Example:

        WFS_URL=https://wfs.example.com WFS_TOKEN=wfs_key_... wfs run greeter --input name=Ada
    """
    ctx.obj = State(url, token, profile, output)


@config_app.command("show")
def show_config(ctx: typer.Context, output: OutputOption = None) -> None:
    """Show the server URL, profile and token (masked) in use, and where each came from.

    Example:

        wfs --profile staging config show
    """
    options = state(ctx)
    config = options.load()
    shown: dict[str, Any] = {
        "url": config.url,
        "url_from": config.url_from,
        "profile": config.profile,
        "profile_from": config.profile_from,
        "token": masked(config.token),
        "token_from": config.token_from,
        "config_file": str(config.path),
        "config_file_exists": config.path.is_file(),
    }

    def view(c: dict[str, Any]) -> str:
        file_state = "" if c["config_file_exists"] else " (not found)"
        return "\n".join(
            [
                f"url:      {c['url']}  (from {c['url_from']})",
                f"token:    {c['token']}" + (f"  (from {c['token_from']})" if c["token_from"] else ""),
                f"profile:  {c['profile']}  (from {c['profile_from']})",
                f"file:     {c['config_file']}{file_state}",
            ]
        )

    emit(shown, options.format(output), text=view)


app.command("run")(run)
app.add_typer(jobs.app, name="jobs")
packages.register(workflows.app)
app.add_typer(workflows.app, name="workflows")
app.add_typer(keys.app, name="keys")
app.add_typer(config_app, name="config")


def main() -> None:
    """The `wfs` entry point: the client's errors become one line on stderr and exit code 2."""
    try:
        app(prog_name="wfs")
    except WfsError as exc:
        err(f"wfs: {describe(exc)}")
        sys.exit(USAGE_ERROR)
