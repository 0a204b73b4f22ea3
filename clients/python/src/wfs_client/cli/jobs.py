"""`wfs jobs`: list, read, follow, cancel and rerun jobs."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from wfs_client._transport import path_segment
from wfs_client.cli.following import Waiting, wait_for
from wfs_client.cli.formats import cell, records, seconds, table, to_json, when
from wfs_client.cli.parsing import parse_duration
from wfs_client.cli.run import OutFileOption, QuietOption, TimeoutOption
from wfs_client.cli.state import OutputOption, State, emit, state, typer_exit

app = typer.Typer(
    help="List, read, follow, cancel and rerun jobs.\n\nExample:\n\n    wfs jobs list --status failed --limit 5",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


class Sort(enum.StrEnum):
    """The orders `GET /v1/jobs` knows (`-`: newest or longest first)."""

    newest = "-created"
    oldest = "created"
    updated_last = "-updated"
    updated_first = "updated"
    finished_last = "-finished"
    finished_first = "finished"
    longest = "-duration"
    shortest = "duration"
    name_a_z = "name"
    name_z_a = "-name"
    workflow_a_z = "workflow"
    workflow_z_a = "-workflow"
    status_early = "status"
    status_late = "-status"
    fewest_steps = "steps"
    most_steps = "-steps"


JobId = Annotated[str, typer.Argument(help="The job's id.")]


def _workflow(item: dict[str, Any]) -> str:
    ref = item.get("workflow")
    return str(ref.get("slug")) if isinstance(ref, dict) else cell(ref)


def _jobs_table(page: dict[str, Any]) -> str:
    headers = ["ID", "WORKFLOW", "VERSION", "STATUS", "ORIGIN", "CREATED", "DURATION"]
    rows = [
        [
            str(j["id"]),
            _workflow(j),
            cell(j.get("version")),
            str(j["status"]),
            cell(j.get("origin")),
            when(j.get("created_at")),
            seconds(j.get("duration")),
        ]
        for j in page.get("items", [])
    ]
    more = f"\n(more: {page['next_cursor']})" if page.get("next_cursor") else ""
    return table(headers, rows) + more


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    workflow: Annotated[str | None, typer.Option("--workflow", "-w", help="Only this workflow's jobs.")] = None,
    status: Annotated[list[str] | None, typer.Option("--status", "-s", help="Only jobs in this status.")] = None,
    origin: Annotated[
        list[str] | None, typer.Option("--origin", help="Only jobs of this origin (api, schedule, ...).")
    ] = None,
    q: Annotated[str | None, typer.Option("--q", help="Search the jobs' names and ids.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many jobs.")] = None,
    sort: Annotated[Sort | None, typer.Option("--sort", help="The order (- for descending).")] = None,
    output: OutputOption = None,
) -> None:
    """List jobs, newest first, with filters.

    Example:

        wfs jobs list --workflow greeter --status failed --limit 20
    """
    options = state(ctx)
    with options.client() as client:
        order: Any = None if sort is None else sort.value  # one of the contract's values: the enum holds only those
        page = client.list_jobs(workflow=workflow, status=status, origin=origin, q=q, limit=limit, sort=order)
    emit(page, options.format(output), text=_jobs_table)


def _job_view(job: dict[str, Any]) -> str:
    error = job.get("error") or {}
    pairs = [
        ("id", job["id"]),
        ("workflow", f"{_workflow(job)} v{job.get('version')}"),
        ("status", job["status"]),
        ("origin", cell(job.get("origin"))),
        ("created", when(job.get("created_at"))),
        ("started", when(job.get("started_at"))),
        ("finished", when(job.get("finished_at"))),
        ("duration", seconds(job.get("duration"))),
    ]
    if error:
        pairs.append(("error", f"{error.get('code')}: {error.get('message')} (step {cell(error.get('step'))})"))
    lines = [f"{name + ':':<10} {value}" for name, value in pairs]
    steps = job.get("steps") or []
    if steps:
        rows = [[s["id"], s["type"], s["status"], when(s.get("started_at")), _took(s)] for s in steps]
        lines += ["", table(["STEP", "TYPE", "STATUS", "STARTED", "LATENCY"], rows)]
    if job.get("output") is not None:
        lines += ["", "output:", to_json(job["output"])]
    return "\n".join(lines)


def _took(step: dict[str, Any]) -> str:
    latency = step.get("latency_ms")
    return f"{latency / 1000:.2f} s" if isinstance(latency, int | float) else "-"


@app.command("get")
def get_job(ctx: typer.Context, job_id: JobId, output: OutputOption = None) -> None:
    """Show a job: status, times, error, steps and output.

    Example:

        wfs jobs get 0193a2c4-5b6e-7f00-8000-0123456789ab --output json
    """
    options = state(ctx)
    with options.client() as client:
        job = client.get_job(job_id)
    emit(job, options.format(output), text=_job_view)


@app.command("watch")
def watch(
    ctx: typer.Context,
    job_id: JobId,
    timeout: TimeoutOption = None,
    output: OutputOption = None,
    out_file: OutFileOption = None,
    quiet: QuietOption = False,
) -> None:
    """Follow a job to its end and print its output; the exit codes are those of `wfs run`.

    Example:

        wfs jobs watch 0193a2c4-5b6e-7f00-8000-0123456789ab --timeout 30m
    """
    options = state(ctx)
    timeout_s = parse_duration("--timeout", timeout) if timeout else None
    with options.client() as client:
        code = wait_for(client, job_id, Waiting(timeout_s, timeout, options.format(output), out_file, quiet))
    raise typer.Exit(code)


@app.command("cancel")
def cancel(ctx: typer.Context, job_id: JobId, output: OutputOption = None) -> None:
    """Cancel a job that has not ended.

    Example:

        wfs jobs cancel 0193a2c4-5b6e-7f00-8000-0123456789ab
    """
    options = state(ctx)
    with options.client() as client:
        job = client.cancel_job(job_id)
    emit(job, options.format(output), text=lambda j: f"job {j['id']} {j['status']}")


@app.command("rerun")
def rerun(
    ctx: typer.Context,
    job_id: JobId,
    from_step: Annotated[
        str | None, typer.Option("--from-step", help="Reuse the results before this step; run from it.")
    ] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the new job like `wfs run`.")] = False,
    timeout: TimeoutOption = None,
    output: OutputOption = None,
    out_file: OutFileOption = None,
    quiet: QuietOption = False,
) -> None:
    """Run a job again with the same inputs (on the same version); print the new job's id, or with --wait
    follow it like `wfs run`.

    Example:

        wfs jobs rerun 0193a2c4-5b6e-7f00-8000-0123456789ab --from-step summarize --wait
    """
    options = state(ctx)
    timeout_s = parse_duration("--timeout", timeout) if timeout else None
    with options.client() as client:
        job = client.run_job_from_step(job_id, {"step": from_step}) if from_step else client.rerun_job(job_id)
        if not wait:
            print(job["id"])
            return
        code = wait_for(client, job["id"], Waiting(timeout_s, timeout, options.format(output), out_file, quiet))
    raise typer.Exit(code)


class FileFormat(enum.StrEnum):
    """The formats the service writes a job's output in as a file (`GET /v1/jobs/{id}/output?format=`)."""

    json = "json"
    txt = "txt"
    md = "md"
    pdf = "pdf"


