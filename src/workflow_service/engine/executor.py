"""Runs a plan's steps for one job attempt. Knows nothing of the database: the caller passes a
checkpoint function that makes step records durable (and proves the job is still ours). What a step
record holds, and the step-record columns, are in `_step_record`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from opentelemetry.trace import Tracer

from workflow_service.core.clock import utcnow
from workflow_service.core.secrets import NO_REDACTION, Redactor
from workflow_service.engine._step_record import PREVIEW_CHARS, STEP_RECORD_COLUMNS, TRUNCATED, StepRecord
from workflow_service.engine.definition import Plan, PlannedStep
from workflow_service.engine.guardrails import GUARDRAIL_BLOCKED, guard_answer
from workflow_service.engine.steps.base import ChildJobs, ModelSettings, StepFailure, StepResult, StepRuntime
from workflow_service.engine.steps.condition import END, ConditionConfig
from workflow_service.engine.templates import DEFAULT_LIMITS, TemplateError, TemplateLimits, render_all
from workflow_service.observability import tracing

__all__ = [
    "PREVIEW_CHARS",
    "STEP_RECORD_COLUMNS",
    "TRUNCATED",
    "Checkpoint",
    "Outcome",
    "RunInput",
    "StepRecord",
    "Tools",
    "execute",
]


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
    tracer: Tracer | None = None
    """Each step run gets a span when set (WFS_TRACING)."""


@dataclass(frozen=True, slots=True)
class _Attempt:
    """What every step of one attempt uses: built once per `execute`, so nothing is added per step."""

    ctx: dict[str, Any]
    """The templates' context; its `steps` fills as steps end."""
    run: RunInput
    tools: Tools
    checkpoint: Checkpoint
    outcome: Outcome


class _Schedule:
    """Which steps have ended (and how), which wait, and which run."""

    __slots__ = ("forced_skip", "state", "steps", "tasks", "waiting")

    def __init__(self, plan: Plan, done: Mapping[str, Any], steps: dict[str, Any]) -> None:
        self.steps = steps
        self.state: dict[str, str] = {}  # step id -> completed | skipped | failed (failed and continued)
        for sid, output in done.items():
            self.settle(sid, "completed", output)
        self.waiting = [p for p in plan.steps if p.config.id not in self.state]
        self.forced_skip: set[str] = set()
        # A condition completed before (an earlier attempt's, or copied for a run from a step) still decides.
        for planned in plan.steps:
            if planned.config.id in done:
                self._follow_branch(planned, done[planned.config.id])
        self.tasks: dict[asyncio.Task[dict[str, Any] | None], PlannedStep] = {}

    def settle(self, sid: str, status: str, output: Any = None) -> None:
        self.state[sid] = status
        self.steps[sid] = {"output": output, "status": status}

    def next_ready(self) -> PlannedStep | None:
        """The first waiting step whose needs have all ended, taken off the waiting list. Asked again after
        each step, since skipping a step can make the steps that need it ready at once."""
        state = self.state
        for i, planned in enumerate(self.waiting):
            if all(need in state for need in planned.needs):
                del self.waiting[i]
                return planned
        return None

    def skips(self, planned: PlannedStep) -> bool:
        """Skipped whatever its `when` says: on a branch not taken, after an `end`, or all it needs skipped."""
        if planned.config.id in self.forced_skip:
            return True
        return bool(planned.needs) and all(self.state[need] == "skipped" for need in planned.needs)

    def collect(self, done: set[asyncio.Task[dict[str, Any] | None]], outcome: Outcome) -> bool:
        """Settle the steps whose tasks are done; False when one's failure ends the attempt."""
        for task in done:
            planned = self.tasks.pop(task)
            error = task.result()  # checkpoint failures (lost lease, database) propagate from here
            if error is None:
                self._completed(planned, outcome.last_outputs[planned.config.id])
                continue
            policy = planned.config.on_error
            if policy == "fail":
                outcome.error = error
                return False
            self.settle(planned.config.id, "failed", policy.default if not isinstance(policy, str) else None)
        return True

    def _completed(self, planned: PlannedStep, output: Any) -> None:
        self.settle(planned.config.id, "completed", output)
        self._follow_branch(planned, output)

    def _follow_branch(self, planned: PlannedStep, output: Any) -> None:
        config = planned.config
        if isinstance(config, ConditionConfig):
            # Skip the branch not taken; `end` taken skips everything not started yet.
            taken, other = (config.then, config.else_) if output["result"] else (config.else_, config.then)
            if taken == END:
                self.forced_skip.update(p.config.id for p in self.waiting)
            elif other != END:
                self.forced_skip.add(other)


