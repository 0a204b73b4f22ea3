"""Dashboard pages: a workflow's monitor: its figures over a period (runs, P90, P99, failure rate), charts of them
over time, every run (with a status filter and pages) and every model call."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from workflow_service.ui.api import ApiProblem, segment
from workflow_service.ui.context import Ui, UiDep
from workflow_service.ui.pages.charts import Chart, Series, line_chart
from workflow_service.ui.pages.common import workflow_page
from workflow_service.ui.pages.ops_forms import PERIODS, field_errors, form_problem
from workflow_service.ui.render import duration

router = APIRouter()

RUN_STATUSES = ("completed", "failed", "canceled", "in_progress", "pending", "running")


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def count(value: float) -> str:
    return f"{value:g}"


def charts(monitor: dict[str, Any]) -> list[Chart]:
    """Runs, failure rate and response time over the period's buckets."""
    series = monitor["series"]
    starts = [b["start"] for b in series]
    return [
        line_chart(
            "chart-runs",
            "Runs",
            starts,
            [Series("Runs", [b["total"] for b in series]), Series("Failed", [b["failed"] for b in series])],
            count,
        ),
        line_chart(
            "chart-failure-rate",
            "Failure rate",
            starts,
            [Series("Failure rate", [b["failure_rate"] for b in series])],
            lambda v: f"{v * 100:.0f} %",
        ),
        line_chart(
            "chart-response-time",
            "Response time",
            starts,
            [
                Series("P90", [b["response_time"]["p90"] for b in series]),
                Series("P99", [b["response_time"]["p99"] for b in series]),
            ],
            duration,
        ),
    ]


async def _listing(ui: Ui, path: str, params: dict[str, Any]) -> tuple[dict[str, Any], ApiProblem | None]:
    """One page of runs or model runs, or the problem of the filters (a bad status: shown at its field)."""
    try:
        page: dict[str, Any] = await ui.api.get(path, params)
    except ApiProblem as problem:
        if problem.status != 422:
            raise
        return {"items": [], "next_cursor": None}, problem
    return page, None


class MonitorQuery(BaseModel):
    """The period, the runs' status filter, and the pages of each table."""

    period: str = Field("24h", max_length=10)
    status: str = Field("", max_length=20)
    cursor: str | None = Field(None, max_length=500)
    model_cursor: str | None = Field(None, max_length=500)


@router.get("/workflows/{ref}/monitor")
async def monitor(ref: str, ui: UiDep, query: Annotated[MonitorQuery, Query()]) -> Response:
    """The workflow's figures, charts, runs and model runs over a period."""
    period, status, cursor, model_cursor = query.period, query.status, query.cursor, query.model_cursor
    wp = await workflow_page(ui, ref)
    problem: ApiProblem | None = None
    if period not in PERIODS:
        problem = form_problem("period", f"one of {', '.join(PERIODS)}")
        period = "24h"
    start = (datetime.now(UTC) - PERIODS[period][1]).isoformat()
    path = f"/v1/workflows/{segment(wp.ref)}"
    figures: dict[str, Any] = await ui.api.get(f"{path}/monitor", {"from": start})
    window = {"from": None if cursor else start, "cursor": cursor, "limit": 25, "status": status or None}
    runs, runs_problem = await _listing(ui, f"{path}/runs", window)
    models_window = {"from": None if model_cursor else start, "cursor": model_cursor, "limit": 25}
    models, _ = await _listing(ui, f"{path}/model-runs", models_window)
    problem = problem or runs_problem
    base = ui.url(f"/ui/workflows/{segment(wp.ref)}/monitor")

    def link(**changes: str | None) -> str:
        values = {"period": period, "status": status, "cursor": None, "model_cursor": None} | changes
        query = urlencode({k: v for k, v in values.items() if v})
        return f"{base}?{query}" if query else base

    return ui.render(
        "ops/monitor.html",
        problem.status if problem else 200,
        **wp.values("monitor"),
        monitor=figures,
        charts=charts(figures),
        runs=runs,
        models=models,
        period=period,
        periods=PERIODS,
        status_filter=status,
        run_statuses=RUN_STATUSES,
        percent=percent,
        runs_next=link(cursor=runs["next_cursor"]) if runs.get("next_cursor") else None,
        models_next=link(model_cursor=models["next_cursor"]) if models.get("next_cursor") else None,
        first_page=link() if cursor or model_cursor else None,
        problem=problem,
        errors=field_errors(problem),
    )