@app.command("output")
def output_of(
    ctx: typer.Context,
    job_id: JobId,
    step: Annotated[str | None, typer.Option("--step", help="That step's output instead of the job's.")] = None,
    output: OutputOption = None,
    out_file: OutFileOption = None,
    file_format: Annotated[
        FileFormat | None,
        typer.Option(
            "--format",
            help="Download the output as the service writes it as a file: json, txt (text), md (Markdown with the "
            "job's facts) or pdf (needs --out-file).",
        ),
    ] = None,
) -> None:
    """Print a job's output, or one step's; or, with --format, download it as a file.

    Example:

        wfs jobs output 0193a2c4-5b6e-7f00-8000-0123456789ab --step fetch --output json

        wfs jobs output 0193a2c4-5b6e-7f00-8000-0123456789ab --format pdf --out-file report.pdf
    """
    options = state(ctx)
    if file_format is not None:
        _download(options, job_id, step, file_format, out_file)
        return
    with options.client() as client:
        job = client.get_job(job_id, steps=step is not None)
    if step is None:
        emit(job.get("output"), options.format(output), out_file)
        return
    found = [s for s in job.get("steps") or [] if s["id"] == step]
    if not found:
        ran = ", ".join(s["id"] for s in job.get("steps") or []) or "none"
        raise typer_exit(f"job {job_id} has no step {step!r} (its steps: {ran})")
    emit(found[-1].get("output"), options.format(output), out_file)


def _download(options: State, job_id: str, step: str | None, file_format: FileFormat, out_file: Path | None) -> None:
    """The output as the service writes it in `file_format`, into `out_file` or onto stdout (not a PDF's bytes)."""
    if file_format is FileFormat.pdf and out_file is None:
        raise typer_exit("--format pdf writes a file: give it with --out-file")
    path = f"/v1/jobs/{path_segment(job_id)}"
    if step is not None:
        path += f"/steps/{path_segment(step)}"
    with options.client() as client:
        content = client.fetch(f"{path}/output", params={"format": file_format.value}).content
    if out_file is None:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
    else:
        out_file.write_bytes(content)


def _history(events: dict[str, Any]) -> str:
    rows = [
        [
            when(e.get("at")),
            cell(e.get("from_status")),
            str(e["to_status"]),
            cell(e.get("actor")),
            cell(e.get("reason")),
        ]
        for e in events.get("items", [])
    ]
    return table(["AT", "FROM", "TO", "ACTOR", "REASON"], rows)


@app.command("events")
def events(ctx: typer.Context, job_id: JobId, output: OutputOption = None) -> None:
    """Show a job's status history: every change with its time, actor and reason.

    Example:

        wfs jobs events 0193a2c4-5b6e-7f00-8000-0123456789ab
    """
    options = state(ctx)
    with options.client() as client:
        history = client.stream_job_events(job_id)
    emit(history, options.format(output), text=_history)


def _deliveries(found: dict[str, Any]) -> str:
    items = [
        {
            "id": d["id"],
            "kind": d["kind"],
            "event": d["event_type"],
            "status": d["status"],
            "attempts": len(d.get("attempts") or []),
            "created": when(d.get("created_at")),
            "finished": when(d.get("finished_at")),
        }
        for d in found.get("items", [])
    ]
    return records(items) if items else "no deliveries"


@app.command("deliveries")
def deliveries(ctx: typer.Context, job_id: JobId, output: OutputOption = None) -> None:
    """Show the callbacks sent for a job (push and notify), with their attempts.

    Example:

        wfs jobs deliveries 0193a2c4-5b6e-7f00-8000-0123456789ab --output yaml
    """
    options = state(ctx)
    with options.client() as client:
        found = client.list_deliveries(job_id)
    emit(found, options.format(output), text=_deliveries)