async def execute(plan: Plan, run: RunInput, tools: Tools, checkpoint: Checkpoint, outcome: Outcome) -> None:
    """Run the steps not yet done, each as soon as what it needs has finished (independent steps run
    concurrently), recording into `outcome`."""
    steps: dict[str, Any] = {}
    ctx = {"inputs": run.inputs, "vars": {**plan.variables, **run.variables}, "env": run.env, "steps": steps}
    attempt = _Attempt(ctx, run, tools, checkpoint, outcome)
    schedule = _Schedule(plan, run.done, steps)
    tasks = schedule.tasks
    try:
        while schedule.waiting or tasks:
            while (planned := schedule.next_ready()) is not None:
                skip = schedule.skips(planned)
                if not skip and planned.when is not None:
                    try:
                        skip = not await planned.when.render_async(ctx, tools.template_limits)
                    except TemplateError as exc:
                        _failed_before_start(planned, run, outcome, exc)
                        return
                if skip:
                    outcome.records.append(_unrun_record(planned, run, "skipped"))
                    schedule.settle(planned.config.id, "skipped")
                else:
                    tasks[asyncio.create_task(_run_planned(planned, attempt))] = planned
            if not tasks:
                break
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if not schedule.collect(done, outcome):
                return
    finally:
        if tasks:
            await _cancel(tasks)
    await _job_output(plan, attempt)


async def _cancel(tasks: Iterable[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _job_output(plan: Plan, attempt: _Attempt) -> None:
    """The job's output: the definition's `output` rendered, else the last step's output."""
    outcome = attempt.outcome
    last = plan.steps[-1].config.id if plan.steps else None
    last_output = attempt.ctx["steps"].get(last, {}).get("output") if last else None
    try:
        if plan.output is not None:
            outcome.output = _json_safe(await plan.output.render_async(attempt.ctx, attempt.tools.template_limits))
        else:
            outcome.output = last_output
    except TemplateError as exc:
        outcome.error = {"code": exc.code, "message": f"{exc.path}: {exc.message}", "step": None}
    except StepFailure as exc:
        outcome.error = {"code": exc.code, "message": exc.message, "step": None}


def _failed_before_start(planned: PlannedStep, run: RunInput, outcome: Outcome, exc: TemplateError) -> None:
    """The step's `when` failed to render: the step fails without running, and so does the attempt."""
    error = {"code": exc.code, "message": f"{exc.path}: {exc.message}"}
    outcome.records.append(_unrun_record(planned, run, "failed", error))
    outcome.error = {**error, "step": planned.config.id}


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


async def _run_planned(planned: PlannedStep, attempt: _Attempt) -> dict[str, Any] | None:
    """One step with its retries and checkpoints, in its span when traced. Returns None when it completed,
    else its error."""
    run = attempt.run
    with tracing.step(attempt.tools.tracer, run.job_id, planned.config.id, planned.kind.name, run.attempt) as span:
        record, error = await _run_recorded(planned, attempt)
        if span is not None:
            usage = {"gen_ai.request.model": record.model, "gen_ai.usage.input_tokens": record.input_tokens}
            usage["gen_ai.usage.output_tokens"] = record.output_tokens
            tracing.ended(span, record.status, error, usage)
        return error


async def _run_recorded(planned: PlannedStep, attempt: _Attempt) -> tuple[StepRecord, dict[str, Any] | None]:
    sid = planned.config.id
    outcome = attempt.outcome
    record = StepRecord(
        step_id=sid,
        position=planned.position,
        type=planned.kind.name,
        status="running",
        attempt=attempt.run.attempt,
        started_at=utcnow(),
        max_bytes=attempt.tools.max_output_bytes,
    )
    if not planned.kind.pure:
        # Make earlier results durable and show this step as running before its side effect.
        flushed, outcome.records = outcome.records, []
        await attempt.checkpoint([*flushed, record])
    outcome.running[sid] = record  # left there if interrupted, so interrupt() can record it as failed
    policy = planned.config.retry
    tries = policy.max_attempts if policy is not None else 1
    for n in range(1, tries + 1):
        error = await _run_step(planned, record, attempt)
        if error is None or n == tries:
            break
        assert policy is not None
        await asyncio.sleep(min(policy.backoff_s * 2 ** (n - 1), policy.max_backoff_s))
        record.status, record.error = "running", None
    outcome.running.pop(sid, None)
    record.finished_at = utcnow()
    if tries > 1:
        record.detail = {**(record.detail or {}), "tries": n}
    outcome.last_outputs[sid] = record.output
    if planned.kind.pure or (error is not None and planned.config.on_error == "fail"):
        outcome.records.append(record)
    else:
        await attempt.checkpoint([record])
    return record, error


async def _run_step(planned: PlannedStep, record: StepRecord, attempt: _Attempt) -> dict[str, Any] | None:
    sid = planned.config.id
    run, tools = attempt.run, attempt.tools
    try:
        rendered = await render_all(planned.templates, attempt.ctx, tools.template_limits)
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
