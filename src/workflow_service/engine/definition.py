"""Workflow definitions (format v1): validation with JSON-path problems, and compilation to a Plan.

A Plan is everything the executor needs, compiled once per version content and cached: the step
configs, their compiled templates, and the input/output JSON Schema validators.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import jsonschema
import orjson
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from workflow_service.engine.guardrails import (
    NO_GUARDRAILS,
    Guardrails,
    GuardrailsSpec,
    ScannerChain,
    compile_guardrails,
    guardrail_problems,
)
from workflow_service.engine.steps import STEP_TYPES, StepType
from workflow_service.engine.steps.base import StepConfig, StepConfigProblems
from workflow_service.engine.steps.condition import END, ConditionConfig
from workflow_service.engine.steps.llm import ModelSpec
from workflow_service.engine.templates import CompiledValue, TemplateError, compile_expression
from workflow_service.errors import ProblemItem, json_path

FORMAT_VERSION = 1


class DefinitionModel(BaseModel):
    """The top level of a definition; steps are validated by their own type's model."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    timeout_s: float = Field(180.0, gt=0, le=86400)
    steps: list[dict[str, Any]] = Field(min_length=1)
    output: Any = None
    model: ModelSpec | None = Field(None, description="The default model of `llm` steps.")
    guardrails: GuardrailsSpec | None = Field(None, description="Scanners on job inputs and `llm` answers.")


@dataclass(frozen=True, slots=True)
class PlannedStep:
    position: int
    config: StepConfig
    kind: StepType
    templates: dict[str, CompiledValue]
    needs: tuple[str, ...] = ()
    """The steps this one waits for: its `needs`, else the step before it (or the condition naming it)."""
    when: CompiledValue | None = None
    output_guardrails: ScannerChain | None = None
    """`llm` steps: the plan's `llm_outputs` scanners, which the executor applies to the answer."""


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


def _problems_from_pydantic(exc: ValidationError, prefix: tuple[int | str, ...]) -> list[ProblemItem]:
    return [ProblemItem(path=json_path((*prefix, *err["loc"])), message=err["msg"]) for err in exc.errors()]


def _check_schema(schema: dict[str, Any], where: str) -> list[ProblemItem]:
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        inner = json_path([where, *exc.absolute_path])
        return [ProblemItem(path=inner, message=f"not a valid JSON Schema: {exc.message}")]
    return []


