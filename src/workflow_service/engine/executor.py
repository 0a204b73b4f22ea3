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
from workflow_service.core.secrets import NO_REDACTION, Redactor
from workflow_service.engine.definition import Plan, PlannedStep
from workflow_service.engine.guardrails import GUARDRAIL_BLOCKED, guard_answer
from workflow_service.engine.steps.base import ChildJobs, ModelSettings, StepFailure, StepResult, StepRuntime
from workflow_service.engine.steps.condition import END, ConditionConfig
from workflow_service.engine.templates import DEFAULT_LIMITS, TemplateError, TemplateLimits, render_all

STEP_RECORD_COLUMNS = (
    "step_id",
    "position",
    "type",
    "status",
    "input",
    "output",
    "error",
    "attempt",
    "started_at",
    "finished_at",
    "model",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "detail",
    "cost",
)
"""The job_step columns a step record fills (all but the row id and job_id), in `StepRecord.as_row`'s
order; jobs/repository/ reads, writes and copies step records by this list (its pg.py builds its
statements from it, and tests/jobs/test_step_columns.py holds them together)."""


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
    cost: float | None = None
    """Credits for the step's model call; set by the jobs package from the pricing table."""
    max_bytes: int | None = None
    """WFS_MAX_STEP_OUTPUT_BYTES: the stored input, detail and (failed step) output are truncated past it."""

    def as_row(self) -> dict[str, Any]:
        """The job_step columns this record fills (all but job_id), each JSON field within `max_bytes`."""
        output = self.output if self.status == "completed" else _capped(self.output, self.max_bytes)
        return {
            "step_id": self.step_id,
            "position": self.position,
            "type": self.type,
            "status": self.status,
            "input": _capped(self.input, self.max_bytes),
            "output": output,
            "error": self.error,
            "attempt": self.attempt,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "model": _text(self.model),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "latency_ms": self.latency_ms,
            "detail": _capped(self.detail, self.max_bytes),
            "cost": self.cost,
        }


TRUNCATED = "$truncated"
"""The key of the marker a too large stored value is replaced by: `{"$truncated": <its size as JSON, bytes>,
"preview": <its JSON text's first PREVIEW_CHARS characters>}`."""
PREVIEW_CHARS = 1000


def _capped(value: Any, limit: int | None) -> Any:
    """`value` if its JSON fits in `limit` bytes; else a truncation marker in its place. An object keeps its
    small entries and has its largest ones replaced by markers until it fits (a model call's `attempts` stay
    beside a truncated `response`)."""
    if limit is None or value is None or isinstance(value, bool | int | float):
        return value
    text = orjson.dumps(value, default=str)
    if len(text) <= limit:
        return value
    if isinstance(value, dict):
        sizes = {key: len(orjson.dumps(item, default=str)) for key, item in value.items()}
        kept, total = dict(value), len(text)
        for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
            if total <= limit:
                return kept
            kept[key] = _marker(orjson.dumps(value[key], default=str))
            total += len(orjson.dumps(kept[key])) - sizes[key]
        if total <= limit:
            return kept
    return _marker(text)


def _marker(text: bytes) -> dict[str, Any]:
    return {TRUNCATED: len(text), "preview": text[: PREVIEW_CHARS * 4].decode(errors="ignore")[:PREVIEW_CHARS]}


def _text(value: str | None) -> str | None:
    """A text column's value without U+0000, which PostgreSQL refuses (see core/db.json_text for JSON)."""
    return value.replace("\x00", "\ufffd") if value is not None and "\x00" in value else value


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
    running: dict[str, StepRecord] = field(default_factory=dict)
    """The steps under way (several when independent steps run concurrently)."""
    last_outputs: dict[str, Any] = field(default_factory=dict)
    """Each finished step's output (records may already have been checkpointed away)."""

    def interrupt(self, code: str, message: str) -> None:
        """End the attempt from outside: the running steps (if any) fail with the same error."""
        step = None
        for record in list(self.running.values()):
            if record.status == "running":
                record.status, record.finished_at = "failed", utcnow()
                record.error = {"code": code, "message": message}
                self.records.append(record)
                step = step or record.step_id
        self.running.clear()
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
    redact: Redactor = NO_REDACTION
    """Finds the workflow's secure variable values (a `workflow` step refuses to hand them to a child job)."""


Checkpoint = Callable[[list[StepRecord]], Awaitable[None]]


