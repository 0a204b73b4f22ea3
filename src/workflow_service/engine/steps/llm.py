"""`llm`: asks a chat model. `prompt` and `system` are templates; `model` defaults to the workflow's.

Output: the answer's text, or with `response_format: json` the parsed JSON (checked against the
step's `output_schema` when it has one). The step record keeps the exact request sent, the raw
response, the model that answered, the tokens used and the latency.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import jsonschema
import orjson
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field, model_validator

from workflow_service.engine import providers
from workflow_service.engine.steps.base import StepConfig, StepFailure, StepResult, StepRuntime, StepType


class ModelSpec(BaseModel):
    """A chat model and its parameters. Any field left out comes from the workflow's `model`."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["openai", "anthropic"] | None = None
    name: str | None = Field(None, min_length=1, max_length=200)
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, gt=0, le=1_000_000)
    response_format: Literal["text", "json"] | None = None


class LlmConfig(StepConfig):
    """An `llm` step: asks a chat model; its output is the answer (text, or JSON with `response_format: json`)."""

    type: Literal["llm"]
    prompt: str = Field(min_length=1, description="The user message (a template).")
    system: str | None = Field(None, description="The system message (a template).")
    model: ModelSpec | None = None
    output_schema: dict[str, Any] | None = Field(None, description="With response_format json: checked on the answer.")

    @model_validator(mode="after")
    def _schema_is_valid(self) -> LlmConfig:
        if self.output_schema is not None:
            try:
                Draft202012Validator.check_schema(self.output_schema)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"output_schema is not a valid JSON Schema: {exc.message}") from exc
        return self


def finalize(config: StepConfig, definition: dict[str, Any]) -> StepConfig:
    """Fill the step's model from the workflow's `model`; refuse a step that ends up without one."""
    assert isinstance(config, LlmConfig)
    merged = {**(definition.get("model") or {}), **(config.model.model_dump(exclude_none=True) if config.model else {})}
    spec = ModelSpec.model_validate(merged)
    if spec.provider is None or spec.name is None:
        raise ValueError("no model: give this step a `model` with `provider` and `name`, or the workflow a `model`")
    return config.model_copy(update={"model": spec})


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def _parse_json(text: str) -> Any:
    match = _FENCE.match(text)
    try:
        return orjson.loads(match.group(1) if match else text)
    except orjson.JSONDecodeError as exc:
        raise StepFailure(
            "model_output_invalid", f"the model did not answer with JSON: {exc}; it said: {text[:300]}", output=text
        ) from exc


async def run(config: StepConfig, rendered: dict[str, Any], runtime: StepRuntime) -> StepResult:
    assert isinstance(config, LlmConfig)
    spec = config.model
    assert spec is not None, "finalize() sets the model"
    provider_name, model_name = spec.provider, spec.name
    assert provider_name is not None, "finalize() sets the provider"
    assert model_name is not None, "finalize() sets the name"
    json_mode = spec.response_format == "json"
    call = providers.ModelCall(
        provider=provider_name,
        model=model_name,
        system=rendered.get("system"),
        prompt=str(rendered["prompt"]),
        temperature=spec.temperature,
        max_tokens=spec.max_tokens,
        json_mode=json_mode,
    )
    provider = providers.resolve(provider_name, runtime.models.providers, runtime.env)
    timeout = min(config.timeout_s or runtime.models.timeout_s, runtime.models.timeout_s)
    policy = providers.CallPolicy(
        timeout_s=timeout,
        max_attempts=runtime.models.max_attempts,
        max_response_bytes=runtime.max_response_bytes,
        backoff_s=runtime.models.backoff_s,
    )
    answer = await providers.complete(runtime.http, call, provider, policy)
    output: Any = answer.text
    if json_mode:
        output = _parse_json(answer.text)
        if config.output_schema is not None:
            problems = [
                f"${''.join(f'[{p}]' if isinstance(p, int) else f'.{p}' for p in e.absolute_path)}: {e.message}"
                for e in Draft202012Validator(config.output_schema).iter_errors(output)
            ]
            if problems:
                raise StepFailure(
                    "output_invalid",
                    "the model's JSON does not match the step's output_schema: " + "; ".join(problems[:5]),
                    output=output,
                )
    return StepResult(
        output=output,
        model=f"{provider_name}/{answer.model}",
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        latency_ms=round(answer.latency_ms, 2),
        detail={
            "request": answer.request,
            "response": answer.response,
            "attempts": answer.attempts,
            "retried_errors": answer.errors,
        },
    )


STEP = StepType(
    name="llm", config=LlmConfig, template_fields=("prompt", "system"), pure=False, run=run, finalize=finalize
)
