"""Estimating a job's tokens and credits before running it (`POST …/versions/{version}/estimate`).

Input tokens: each llm step's `system` and `prompt` rendered with the request's inputs, the effective
variables and the workflow's environment, counted as ceil(characters / 4) per message plus 4 tokens of
overhead per message and 3 for the reply (the usual OpenAI accounting; real tokenizers differ by model,
so this is an estimate). Outputs of earlier steps cannot be known before running: `steps.*` renders as
empty and the step says `approximate: true`.

Output tokens (`basis`): the mean of the step's recorded output_tokens over the version's last 20
completed jobs (cache hits excluded) when there are any (`history`), else the step's `max_tokens` (an
upper bound, `max_tokens`), else 256 (`default`). Every llm step is counted, including ones a `when`
or a condition may skip. Credits use WFS_PRICING like a finished step; null without a price.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import jinja2
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.config import Price
from workflow_service.core.secrets import Secrets, SecretsError
from workflow_service.engine.definition import PlanCache, PlannedStep
from workflow_service.engine.steps.llm import LlmConfig
from workflow_service.engine.templates import DEFAULT_LIMITS, TemplateError, TemplateLimitError, TemplateLimits
from workflow_service.errors import InvalidInput
from workflow_service.jobs import repository, usage
from workflow_service.jobs import service as jobs
from workflow_service.jobs.schemas import Estimate, JobCreate, StepEstimate
from workflow_service.workflows import env as workflow_env
from workflow_service.workflows import service as workflows
from workflow_service.workflows.refs import ScopedRef

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_PRIMING_TOKENS = 3
DEFAULT_OUTPUT_TOKENS = 256
HISTORY_JOBS = 20


def count_tokens(text: str) -> int:
    """About 4 characters a token (English text with GPT/Claude tokenizers)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def message_tokens(messages: list[str]) -> int:
    return sum(count_tokens(m) + MESSAGE_OVERHEAD_TOKENS for m in messages) + REPLY_PRIMING_TOKENS


async def _render(planned: PlannedStep, name: str, ctx: Mapping[str, Any], limits: TemplateLimits) -> tuple[str, bool]:
    """The rendered template as text, and whether that text is exact. Rendered as a job would render it
    (off the event loop when it loops, under the template limits)."""
    compiled = planned.templates.get(name)
    if compiled is None:
        return "", True
    exact = not compiled.step_refs
    try:
        value = await compiled.render_async(ctx, limits)
    except TemplateLimitError as exc:  # these inputs would fail the job the same way
        raise InvalidInput(f"{exc.path}: {exc.message}", errors=[{"path": exc.path, "message": exc.message}]) from exc
    except TemplateError:
        # What cannot be rendered without the earlier outputs counts as its template text.
        return str(getattr(planned.config, name) or ""), False
    if value is None or isinstance(value, jinja2.Undefined):
        return "", exact
    return str(value), exact


async def _history(conn: AsyncConnection, workflow_id: uuid.UUID, version_id: uuid.UUID) -> dict[str, int]:
    """Mean output tokens per llm step over the version's last completed jobs (rounded up)."""
    means = await repository.mean_output_tokens(conn, workflow_id, version_id, HISTORY_JOBS)
    return {step_id: math.ceil(mean) for step_id, mean in means.items()}


@dataclass(frozen=True, slots=True)
class Estimator:
    """What an estimate uses besides the request: the service's plans, prices, secret box and limits."""

    plans: PlanCache
    pricing: Mapping[str, Price]
    secrets: Secrets
    limits: TemplateLimits = DEFAULT_LIMITS


async def estimate(
    conn: AsyncConnection, estimator: Estimator, ref: ScopedRef, version: str, data: JobCreate
) -> Estimate:
    """Estimated tokens and credits of a job with these inputs; 422 on inputs a submission would refuse."""
    pricing, secrets, limits = estimator.pricing, estimator.secrets, estimator.limits
    target = await workflows.resolve_target(conn, estimator.plans, ref, version)
    inputs = jobs.check_submission(target.plan, data.inputs, data.variables)  # as the job would see them
    try:
        env = (await workflow_env.for_workflow(conn, target.workflow_id, secrets)).values
        env_known = True
    except SecretsError:
        env, env_known = {}, False
    ctx = {
        "inputs": inputs,
        "vars": {**target.plan.variables, **data.variables},
        "env": env,
        "steps": jinja2.ChainableUndefined(name="steps"),
    }
    history = await _history(conn, target.workflow_id, target.version_id)
    steps: list[StepEstimate] = []
    for planned in target.plan.steps:
        config = planned.config
        if not isinstance(config, LlmConfig) or config.model is None:
            continue
        spec = config.model
        system, system_exact = await _render(planned, "system", ctx, limits)
        prompt, prompt_exact = await _render(planned, "prompt", ctx, limits)
        input_tokens = message_tokens([m for m in (system, prompt) if m] or [""])
        basis: Literal["history", "max_tokens", "default"]
        if config.id in history:
            output_tokens, basis = history[config.id], "history"
        elif spec.max_tokens is not None:
            output_tokens, basis = spec.max_tokens, "max_tokens"
        else:
            output_tokens, basis = DEFAULT_OUTPUT_TOKENS, "default"
        model = f"{spec.provider}/{spec.name}"
        credits = usage.cost_of(usage.price_for(pricing, usage.model_names(model)), input_tokens, output_tokens)
        steps.append(
            StepEstimate(
                id=config.id,
                model=model,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                credits=credits,
                basis=basis,
                approximate=not (system_exact and prompt_exact and env_known),
            )
        )
    total = None
    if all(s.credits is not None for s in steps):
        total = round(sum(s.credits or 0.0 for s in steps), usage.COST_DIGITS)
    return Estimate(
        steps=steps,
        input_tokens=sum(s.input_tokens for s in steps),
        output_tokens=sum(s.output_tokens for s in steps),
        credits=total,
    )
