"""How a job reads: its rows as the API shows them, with who created it, and what only its creator sees.

A job's inputs, its variables (the creator's overrides), each step's `input` (its templates rendered from
them) and each `llm` step's `detail` (the exact request sent to the model) are shown only to the job's
creator: to the viewer whose actor is the job's `caller`. Everyone else gets them withheld: null, with a
`…_withheld` flag set, never as if they were empty. The service itself (a push callback's payload, a parent
job reading its child) reads a job as `EVERYTHING`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workflow_service.engine.executor import STEP_RECORD_COLUMNS
from workflow_service.jobs.schemas import CreatedBy, CreatorKind, JobParent, JobRead, JobSource, JobUsage, StepRead
from workflow_service.workflows.schemas import WorkflowRef


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads a job, with the kinds of creator (`schedule`, `trigger`) whose jobs they read as the creator: those
    who manage the workflow's schedules or triggers see the inputs these made (access/policy.reads_as_creator_of)."""

    actor: str
    made_by: frozenset[str] = frozenset()


Viewer = str | Reader | None
"""Who reads a job: the caller's actor (`admin`, `user:<id>`, `key:<id>`), a Reader, or None for the service
itself."""
EVERYTHING: Viewer = None
"""The service itself reading a job: nothing is withheld (a push callback's payload, a child job's output)."""

_CREATOR_KINDS: dict[str, CreatorKind] = {"user": "user", "key": "key", "schedule": "schedule", "trigger": "trigger"}
MODEL_STEP = "llm"
"""The step type whose `detail` holds the request sent to the model, rendered from the inputs."""


def creator(caller: str, name: str | None = None) -> CreatedBy:
    """Who created a job, from its `caller` (`admin`, `user:<id>`, `key:<id>`, `schedule:<id>`, `trigger:<id>`,
    or the service's own actors) and the name of that user or key: the user's email, the key's name (None when
    it no longer exists)."""
    if caller == "admin":
        return CreatedBy(kind="operator", id=None, name="operator")
    prefix, _, ident = caller.partition(":")
    kind = _CREATOR_KINDS.get(prefix) if ident else None
    if kind is None:
        return CreatedBy(kind="system", id=None, name=caller)
    return CreatedBy(kind=kind, id=ident, name=name or caller)


def sees_inputs(viewer: Viewer, caller: str) -> bool:
    if isinstance(viewer, Reader):
        return viewer.actor == caller or caller.partition(":")[0] in viewer.made_by
    return viewer is EVERYTHING or viewer == caller


def summary_fields(row: Any) -> dict[str, Any]:
    """The JobSummary fields of a row with repository.SUMMARY_COLUMNS."""
    duration = None
    if row.started_at is not None and row.finished_at is not None:
        duration = (row.finished_at - row.started_at).total_seconds()
    return {
        "id": row.id,
        "workflow": WorkflowRef(id=row.workflow_id, slug=row.slug),
        "version": row.version_number,
        "name": row.name,
        "status": row.status,
        "pool": row.pool,
        "error": row.error,
        "attempt": row.attempt,
        "agent_id": row.agent_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "duration": duration,
        "source": JobSource(job_id=row.source_job_id, kind=row.source_kind, from_step=row.from_step)
        if row.source_job_id is not None
        else None,
        "cache_hit": row.cache_hit,
        "usage": JobUsage(input_tokens=row.input_tokens, output_tokens=row.output_tokens, cost=row.cost),
        "created_by": creator(row.caller, row.creator_email or row.creator_key_name),
        "origin": row.origin,
    }


_SHOWN = [name for name in STEP_RECORD_COLUMNS if name not in ("step_id", "position")]


def steps(rows: Sequence[Any], *, withheld: bool) -> list[StepRead]:
    """The step records as shown; `withheld`: without their inputs and model requests."""
    shown = []
    for s in rows:
        fields = {name: getattr(s, name) for name in _SHOWN}
        if withheld:
            fields |= {"input": None, "input_withheld": True}
            if s.type == MODEL_STEP:
                fields |= {"detail": None, "detail_withheld": True}
        shown.append(StepRead(id=s.step_id, **fields))
    return shown


def job_read(row: Any, step_rows: Sequence[Any] | None, viewer: Viewer) -> JobRead:
    """The JobRead of a row with repository.JOB_COLUMNS and its step records (None: not read), as `viewer`
    sees it."""
    parent = JobParent(job_id=row.parent_job_id, step=row.parent_step) if row.parent_job_id else None
    withheld = not sees_inputs(viewer, row.caller)
    submitted: dict[str, Any] = {
        "inputs": row.inputs,
        "variables": row.variables,
        "effective_variables": {**(row.default_variables or {}), **row.variables},
    }
    if withheld:
        submitted = {"inputs": None, "inputs_withheld": True, "variables": None, "variables_withheld": True}
        submitted["effective_variables"] = None
    return JobRead(
        **summary_fields(row),
        **submitted,
        overridden_variables=sorted(row.variables),
        parent=parent,
        metadata=row.metadata,
        output=row.output,
        max_attempts=row.max_attempts,
        steps=steps(step_rows, withheld=withheld) if step_rows is not None else None,
    )
