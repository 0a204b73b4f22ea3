"""What every `wfs` command shares: the global options, the client they make, the output format, printing the
result (to stdout or `--out-file`), and turning the client's errors into one line and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from wfs_client import __version__
from wfs_client.cli.formats import Format, render
from wfs_client.client import Client
from wfs_client.config import Config, load_config
from wfs_client.errors import ApiError, ConnectionFailed, WfsError

USAGE_ERROR = 2
"""The exit code of a usage, configuration or API error."""

OutputOption = Annotated[
    Format | None,
    typer.Option("--output", "-o", help="json or yaml for scripts; text (the default) for people."),
]


@dataclass
class State:
    """The global options (given before the command), and the config once read."""

    url: str | None = None
    token: str | None = None
    profile: str | None = None
    output: Format | None = None
    config: Config | None = None

    def load(self) -> Config:
        if self.config is None:
            self.config = load_config(url=self.url, token=self.token, profile=self.profile)
        return self.config

    def client(self) -> Client:
        """A client of the configured server (ConfigError if there is none)."""
        config = self.load()
        return Client(config.url, config.token, user_agent=f"wfs/{__version__}")

    def format(self, local: Format | None) -> Format:
        """The command's `--output`, else the global one, else text."""
        return local or self.output or Format.text


def state(ctx: typer.Context) -> State:
    found = ctx.find_object(State)
    if found is None:
        found = ctx.ensure_object(State)
    return found


def err(line: str) -> None:
    """A line on stderr."""
    print(line, file=sys.stderr, flush=True)


def emit(data: Any, fmt: Format, out_file: Path | None = None, text: Callable[[Any], str] | None = None) -> None:
    """Print `data` in `fmt` on stdout, or write it to `out_file` (then stdout stays empty)."""
    rendered = render(data, fmt, text)
    if out_file is None:
        print(rendered)
        return
    try:
        out_file.write_text(rendered + "\n", encoding="utf-8")
    except OSError as exc:
        raise typer_exit(f"--out-file {out_file}: cannot write it: {exc.strerror or exc}") from None


def typer_exit(line: str, code: int = USAGE_ERROR) -> typer.Exit:
    """Say `wfs: <line>` on stderr; the exception to raise to exit with `code`."""
    err(f"wfs: {line}")
    return typer.Exit(code)


def describe(exc: WfsError) -> str:
    """The one line that tells the user what went wrong."""
    line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, ApiError) and exc.status == 401:
        line += " (check the token: WFS_TOKEN, --token or the profile's token)"
    if isinstance(exc, ConnectionFailed) and "http" not in line:
        line += " (check the server URL: WFS_URL, --url or the profile's url)"
    return line