def _json_safe(value: Any, max_bytes: int | None = None) -> Any:
    """A plain JSON copy of a value (templates can produce tuples, Markup, ...); with `max_bytes`, a step
    output larger than that as JSON fails the step with `output_too_large`."""
    try:
        text = orjson.dumps(value)
    except TypeError as exc:
        raise StepFailure("output_not_json", f"the value is not JSON-serialisable: {exc}") from exc
    if max_bytes is not None and len(text) > max_bytes:
        raise StepFailure(
            "output_too_large",
            f"the step's output is {len(text)} bytes as JSON, over the limit of {max_bytes} "
            "(WFS_MAX_STEP_OUTPUT_BYTES)",
        )
    return orjson.loads(text)


@dataclass(frozen=True, slots=True)
class Tools:
    """What steps may use beyond their inputs: the guarded client, its limits, the model settings."""

    http: httpx.AsyncClient
    max_response_bytes: int
    default_timeout_s: float
    models: ModelSettings
    children: ChildJobs | None = None
    max_output_bytes: int | None = None
    """WFS_MAX_STEP_OUTPUT_BYTES (None: no limit)."""
    template_limits: TemplateLimits = DEFAULT_LIMITS


async def execute(plan: Plan, run: RunInput, tools: Tools, checkpoint: Checkpoint, outcome: Outcome) -> None:
    """Run the steps not yet done, each as soon as what it needs has finished (independent steps run
    concurrently), recording into `outcome`."""
    steps: dict[str, Any] = {}
    ctx = {"inputs": run.inputs, "vars": {**plan.variables, **run.variables}, "env": run.env, "steps": steps}
    state: dict[str, str] = {}  # step id -> completed | skipped | failed (failed and continued)
    for sid, output in run.done.items():
        state[sid] = "completed"
        steps[sid] = {"output": output, "status": "completed"}
    waiting = [p for p in plan.steps if p.config.id not in state]
    forced_skip: set[str] = set()
    tasks: dict[asyncio.Task[dict[str, Any] | None], PlannedStep] = {}

    def settle(planned: PlannedStep, status: str, output: Any = None) -> None:
        state[planned.config.id] = status
        steps[planned.config.id] = {"output": output, "status": status}

    try:
        while waiting or tasks:
            # Repeat the scan: skipping a step can make the steps that need it ready at once.
            while ready := [p for p in waiting if all(need in state for need in p.needs)]:
                planned = ready[0]
                waiting.remove(planned)
                sid = planned.config.id
                skip = sid in forced_skip or (planned.needs and all(state[n] == "skipped" for n in planned.needs))
                if not skip and planned.when is not None:
                    try:
                        skip = not await planned.when.render_async(ctx, tools.template_limits)
                    except TemplateError as exc:
                        outcome.records.append(
                            _unrun_record(
                                planned, run, "failed", {"code": exc.code, "message": f"{exc.path}: {exc.message}"}
                            )
                        )
                        outcome.error = {"code": exc.code, "message": f"{exc.path}: {exc.message}", "step": sid}
                        return
                if skip:
                    outcome.records.append(_unrun_record(planned, run, "skipped"))
                    settle(planned, "skipped")
                    continue
                task = asyncio.create_task(_run_planned(planned, ctx, run, tools, checkpoint, outcome))
                tasks[task] = planned
            if not tasks:
                break
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                planned = tasks.pop(task)
                sid = planned.config.id
                error = task.result()  # checkpoint failures (lost lease, database) propagate from here
                if error is None:
                    output = outcome.last_outputs[sid]
                    settle(planned, "completed", output)
                    if isinstance(planned.config, ConditionConfig):
                        # Skip the branch not taken; `end` taken skips everything not started yet.
                        config = planned.config
                        taken, other = (config.then, config.else_) if output["result"] else (config.else_, config.then)
                        if taken == END:
                            forced_skip.update(p.config.id for p in waiting)
                        elif other != END:
                            forced_skip.add(other)
                    continue
                policy = planned.config.on_error
                if policy == "fail":
                    outcome.error = error
                    return
                settle(planned, "failed", policy.default if not isinstance(policy, str) else None)
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
    last = plan.steps[-1].config.id if plan.steps else None
    last_output = steps.get(last, {}).get("output") if last else None
    try:
        if plan.output is not None:
            outcome.output = _json_safe(await plan.output.render_async(ctx, tools.template_limits))
        else:
            outcome.output = last_output
    except TemplateError as exc:
        outcome.error = {"code": exc.code, "message": f"{exc.path}: {exc.message}", "step": None}
    except StepFailure as exc:
        outcome.error = {"code": exc.code, "message": exc.message, "step": None}


