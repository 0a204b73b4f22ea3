"""The steps of a plan (engine/definition.py): each validated by its type's model, what it waits for,
and its compiled templates, which may read only the steps it waits for."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from workflow_service.engine._definition_reads import Readable
from workflow_service.engine.guardrails import ScannerChain
from workflow_service.engine.steps import STEP_TYPES, StepType
from workflow_service.engine.steps.base import StepConfig, StepConfigProblems
from workflow_service.engine.steps.condition import END, ConditionConfig
from workflow_service.engine.templates import CompiledValue, TemplateError, compile_expression
from workflow_service.errors import ProblemItem, json_path


def pydantic_problems(exc: ValidationError, prefix: tuple[int | str, ...]) -> list[ProblemItem]:
    return [ProblemItem(path=json_path((*prefix, *err["loc"])), message=err["msg"]) for err in exc.errors()]


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


def compile_steps(
    raw_steps: list[Any], defaults: dict[str, Any], readable: Readable
) -> tuple[list[PlannedStep], list[ProblemItem]]:
    """Validate each step with its type's model (then its type's `finalize`, which may complete it from
    the definition's top-level `defaults`, such as the workflow's model), compile its templates, and
    resolve what it waits for.

    A step waits for its `needs`, else for the step before it, except that a step named by a
    condition's `then`/`else` waits for that condition. `needs` may name only earlier steps, so the
    steps always form a DAG, and a template may read `steps.X` only if X is among what the step
    (transitively) waits for, so its output is there when the step starts; it may read only the
    `vars` and `inputs` the definition declares (`readable`). Problems are listed step by step.
    """
    validated: list[_Validated] = []
    located: list[tuple[int, ProblemItem]] = []
    for i, raw in enumerate(raw_steps):
        step = _validate_step(i, raw, defaults)
        if isinstance(step, _Validated):
            validated.append(step)
        else:
            located += [(i, problem) for problem in step]
    located += _duplicate_ids(raw_steps)
    graph = _Graph(validated)
    located += graph.link_branches()
    located += graph.cycles()
    steps: list[PlannedStep] = []
    for n in range(len(validated)):
        planned, step_problems = _plan_step(graph, n, readable)
        steps.append(planned)
        located += [(planned.position, problem) for problem in step_problems]
    return steps, [problem for _, problem in sorted(located, key=lambda item: item[0])]


def _duplicate_ids(raw_steps: list[Any]) -> list[tuple[int, ProblemItem]]:
    """Every repeat of an id, read from the raw steps so that a step with other problems counts too."""
    seen: set[str] = set()
    problems: list[tuple[int, ProblemItem]] = []
    for i, raw in enumerate(raw_steps):
        step_id = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(step_id, str):
            continue
        if step_id in seen:
            problems.append((i, ProblemItem(path=f"$.steps[{i}].id", message=f"duplicate step id {step_id!r}")))
        seen.add(step_id)
    return problems


@dataclass(frozen=True, slots=True)
class _Validated:
    """A step that passed its type's model: `position` is its index in the definition's `steps`."""

    position: int
    config: StepConfig
    kind: StepType


def _validate_step(i: int, raw: Any, defaults: dict[str, Any]) -> _Validated | list[ProblemItem]:
    where = f"$.steps[{i}]"
    if not isinstance(raw, dict):
        return [ProblemItem(path=where, message="a step must be an object")]
    kind = STEP_TYPES.get(raw.get("type"))  # type: ignore[arg-type]
    if kind is None:
        known = ", ".join(sorted(STEP_TYPES))
        return [
            ProblemItem(path=f"{where}.type", message=f"unknown step type {raw.get('type')!r}; known types: {known}")
        ]
    try:
        config = kind.config.model_validate(raw)
    except ValidationError as exc:
        return pydantic_problems(exc, ("steps", i))
    if kind.finalize is None:
        return _Validated(i, config, kind)
    try:
        config = kind.finalize(config, defaults)
    except StepConfigProblems as exc:
        return [ProblemItem(path=json_path(("steps", i, *loc)), message=msg) for loc, msg in exc.problems]
    except (ValueError, ValidationError) as exc:
        message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        return [ProblemItem(path=f"{where}.model", message=message)]
    return _Validated(i, config, kind)


class _Graph:
    """The validated steps in order: which condition branches to each, and what each (transitively)
    waits for, filled in step by step."""

    def __init__(self, steps: list[_Validated]) -> None:
        self.steps = steps
        self.order: dict[str, int] = {}
        """Each id's first step (a repeated id is a problem of its own): a step waits only for earlier ones."""
        for n, step in enumerate(steps):
            self.order.setdefault(step.config.id, n)
        self.branch_of: dict[str, list[str]] = {}
        self.closure: dict[str, set[str]] = {}
        self.in_cycle: set[tuple[int, str]] = set()
        """`(n, need)`: step `n` names the later step `need` in `needs`, closing a reported cycle."""

    def link_branches(self) -> list[tuple[int, ProblemItem]]:
        """Record the conditions naming each step in `then`/`else`, which must name a later step."""
        problems: list[tuple[int, ProblemItem]] = []
        for n, step in enumerate(self.steps):
            config = step.config
            if not isinstance(config, ConditionConfig):
                continue
            for field, target in (("then", config.then), ("else", config.else_)):
                if target == END:
                    continue
                if self.order.get(target, -1) <= n:
                    where = f"$.steps[{step.position}].{field}"
                    message = f"{target!r} is not a later step (or `end`)"
                    problems.append((step.position, ProblemItem(path=where, message=message)))
                else:
                    self.branch_of.setdefault(target, []).append(config.id)
        return problems

    def waits_for(self, n: int) -> tuple[str, ...]:
        """What step `n` waits for: its `needs`, the conditions naming it, or the step before."""
        config = self.steps[n].config
        if config.needs is not None:
            return tuple(dict.fromkeys(config.needs))
        if config.id in self.branch_of:
            return tuple(self.branch_of[config.id])
        return (self.steps[n - 1].config.id,) if n else ()

    def needs(self, n: int) -> tuple[tuple[str, ...], list[ProblemItem]]:
        """`waits_for(n)`, with a problem for each of its `needs` that is not an earlier step (unless
        it closes a cycle, which `cycles` reports)."""
        step = self.steps[n]
        needs = self.waits_for(n)
        if step.config.needs is None:
            return needs, []
        problems = [
            ProblemItem(
                path=f"$.steps[{step.position}].needs[{k}]",
                message=f"{need!r} is {'itself' if need == step.config.id else 'not an earlier step'}",
            )
            for k, need in enumerate(needs)
            if self.order.get(need, len(self.steps)) >= n and (n, need) not in self.in_cycle
        ]
        return needs, problems

    def cycles(self) -> list[tuple[int, ProblemItem]]:
        """One problem per cycle of steps waiting for each other (none of them could ever start),
        naming its steps in order, at the `needs` entry that names a later step: every cycle has
        one, since a step otherwise waits only for earlier steps."""
        edges = {
            n: [self.order[need] for need in self.waits_for(n) if self.order.get(need, n) != n]
            for n in range(len(self.steps))
        }
        problems: list[tuple[int, ProblemItem]] = []
        for cycle in find_cycles(edges):
            forward = [(n, m) for n, m in itertools.pairwise([*cycle, cycle[0]]) if m > n]
            self.in_cycle.update((n, self.steps[m].config.id) for n, m in forward)
            n, m = forward[0]
            step = self.steps[n]
            k = list(step.config.needs or ()).index(self.steps[m].config.id)  # only `needs` names a later step
            where = f"$.steps[{step.position}].needs[{k}]"
            names = " -> ".join(self.steps[node].config.id for node in [*cycle, cycle[0]])
            message = f"dependency cycle: {names} (each step waits for the next, so none can start)"
            problems.append((step.position, ProblemItem(path=where, message=message)))
        return problems

    def unreachable(self, n: int, ref: str) -> str:
        """Why step `n` may not read `steps.<ref>`."""
        if ref == self.steps[n].config.id:
            return "itself"
        if ref not in self.order:
            return "an unknown step"
        if self.order[ref] > n:
            return "a later step"
        return "not among the steps it waits for (add it to `needs`)"


