"""`wfs run`: submit a job of a workflow and follow it to its end."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from wfs_client import models
from wfs_client.cli.following import Waiting, wait_for
from wfs_client.cli.parsing import (
    assignments,
    needs_schema,
    parse_duration,
    parse_version,
    read_object,
    split_assignment,
)
from wfs_client.cli.state import OutputOption, state

TimeoutOption = Annotated[
    str | None,
    typer.Option("--timeout", help="Stop waiting after this long (90, 90s, 10m, 1h30m) and exit 3; default: no limit."),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Show no progress on stderr.")]
OutFileOption = Annotated[
    Path | None, typer.Option("--out-file", help="Write the output to this file instead of stdout.")
]


def run(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Argument(help="The workflow's slug.")],
    version: Annotated[str, typer.Option("--version", help="A version number, or current.")] = "current",
    input_items: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="An input: key=value (typed by the input schema) or key:=JSON."),
    ] = None,
    inputs_from: Annotated[
        str | None,
        typer.Option("--inputs", help="All inputs as a JSON object: @file.json, - for stdin, or the JSON itself."),
    ] = None,
    var_items: Annotated[
        list[str] | None, typer.Option("--var", help="A variable override: key=value or key:=JSON.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the job (or print its id and exit).")] = True,
    timeout: TimeoutOption = None,
    output: OutputOption = None,
    out_file: OutFileOption = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Submit at most once per key (default: a fresh key per run)."),
    ] = None,
    quiet: QuietOption = False,
) -> None:
    """Run a workflow: submit a job, show its progress on stderr and print its output on stdout.

    Exit codes: 0 completed, 1 failed, 2 usage, configuration or API error, 3 still running when --timeout
    ran out (its id on stdout: `wfs jobs watch ID` follows it on), 4 canceled, 130 interrupted (the job
    keeps running).

    Example:

        wfs run greeter --input name=Ada --input count=3 --timeout 10m --output json
    """
    options = state(ctx)
    fmt = options.format(output)
    timeout_s = parse_duration("--timeout", timeout) if timeout else None
    version = parse_version(version)
    inputs = read_object("--inputs", inputs_from) if inputs_from else {}
    for item in input_items or []:
        split_assignment("--input", item)  # a malformed one is refused before anything is sent
    variables = assignments("--var", var_items or [], None)
    with options.client() as client:
        schema: dict[str, Any] | None = None
        if needs_schema(input_items or []):
            definition: dict[str, Any] = dict(client.get_version(workflow, version)["definition"])
            schema = definition.get("input_schema")
        inputs |= assignments("--input", input_items or [], schema)
        body: models.JobCreate = {"inputs": inputs}
        if variables:
            body["variables"] = variables
        key = idempotency_key or str(uuid.uuid4())
        job = client.submit_async(workflow, version, body, idempotency_key=key)
        if not wait:
            print(job["id"])
            return
        code = wait_for(client, job["id"], Waiting(timeout_s, timeout, fmt, out_file, quiet))
    raise typer.Exit(code)
