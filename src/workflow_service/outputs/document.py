"""What a downloaded output shows, whatever its format: a job's facts, its inputs (only for those who may see them,
as the job view shows them), its output, and its steps; or one step's.

Built from the JobRead the caller may see (jobs/views.py already withheld the inputs from everyone but the job's
creator), so a file never shows more than `GET /v1/jobs/{id}` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflow_service.jobs.schemas import JobRead, StepRead


def when(at: datetime | None) -> str:
    """A time as the files show it: UTC, to the second."""
    return "-" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds(value: float | None) -> str:
    """A duration in seconds, short: `0.42 s`, `12.3 s`, `2 min 5 s`."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest} s"


@dataclass(frozen=True)
class StepPart:
    """One step of a job as a file shows it: what it was, how it ran, and its output."""

    id: str
    type: str
    status: str
    model: str | None
    started_at: datetime
    finished_at: datetime | None
    latency_ms: float | None
    output: Any
    error: str | None

    @property
    def has_output(self) -> bool:
        return self.status == "completed"

    def timing(self) -> str:
        took = None
        if self.finished_at is not None:
            took = (self.finished_at - self.started_at).total_seconds()
        text = f"started {when(self.started_at)}, took {seconds(took)}"
        if self.latency_ms is not None:
            text += f" (model {seconds(self.latency_ms / 1000)})"
        return text

    def facts(self, *, with_status: bool = True) -> list[tuple[str, str]]:
        shown = [("Type", self.type)] + ([("Status", self.status)] if with_status else [])
        if self.model:
            shown.append(("Model", self.model))
        shown.append(("Timing", self.timing()))
        if self.error:
            shown.append(("Error", self.error))
        return shown

    @classmethod
    def of(cls, step: StepRead) -> StepPart:
        error = None
        if step.error:
            error = str(step.error.get("message") or step.error.get("code") or step.error)
        return cls(
            id=step.id,
            type=step.type,
            status=step.status,
            model=step.model,
            started_at=step.started_at,
            finished_at=step.finished_at,
            latency_ms=step.latency_ms,
            output=step.output,
            error=error,
        )


@dataclass(frozen=True)
class Document:
    """A job's output (or one step's) ready to render: title, facts, inputs when shown, output, steps."""

    title: str
    facts: list[tuple[str, str]]
    output: Any
    inputs: dict[str, Any] | None = None
    """None: not shown (withheld from this reader, or a step's file)."""
    inputs_withheld: bool = False
    error: str | None = None
    """Why a job that ended without completing has no output."""
    steps: list[StepPart] = field(default_factory=list)
    """With `steps=true`: every step's record, in order."""


def title_of(job: JobRead) -> str:
    """The job's name, or `<workflow slug>-<first 8 of its id>` (as its file is named)."""
    return job.name if job.name and job.name.strip() else f"{job.workflow.slug}-{str(job.id)[:8]}"


def job_facts(job: JobRead, workflow_name: str) -> list[tuple[str, str]]:
    """What every file of a job says about it: workflow and version, status, dates, duration."""
    workflow = workflow_name if workflow_name == job.workflow.slug else f"{workflow_name} ({job.workflow.slug})"
    return [
        ("Workflow", workflow),
        ("Version", str(job.version)),
        ("Status", job.status.value),
        ("Created", when(job.created_at)),
        ("Finished", when(job.finished_at)),
        ("Duration", seconds(job.duration)),
        ("Job", str(job.id)),
    ]


def of_job(job: JobRead, workflow_name: str, *, with_steps: bool) -> Document:
    """The document of a job that has ended: its output, or the error it ended with."""
    error = None
    if job.error is not None and job.output is None:
        error = f"{job.error.code}: {job.error.message}"
    return Document(
        title=title_of(job),
        facts=job_facts(job, workflow_name),
        output=job.output,
        inputs=job.inputs,
        inputs_withheld=job.inputs_withheld,
        error=error,
        steps=[StepPart.of(s) for s in job.steps or []] if with_steps else [],
    )


def of_step(job: JobRead, workflow_name: str, step: StepRead) -> Document:
    """The document of one step's output (a completed step's): the step's facts, then the job's."""
    facts = [("Step", step.id), *StepPart.of(step).facts(with_status=False), *job_facts(job, workflow_name)]
    return Document(title=f"{title_of(job)} - {step.id}", facts=facts, output=step.output)