def find_cycles(edges: Mapping[int, Sequence[int]]) -> list[list[int]]:
    """The cycles of a graph (`edges`: node -> the nodes it waits for), each from its smallest node.

    A topological sort (Kahn's) places every node not on or behind a cycle; from each node left, in
    order, following what it still waits for must come round to a node already on the walk: a cycle,
    reported unless the walk joined one found before (so one problem per tangle of cycles)."""
    waiting = {n: len(set(deps)) for n, deps in edges.items()}
    dependants: dict[int, list[int]] = {}
    for n, deps in edges.items():
        for dep in set(deps):
            dependants.setdefault(dep, []).append(n)
    ready = [n for n, count in waiting.items() if not count]
    while ready:
        for dependant in dependants.get(ready.pop(), []):
            waiting[dependant] -= 1
            if not waiting[dependant]:
                ready.append(dependant)
    left = {n for n, count in waiting.items() if count}
    cycles: list[list[int]] = []
    walked: set[int] = set()
    for start in sorted(left):
        path: list[int] = []
        node = start
        while node not in walked and node not in path:
            path.append(node)
            node = next(dep for dep in edges[node] if dep in left)
        if node in path:
            cycle = path[path.index(node) :]
            first = cycle.index(min(cycle))
            cycles.append(cycle[first:] + cycle[:first])
        walked.update(path)
    return cycles


