"""Workflow definitions (format v1): validation with JSON-path problems, and compilation to a Plan.

A Plan is everything the executor needs, compiled once per version content and cached: the step
configs, their compiled templates, and the input/output JSON Schema validators. The steps are
compiled in `_step_plan`; what templates may read from `vars` and `inputs` is said by `_definition_reads`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import jsonschema
import orjson
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workflow_service.core.described import DescribedAs
from workflow_service.engine._definition_reads import ANY, Readable
from workflow_service.engine._step_plan import PlannedStep, compile_steps, pydantic_problems
from workflow_service.engine.guardrails import (
    NO_GUARDRAILS,
    Guardrails,
    GuardrailsSpec,
    compile_guardrails,
    guardrail_problems,
)
from workflow_service.engine.steps import ANY_STEP
from workflow_service.engine.steps.llm import ModelSpec
from workflow_service.engine.templates import CompiledValue, TemplateError
from workflow_service.errors import ProblemItem, json_path

__all__ = [
    "FORMAT_VERSION",
    "DefinitionModel",
    "Plan",
    "PlanCache",
    "PlannedStep",
    "compile_definition",
    "content_hash",
    "input_problems",
]

FORMAT_VERSION = 1


class DefinitionModel(BaseModel):
    """The top level of a definition; steps are validated by their own type's model."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float = Field(180.0, gt=0, le=86400)
    steps: list[Annotated[dict[str, Any], DescribedAs(ANY_STEP)]] = Field(min_length=1)
    output: Any = None
    model: ModelSpec | None = Field(None, description="The default model of `llm` steps.")
    guardrails: GuardrailsSpec | None = Field(None, description="Scanners on job inputs and `llm` answers.")


@dataclass(frozen=True, slots=True)
class Plan:
    content_hash: str
    description: str | None
    variables: dict[str, Any]
    timeout_s: float
    steps: tuple[PlannedStep, ...]
    output: CompiledValue | None
    input_validator: Draft202012Validator
    output_validator: Draft202012Validator | None
    guardrails: Guardrails = NO_GUARDRAILS

    @property
    def has_model_calls(self) -> bool:
        """Whether any step calls a model (and so has usage and cost to add up)."""
        return any(step.kind.name == "llm" for step in self.steps)


