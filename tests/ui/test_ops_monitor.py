"""The monitor page of a workflow: the figures of a period, the charts (inline SVG, each series with its own
line style and marker, titled points, a legend in words and a table), the runs with a status filter and pages,
the model runs; who may read it; bad filters shown at their field."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import WorkerFactory, make_settings, wait_for_job
from tests.jobs.conftest import deploy_workflow
from tests.llm.conftest import ModelServer
from tests.ui.forms import dashboard
from tests.ui.ops_helpers import SLUG, field_error, greeter, person, text
from workflow_service.config import Settings
from workflow_service.ui.pages.charts import Series, line_chart, nice_top

ASKING: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"topic": {"type": "string"}}},
    "model": {"provider": "openai", "name": "gpt-test"},
    "steps": [{"id": "ask", "type": "llm", "prompt": "Tell me about {{ inputs.topic }}"}],
}


@pytest.fixture
def settings(engine: AsyncEngine, model_server: ModelServer) -> Settings:
    """Model calls go to the local model server."""
    return make_settings(openai_base_url=f"{model_server.url}/v1", openai_api_key=SecretStr("sk-test"))


async def run_jobs(api: httpx.AsyncClient, slug: str, inputs: dict[str, Any], n: int) -> list[str]:
    ids = []
    for _ in range(n):
        made = await api.post(f"/v1/workflows/{slug}/versions/current/async", json={"inputs": inputs, "cache": "never"})
        assert made.status_code == 202, made.text
        ids.append(made.json()["id"])
    for job_id in ids:
        assert (await wait_for_job(api, job_id, wait_s=20))["status"] == "completed"
    return ids


def runs_listed(html: str) -> list[str]:
    return re.findall(r'data-run="([^"]+)"', html)


async def test_the_figures_charts_runs_and_model_runs_after_jobs_ran(
    settings: Settings, start_worker: WorkerFactory
) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy_workflow(api, "asking", ASKING)
        await start_worker()
        ids = await run_jobs(api, "asking", {"topic": "otters"}, 3)
        viewer = await person(new_browser, api, "vi")
        shared = await api.put("/v1/workflows/asking/members/vi@example.com", json={"role": "viewer"})
        assert shared.status_code == 201
        page = await viewer.browser.get("/ui/workflows/asking/monitor")
        assert page.status_code == 200, text(page.text)
        assert re.search(r'id="fig-total">3<', page.text)
        assert re.search(r'id="fig-failure-rate">0.0 %<', page.text)
        assert re.search(r'id="fig-p90">[0-9.]+ (ms|s)<', page.text)
        assert re.search(r'id="fig-p99">[0-9.]+ (ms|s)<', page.text)
        for chart in ("chart-runs", "chart-failure-rate", "chart-response-time"):
            assert f'<svg class="chart ops-chart" id="{chart}"' in page.text
            assert f'id="{chart}-table"' in page.text
        assert "<polyline" in page.text
        assert "<title>Runs at " in page.text
        assert "P90 (circles, solid line)" in text(page.text)
        assert "P99 (squares, dashed line)" in text(page.text)
        assert set(runs_listed(page.text)) == set(ids)
        for job_id in ids:
            assert f'href="/ui/jobs/{job_id}"' in page.text
        models = page.text[page.text.index('id="model-runs-table"') :]
        assert models.count("<code>ask</code>") == 3
        assert "gpt-test" in models
        assert "openai" in models
        assert "no answer" not in models  # each call has its provider request id


async def test_the_runs_filter_by_status_and_page(settings: Settings, start_worker: WorkerFactory) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        await start_worker()
        ids = await run_jobs(api, SLUG, {"name": "Ada"}, 27)
        owner = await person(new_browser, api, "olga", share="owner")
        page = await owner.browser.get(f"/ui/workflows/{SLUG}/monitor", params={"period": "1h"})
        assert page.status_code == 200
        first = runs_listed(page.text)
        assert len(first) == 25
        found = re.search(r'<a class="button secondary" href="([^"]+)">Next page', page.text)
        assert found is not None
        second = await owner.browser.get(found.group(1).replace("&amp;", "&"))
        assert second.status_code == 200
        assert set(first) | set(runs_listed(second.text)) == set(ids)
        failed = await owner.browser.get(f"/ui/workflows/{SLUG}/monitor", params={"status": "failed"})
        assert runs_listed(failed.text) == []
        assert "No runs in this period." in text(failed.text)
        assert '<option value="failed" selected>' in failed.text
        done = await owner.browser.get(f"/ui/workflows/{SLUG}/monitor", params={"status": "completed"})
        assert len(runs_listed(done.text)) == 25


async def test_bad_filters_show_at_their_field(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        owner = await person(new_browser, api, "olga", share="owner")
        bad_status = await owner.browser.get(f"/ui/workflows/{SLUG}/monitor", params={"status": "exploded"})
        assert bad_status.status_code == 422
        assert field_error(bad_status.text, "m-status")
        bad_period = await owner.browser.get(f"/ui/workflows/{SLUG}/monitor", params={"period": "1y"})
        assert bad_period.status_code == 422
        assert "one of 1h, 24h, 7d, 30d, 90d" in field_error(bad_period.text, "m-period")
        assert re.search(r'id="fig-total">0<', bad_period.text)


async def test_who_may_read_the_monitor(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        for role in ("viewer", "runner", "editor"):
            someone = await person(new_browser, api, f"{role}1", share=role)
            assert (await someone.browser.get(f"/ui/workflows/{SLUG}/monitor")).status_code == 200, role
        stranger = await person(new_browser, api, "zed")
        assert (await stranger.browser.get(f"/ui/workflows/{SLUG}/monitor")).status_code == 404
        assert (await stranger.browser.get("/ui/workflows/nope/monitor")).status_code == 404


def test_a_chart_breaks_its_line_where_a_bucket_has_no_value_and_titles_each_point() -> None:
    starts = [f"2030-01-01T{h:02d}:00:00Z" for h in range(4)]
    chart = line_chart("c", "Response time", starts, [Series("P90", [1.0, None, 3.0, 4.0])], lambda v: f"{v:g} s")
    [line] = chart.lines
    assert len(line.polylines) == 2
    assert len(line.markers) == 3
    assert [tip for _, _, tip in line.markers] == ["P90 at 00:00: 1 s", "P90 at 02:00: 3 s", "P90 at 03:00: 4 s"]
    assert [label for _, label in chart.y_ticks] == ["0 s", "1.25 s", "2.5 s", "3.75 s", "5 s"]
    assert [label for _, label in chart.x_ticks] == ["00:00", "01:00", "02:00", "03:00"]
    assert chart.rows[1] == ("2030-01-01 01:00 UTC", ["—"])
    assert (line.dash, line.shape) == ("", "circle")
    two = line_chart("d", "Runs", starts, [Series("a", [0, 0, 0, 0]), Series("b", [1, 1, 1, 1])], str)
    assert [(x.dash, x.shape) for x in two.lines] == [("", "circle"), ("6 4", "square")]


def test_nice_tops() -> None:
    assert [nice_top(v) for v in (0, 0.3, 1, 1.2, 3, 7, 45, 101)] == [1, 0.5, 1, 2, 5, 10, 50, 200]