def _plan_step(graph: _Graph, n: int, readable: Readable) -> tuple[PlannedStep, list[ProblemItem]]:
    """Step `n` with what it waits for and its compiled templates, which may read only those steps
    and what the definition declares."""
    step = graph.steps[n]
    config = step.config
    where = f"$.steps[{step.position}]"
    problems: list[ProblemItem] = []
    needs, need_problems = graph.needs(n)
    problems += need_problems
    reachable = set(needs).union(*(graph.closure.get(need, set()) for need in needs))
    graph.closure[config.id] = reachable
    templates, template_problems = _compile_templates(step, where)
    problems += template_problems
    when, when_problems = _compile_when(config, where)
    problems += when_problems
    compiled = [*templates.values(), when] if when is not None else list(templates.values())
    problems += [
        ProblemItem(path=template.path, message=f"refers to steps.{ref}, which is {graph.unreachable(n, ref)}")
        for value in compiled
        for template in value.templates
        for ref in sorted(template.step_refs - reachable)
    ]
    problems += [problem for value in compiled for problem in readable.problems(value)]
    planned = PlannedStep(
        position=step.position, config=config, kind=step.kind, templates=templates, needs=needs, when=when
    )
    return planned, problems


def _compile_templates(step: _Validated, where: str) -> tuple[dict[str, CompiledValue], list[ProblemItem]]:
    """The step type's template fields, compiled (its expression fields as bare expressions)."""
    kind = step.kind
    templates: dict[str, CompiledValue] = {}
    problems: list[ProblemItem] = []
    for name in kind.template_fields:
        at = f"{where}.{kind.config.model_fields[name].alias or name}"
        value = getattr(step.config, name)
        try:
            templates[name] = (
                compile_expression(value, at) if name in kind.expression_fields else CompiledValue(value, at)
            )
        except TemplateError as exc:
            problems.append(ProblemItem(path=exc.path, message=exc.message))
    return templates, problems


def _compile_when(config: StepConfig, where: str) -> tuple[CompiledValue | None, list[ProblemItem]]:
    if config.when is None:
        return None, []
    try:
        return compile_expression(config.when, f"{where}.when"), []
    except TemplateError as exc:
        return None, [ProblemItem(path=exc.path, message=exc.message)]
