"""Runs a plan's steps for one job attempt. Knows nothing of the database: the caller passes a
checkpoint function that makes step records durable (and proves the job is still ours)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson

from workflow_service.core.clock import utcnow
from workflow_service.engine.definition import Plan, PlannedStep
from workflow_service.engine.steps.base import ModelSettings, StepFailure, StepResult, StepRuntime
from workflow_service.engine.templates import TemplateError


@dataclass(slots=True)
class StepRecord:
    step_id: str
    position: int
    type: str
    status: str
    attempt: int
    started_at: datetime
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    finished_at: datetime | None = None
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    detail: dict[str, Any] | None = None

    def as_row(self) -> dict[str, Any]:
        """The job_step columns this record fills (all but job_id)."""
        return {"step_id": self.step_id, "position": self.position, "type": self.type, "status": self.status,
                "input": self.input, "output": self.output, "error": self.error, "attempt": self.attempt,
                "started_at": self.started_at, "finished_at": self.finished_at, "model": self.model,
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "latency_ms": self.latency_ms, "detail": self.detail}  # fmt: skip


@dataclass(slots=True)
class Outcome:
    """How an attempt ended: `output` when every step completed, else `error`.

    The caller owns it, so that if the attempt is interrupted (job timeout) it still has the step
    records not yet checkpointed and the step that was running.
    """

    output: Any = None
    error: dict[str, Any] | None = None
    records: list[StepRecord] = field(default_factory=list)
    """Step records not yet checkpointed; the caller writes them with the final transition."""
    current: StepRecord | None = None

    def interrupt(self, code: str, message: str) -> None:
        """End the attempt from outside: the running step (if any) fails with the same error."""
        step = None
        if self.current is not None and self.current.status == "running":
            self.current.status, self.current.finished_at = "failed", utcnow()
            self.current.error = {"code": code, "message": message}
            self.records.append(self.current)
            step = self.current.step_id
        self.error = {"code": code, "message": message, "step": step}


@dataclass(frozen=True, slots=True)
class RunInput:
    job_id: str
    attempt: int
    inputs: dict[str, Any]
    variables: dict[str, Any]
    env: dict[str, Any]
    done: Mapping[str, Any]
    """Outputs of steps completed by an earlier attempt (or copied from a source job), by step id."""


Checkpoint = Callable[[list[StepRecord]], Awaitable[None]]


def _json_safe(value: Any) -> Any:
    """A plain JSON copy of a value (templates can produce tuples, Markup, ...)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError as exc:
        raise StepFailure("output_not_json", f"the value is not JSON-serialisable: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Tools:
    """What steps may use beyond their inputs: the guarded client, its limits, the model settings."""

    http: httpx.AsyncClient
    max_response_bytes: int
    default_timeout_s: float
    models: ModelSettings


async def execute(plan: Plan, run: RunInput, tools: Tools, checkpoint: Checkpoint, outcome: Outcome) -> None:
    """Run the steps not yet done, in order, recording into `outcome`."""
    steps: dict[str, Any] = {}
    ctx = {"inputs": run.inputs, "vars": {**plan.variables, **run.variables}, "env": run.env, "steps": steps}
    last_output: Any = None
    for planned in plan.steps:
        sid = planned.config.id
        if sid in run.done:
            last_output = run.done[sid]
            steps[sid] = {"output": last_output, "status": "completed"}
            continue
        record = StepRecord(
            step_id=sid,
            position=planned.position,
            type=planned.kind.name,
            status="running",
            attempt=run.attempt,
            started_at=utcnow(),
        )
        if not planned.kind.pure:
            # Make earlier results durable and show this step as running before its side effect.
            await checkpoint([*outcome.records, record])
            outcome.records = []
        outcome.current = record
        error = await _run_step(planned, ctx, record, run, tools)
        outcome.current = None
        record.finished_at = utcnow()
        if error is not None:
            outcome.records.append(record)
            outcome.error = error
            return
        steps[sid] = {"output": record.output, "status": "completed"}
        last_output = record.output
        if planned.kind.pure:
            outcome.records.append(record)
        else:
            await checkpoint([record])
    try:
        outcome.output = _json_safe(plan.output.render(ctx)) if plan.output is not None else last_output
    except TemplateError as exc:
        outcome.error = {"code": "template_error", "message": f"{exc.path}: {exc.message}", "step": None}
    except StepFailure as exc:
        outcome.error = {"code": exc.code, "message": exc.message, "step": None}


async def _run_step(
    planned: PlannedStep, ctx: dict[str, Any], record: StepRecord, run: RunInput, tools: Tools
) -> dict[str, Any] | None:
    sid = planned.config.id
    try:
        rendered = {name: compiled.render(ctx) for name, compiled in planned.templates.items()}
        record.input = _json_safe(rendered)
        runtime = StepRuntime(
            job_id=run.job_id, step_id=sid, attempt=run.attempt, http=tools.http,
            max_response_bytes=tools.max_response_bytes, default_timeout_s=tools.default_timeout_s, env=run.env,
            models=tools.models,
        )  # fmt: skip
        timeout = planned.config.timeout_s
        async with asyncio.timeout(timeout):
            output = await planned.kind.run(planned.config, rendered, runtime)
        if isinstance(output, StepResult):
            record.model, record.input_tokens, record.output_tokens = (
                output.model, output.input_tokens, output.output_tokens)  # fmt: skip
            record.latency_ms, record.detail = output.latency_ms, _json_safe(output.detail)
            output = output.output
        record.output = _json_safe(output)
        record.status = "completed"
        return None
    except TemplateError as exc:
        message = f"{exc.path}: {exc.message}"
        code = "template_error"
    except StepFailure as exc:
        message, code = exc.message, exc.code
        record.output = exc.output
    except TimeoutError:
        message, code = f"step {sid} did not finish within {planned.config.timeout_s} s", "step_timeout"
    record.status = "failed"
    record.error = {"code": code, "message": message}
    return {"code": code, "message": message, "step": sid}