def compile_definition(raw: Any) -> tuple[Plan | None, list[ProblemItem]]:
    """Validate a definition. Returns the compiled plan, or None and every problem found."""
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
        _, _, more = _check_parts(
            readable("input_schema"),
            readable("output_schema"),
            raw_steps if isinstance(raw_steps, list) else None,
            raw.get("output"),
            check_refs="steps" not in bad,
            defaults={"model": raw["model"]} if "model" not in bad and isinstance(raw.get("model"), dict) else {},
        )
        if isinstance(raw.get("guardrails"), dict):
            more += guardrail_problems(raw["guardrails"])
        return None, _problems_from_pydantic(exc, ()) + more
    steps, output, problems = _check_parts(
        model.input_schema,
        model.output_schema,
        model.steps,
        model.output,
        defaults={"model": model.model.model_dump(exclude_none=True)} if model.model else {},
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


def _check_parts(
    input_schema: dict[str, Any] | None,
    output_schema: dict[str, Any] | None,
    raw_steps: list[Any] | None,
    output_value: Any,
    *,
    check_refs: bool = True,
    defaults: dict[str, Any] | None = None,
) -> tuple[list[PlannedStep], CompiledValue | None, list[ProblemItem]]:
    """Check the schemas, steps and output; a part given as None is not checked.

    `check_refs` False: the steps are unreadable, so the output's step references cannot be judged.
    """
    problems: list[ProblemItem] = []
    if input_schema is not None:
        problems += _check_schema(input_schema, "input_schema")
    if output_schema is not None:
        problems += _check_schema(output_schema, "output_schema")
    if input_schema is not None and input_schema.get("type", "object") != "object":
        problems.append(ProblemItem(path="$.input_schema.type", message="inputs must be an object"))
    steps, step_problems = _compile_steps(raw_steps or [], defaults or {})
    problems += step_problems
    output: CompiledValue | None = None
    if output_value is not None:
        try:
            output = CompiledValue(output_value, "$.output")
        except TemplateError as exc:
            problems.append(ProblemItem(path=exc.path, message=exc.message))
        else:
            known = {s.config.id for s in steps}
            for template in output.templates if check_refs and raw_steps is not None else ():
                for ref in sorted(template.step_refs - known):
                    problems.append(ProblemItem(path=template.path, message=f"unknown step {ref!r}"))
    return steps, output, problems


def _compile_steps(raw_steps: list[Any], defaults: dict[str, Any]) -> tuple[list[PlannedStep], list[ProblemItem]]:
    """Validate each step with its type's model (then its type's `finalize`, which may complete it from
    the definition's top-level `defaults`, such as the workflow's model), compile its templates, and
    resolve what it waits for.

    A step waits for its `needs`, else for the step before it, except that a step named by a
    condition's `then`/`else` waits for that condition. `needs` may name only earlier steps, so the
    steps always form a DAG, and a template may read `steps.X` only if X is among what the step
    (transitively) waits for, so its output is there when the step starts.
    """
    configs: list[tuple[int, StepConfig, StepType]] = []
    problems: list[ProblemItem] = []
    for i, raw in enumerate(raw_steps):
        where = f"$.steps[{i}]"
        if not isinstance(raw, dict):
            problems.append(ProblemItem(path=where, message="a step must be an object"))
            continue
        kind = STEP_TYPES.get(raw.get("type"))  # type: ignore[arg-type]
        if kind is None:
            known = ", ".join(sorted(STEP_TYPES))
            problems.append(
                ProblemItem(
                    path=f"{where}.type", message=f"unknown step type {raw.get('type')!r}; known types: {known}"
                )
            )
            continue
        try:
            config = kind.config.model_validate(raw)
        except ValidationError as exc:
            problems += _problems_from_pydantic(exc, ("steps", i))
            continue
        if kind.finalize is not None:
            try:
                config = kind.finalize(config, defaults)
            except StepConfigProblems as exc:
                problems += [ProblemItem(path=json_path(("steps", i, *loc)), message=msg) for loc, msg in exc.problems]
                continue
            except (ValueError, ValidationError) as exc:
                message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
                problems.append(ProblemItem(path=f"{where}.model", message=message))
                continue
        configs.append((i, config, kind))

    order = {config.id: n for n, (_, config, _) in enumerate(configs)}
    branch_of: dict[str, list[str]] = {}
    for n, (i, config, _) in enumerate(configs):
        if isinstance(config, ConditionConfig):
            for field, target in (("then", config.then), ("else", config.else_)):
                if target == END:
                    continue
                if order.get(target, -1) <= n:
                    problems.append(
                        ProblemItem(path=f"$.steps[{i}].{field}", message=f"{target!r} is not a later step (or `end`)")
                    )
                else:
                    branch_of.setdefault(target, []).append(config.id)

    steps: list[PlannedStep] = []
    closure: dict[str, set[str]] = {}
    for n, (i, config, kind) in enumerate(configs):
        where = f"$.steps[{i}]"
        if config.id in closure:
            problems.append(ProblemItem(path=f"{where}.id", message=f"duplicate step id {config.id!r}"))
        if config.needs is not None:
            needs = tuple(dict.fromkeys(config.needs))
            for k, need in enumerate(needs):
                if order.get(need, len(configs)) >= n:
                    why = "itself" if need == config.id else "not an earlier step"
                    problems.append(ProblemItem(path=f"{where}.needs[{k}]", message=f"{need!r} is {why}"))
        elif config.id in branch_of:
            needs = tuple(branch_of[config.id])
        else:
            needs = (configs[n - 1][1].id,) if n else ()
        reachable = set(needs).union(*(closure.get(need, set()) for need in needs))
        closure[config.id] = reachable
        templates: dict[str, CompiledValue] = {}
        compiled_values: list[CompiledValue] = []
        for name in kind.template_fields:
            alias = kind.config.model_fields[name].alias or name
            try:
                value = getattr(config, name)
                if name in kind.expression_fields:
                    compiled = compile_expression(value, f"{where}.{alias}")
                else:
                    compiled = CompiledValue(value, f"{where}.{alias}")
            except TemplateError as exc:
                problems.append(ProblemItem(path=exc.path, message=exc.message))
                continue
            templates[name] = compiled
            compiled_values.append(compiled)
        when: CompiledValue | None = None
        if config.when is not None:
            try:
                when = compile_expression(config.when, f"{where}.when")
                compiled_values.append(when)
            except TemplateError as exc:
                problems.append(ProblemItem(path=exc.path, message=exc.message))
        for compiled in compiled_values:
            for template in compiled.templates:
                for ref in sorted(template.step_refs - reachable):
                    if ref == config.id:
                        why = "itself"
                    elif ref not in order:
                        why = "an unknown step"
                    elif order[ref] > n:
                        why = "a later step"
                    else:
                        why = "not among the steps it waits for (add it to `needs`)"
                    problems.append(ProblemItem(path=template.path, message=f"refers to steps.{ref}, which is {why}"))
        steps.append(PlannedStep(position=i, config=config, kind=kind, templates=templates, needs=needs, when=when))
    return steps, problems


class PlanCache:
    """Compiled plans by version id. Versions are immutable, so a cached plan never goes stale."""

    def __init__(self, size: int = 512) -> None:
        self._plans: dict[uuid.UUID, Plan] = {}
        self._size = size

    def get(self, version_id: uuid.UUID) -> Plan | None:
        return self._plans.get(version_id)

    def put(self, version_id: uuid.UUID, definition: dict[str, Any]) -> Plan:
        plan, problems = compile_definition(definition)
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