def _unrun_record(planned: PlannedStep, run: RunInput, status: str, error: dict[str, Any] | None = None) -> StepRecord:
    """The record of a step that ended without running: skipped, or failed before it started."""
    now = utcnow()
    return StepRecord(
        step_id=planned.config.id,
        position=planned.position,
        type=planned.kind.name,
        status=status,
        attempt=run.attempt,
        started_at=now,
        finished_at=now,
        error=error,
    )


async def _run_planned(
    planned: PlannedStep, ctx: dict[str, Any], run: RunInput, tools: Tools, checkpoint: Checkpoint, outcome: Outcome
) -> dict[str, Any] | None:
    """One step with its retries and checkpoints. Returns None when it completed, else its error."""
    sid = planned.config.id
    record = StepRecord(
        step_id=sid,
        position=planned.position,
        type=planned.kind.name,
        status="running",
        attempt=run.attempt,
        started_at=utcnow(),
        max_bytes=tools.max_output_bytes,
    )
    if not planned.kind.pure:
        # Make earlier results durable and show this step as running before its side effect.
        flushed, outcome.records = outcome.records, []
        await checkpoint([*flushed, record])
    outcome.running[sid] = record  # left there if interrupted, so interrupt() can record it as failed
    policy = planned.config.retry
    tries = policy.max_attempts if policy is not None else 1
    for attempt in range(1, tries + 1):
        error = await _run_step(planned, ctx, record, run, tools)
        if error is None or attempt == tries:
            break
        assert policy is not None
        await asyncio.sleep(min(policy.backoff_s * 2 ** (attempt - 1), policy.max_backoff_s))
        record.status, record.error = "running", None
    outcome.running.pop(sid, None)
    record.finished_at = utcnow()
    if tries > 1:
        record.detail = {**(record.detail or {}), "tries": attempt}
    outcome.last_outputs[sid] = record.output
    if planned.kind.pure or (error is not None and planned.config.on_error == "fail"):
        outcome.records.append(record)
    else:
        await checkpoint([record])
    return error


async def _run_step(
    planned: PlannedStep, ctx: dict[str, Any], record: StepRecord, run: RunInput, tools: Tools
) -> dict[str, Any] | None:
    sid = planned.config.id
    try:
        rendered = await render_all(planned.templates, ctx, tools.template_limits)
        record.input = _json_safe(rendered)
        runtime = StepRuntime(
            job_id=run.job_id,
            step_id=sid,
            attempt=run.attempt,
            http=tools.http,
            max_response_bytes=tools.max_response_bytes,
            default_timeout_s=tools.default_timeout_s,
            env=run.env,
            models=tools.models,
            children=tools.children,
            redact=run.redact,
        )
        timeout = planned.config.timeout_s
        async with asyncio.timeout(timeout):
            output = await planned.kind.run(planned.config, rendered, runtime)
        if isinstance(output, StepResult):
            record.model, record.input_tokens, record.output_tokens = (
                output.model,
                output.input_tokens,
                output.output_tokens,
            )
            record.latency_ms, record.detail = output.latency_ms, _json_safe(output.detail)
            output = output.output
        if planned.kind.name == "llm" and planned.output_guardrails:
            output, record.detail, blocked = guard_answer(planned.output_guardrails, output, record.detail)
            if blocked is not None:
                raise blocked
        record.output = _json_safe(output, tools.max_output_bytes)
        record.status = "completed"
        return None
    except TemplateError as exc:
        message = f"{exc.path}: {exc.message}"
        code = exc.code
    except StepFailure as exc:
        message, code = exc.message, exc.code
        record.output = exc.output
        if planned.kind.name == "llm" and planned.output_guardrails and code != GUARDRAIL_BLOCKED:
            # A refused answer (not JSON, not its schema) is kept in the output and message: mask it.
            message, record.output = planned.output_guardrails.mask((message, exc.output))
    except TimeoutError:
        message, code = f"step {sid} did not finish within {planned.config.timeout_s} s", "step_timeout"
    record.status = "failed"
    record.error = {"code": code, "message": message}
    return {"code": code, "message": message, "step": sid}
