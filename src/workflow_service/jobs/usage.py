"""Token usage and cost: the pricing table (WFS_PRICING) applied to the usage a provider reports.

A step's cost is `input_tokens / 1000 * input_per_1k + output_tokens / 1000 * output_per_1k` credits,
priced by the first entry found among `provider/answered-model`, `answered-model`,
`provider/requested-model`, `requested-model` and `*`. A model with no entry costs null (unknown), never
an error. Costs are set by the jobs package when it writes step records, not by the engine.

A job's usage sums the steps it ran (steps copied from another job are not counted): tokens are
null when no step reported any; cost is null when no step called a model or when one that did has
no price.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workflow_service.config import Price
from workflow_service.engine.executor import StepRecord

COST_DIGITS = 10
"""Costs are rounded to this many decimals, so that 0.1 + 0.2 style noise does not show."""

COPY_MARKERS = ("copied_from", "cached_from")
"""Keys in a step record's `detail` that mark it as copied from another job (it spent nothing here)."""


def price_for(table: Mapping[str, Price], names: Iterable[str | None]) -> Price | None:
    """The first of `names` with an entry in the table, else the `*` entry, else None."""
    for name in names:
        if name and name in table:
            return table[name]
    return table.get("*")


def cost_of(price: Price | None, input_tokens: int | None, output_tokens: int | None) -> float | None:
    """Credits for these tokens; None without a price or without any token count."""
    if price is None or (input_tokens is None and output_tokens is None):
        return None
    value = (input_tokens or 0) / 1000 * price.input_per_1k + (output_tokens or 0) / 1000 * price.output_per_1k
    return round(value, COST_DIGITS)


def model_names(model: str | None, requested: str | None = None) -> list[str | None]:
    """The pricing keys to try for a model call, most specific first."""
    if not model:
        return []
    provider, _, answered = model.partition("/")
    names: list[str | None] = [model, answered]
    if requested and requested != answered:
        names += [f"{provider}/{requested}", requested]
    return names


def _requested_model(detail: dict[str, Any] | None) -> str | None:
    body = ((detail or {}).get("request") or {}).get("body") or {}
    name = body.get("model") if isinstance(body, dict) else None
    return name if isinstance(name, str) else None


def step_cost(table: Mapping[str, Price], record: StepRecord) -> float | None:
    """The cost of one step record's model call (None when it made none, or the model has no price)."""
    if record.model is None:
        return None
    price = price_for(table, model_names(record.model, _requested_model(record.detail)))
    return cost_of(price, record.input_tokens, record.output_tokens)


def priced(table: Mapping[str, Price], records: Sequence[StepRecord]) -> list[StepRecord]:
    """Copies of the records with `cost` set (records without a model call are returned as they are)."""
    return [dataclasses.replace(r, cost=step_cost(table, r)) if r.model is not None else r for r in records]


@dataclass(frozen=True, slots=True)
class Totals:
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None


def is_copy(detail: Any) -> bool:
    return isinstance(detail, dict) and any(marker in detail for marker in COPY_MARKERS)


def totals(steps: Iterable[Any]) -> Totals:
    """A job's usage from its step rows (anything with model, input_tokens, output_tokens, cost, detail).

    Mirrors the SQL of the finish statement in jobs/repository/pg.py.
    """
    ran = [s for s in steps if not is_copy(s.detail)]
    tokens_in = [s.input_tokens for s in ran if s.input_tokens is not None]
    tokens_out = [s.output_tokens for s in ran if s.output_tokens is not None]
    calls = [s for s in ran if s.model is not None]
    cost = None
    if calls and all(s.cost is not None for s in calls):
        cost = round(sum(s.cost for s in calls), COST_DIGITS)
    return Totals(sum(tokens_in) if tokens_in else None, sum(tokens_out) if tokens_out else None, cost)