def content_hash(definition: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(definition, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _check_schema(schema: dict[str, Any], where: str) -> list[ProblemItem]:
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        inner = json_path([where, *exc.absolute_path])
        return [ProblemItem(path=inner, message=f"not a valid JSON Schema: {exc.message}")]
    return []


def compile_definition(raw: Any, *, check_reads: bool = True) -> tuple[Plan | None, list[ProblemItem]]:
    """Validate a definition. Returns the compiled plan, or None and every problem found.

    `check_reads=False` compiles a stored version without checking what its templates read from
    `vars` and `inputs`: a version deployed before that check existed must still run.
    """
    if not isinstance(raw, dict):
        return None, [ProblemItem(path="$", message="a definition must be a JSON object")]
    try:
        model = DefinitionModel.model_validate(raw)
    except ValidationError as exc:
        # Still report every other problem, in the parts of the top level that are readable.
        bad = {err["loc"][0] for err in exc.errors() if err["loc"]}

        def readable(key: str) -> dict[str, Any] | None:
            value = raw.get(key)
            return value if key not in bad and isinstance(value, dict) else None

        raw_steps = raw.get("steps")
        declared = Readable.of(readable("input_schema"), raw.get("variables", {}) if "variables" not in bad else None)
        _, _, more = _check_parts(
            _Parts(
                input_schema=readable("input_schema"),
                output_schema=readable("output_schema"),
                steps=raw_steps if isinstance(raw_steps, list) else None,
                output=raw.get("output"),
                defaults={"model": raw["model"]} if "model" not in bad and isinstance(raw.get("model"), dict) else {},
                readable=declared if check_reads else ANY,
                check_refs="steps" not in bad,
            )
        )
        if isinstance(raw.get("guardrails"), dict):
            more += guardrail_problems(raw["guardrails"])
        return None, pydantic_problems(exc, ()) + more
    steps, output, problems = _check_parts(
        _Parts(
            input_schema=model.input_schema,
            output_schema=model.output_schema,
            steps=model.steps,
            output=model.output,
            defaults={"model": model.model.model_dump(exclude_none=True)} if model.model else {},
            readable=Readable.of(model.input_schema, model.variables) if check_reads else ANY,
        )
    )
    guardrails, guard_problems = compile_guardrails(model.guardrails)
    problems += guard_problems
    if problems:
        return None, problems
    if guardrails.llm_outputs:
        steps = [
            dataclasses.replace(s, output_guardrails=guardrails.llm_outputs) if s.kind.name == "llm" else s
            for s in steps
        ]
    plan = Plan(
        content_hash=content_hash(raw),
        description=model.description,
        variables=model.variables,
        timeout_s=model.timeout_s,
        steps=tuple(steps),
        output=output,
        input_validator=Draft202012Validator(model.input_schema, format_checker=Draft202012Validator.FORMAT_CHECKER),
        output_validator=(Draft202012Validator(model.output_schema) if model.output_schema is not None else None),
        guardrails=guardrails,
    )
    return plan, []


@dataclass(frozen=True, slots=True)
class _Parts:
    """The parts of a definition checked together; a part given as None is not checked."""

    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    steps: list[Any] | None
    output: Any
    defaults: dict[str, Any]
    """The definition's top level that steps may complete themselves from (`model`)."""
    readable: Readable
    """The keys of `vars` and `inputs` templates may read."""
    check_refs: bool = True
    """False: the steps are unreadable, so the output's step references cannot be judged."""


def _check_parts(parts: _Parts) -> tuple[list[PlannedStep], CompiledValue | None, list[ProblemItem]]:
    """Check the schemas, steps and output."""
    problems: list[ProblemItem] = []
    if parts.input_schema is not None:
        problems += _check_schema(parts.input_schema, "input_schema")
    if parts.output_schema is not None:
        problems += _check_schema(parts.output_schema, "output_schema")
    if parts.input_schema is not None and parts.input_schema.get("type", "object") != "object":
        problems.append(ProblemItem(path="$.input_schema.type", message="inputs must be an object"))
    steps, step_problems = compile_steps(parts.steps or [], parts.defaults, parts.readable)
    problems += step_problems
    output, output_problems = _compile_output(parts, {s.config.id for s in steps})
    return steps, output, problems + output_problems


def _compile_output(parts: _Parts, known: set[str]) -> tuple[CompiledValue | None, list[ProblemItem]]:
    """The definition's `output`, which may read any step (`known`: their ids)."""
    if parts.output is None:
        return None, []
    try:
        output = CompiledValue(parts.output, "$.output")
    except TemplateError as exc:
        return None, [ProblemItem(path=exc.path, message=exc.message)]
    problems = parts.readable.problems(output)
    if not parts.check_refs or parts.steps is None:
        return output, problems
    problems += [
        ProblemItem(path=template.path, message=f"unknown step {ref!r}")
        for template in output.templates
        for ref in sorted(template.step_refs - known)
    ]
    return output, problems


class PlanCache:
    """Compiled plans by version id. Versions are immutable, so a cached plan never goes stale."""

    def __init__(self, size: int = 512) -> None:
        self._plans: dict[uuid.UUID, Plan] = {}
        self._size = size

    def get(self, version_id: uuid.UUID) -> Plan | None:
        return self._plans.get(version_id)

    def put(self, version_id: uuid.UUID, definition: dict[str, Any]) -> Plan:
        plan, problems = compile_definition(definition, check_reads=False)
        if plan is None:  # only valid definitions are ever deployed, so this is corruption
            raise ValueError(f"stored version {version_id} does not compile: {problems}")
        if len(self._plans) >= self._size:
            self._plans.pop(next(iter(self._plans)))
        self._plans[version_id] = plan
        return plan


def input_problems(plan: Plan, inputs: Any) -> list[ProblemItem]:
    """Validate job inputs against the version's input schema; paths start at `$.inputs`.

    A missing required property is reported at the property's own path (`$.inputs.name`).
    """
    problems = []
    for err in sorted(plan.input_validator.iter_errors(inputs), key=lambda e: list(e.absolute_path)):
        where = ["inputs", *err.absolute_path]
        if err.validator == "required" and isinstance(err.instance, dict):
            # jsonschema reports each missing property as its own error: list them once.
            missing = [name for name in err.validator_value if name not in err.instance]
            for name in missing:
                item = ProblemItem(path=json_path([*where, name]), message=f"{name!r} is a required property")
                if item not in problems:
                    problems.append(item)
            continue
        problems.append(ProblemItem(path=json_path(where), message=err.message))
    return problems
