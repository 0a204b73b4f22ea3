"""OpenTelemetry traces (WFS_TRACING): a span per request, per job run and per step, with the job id, the run a
child of its submission across the queue (PostgreSQL + Redis with a worker, and the embedded mode); off, no
span at all. Spans are caught by the SDK's in-memory exporter, set as the process's provider (the service
uses a provider already set rather than make its own)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TOKEN, WorkerFactory, connections, eventually, make_settings, wait_for_job
from tests.invocation.conftest import http_step, http_workflow
from tests.jobs.conftest import GREETER, deploy_workflow
from tests.servers import EchoServer
from workflow_service.config import Settings
from workflow_service.migrate import upgrade

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
SUBMIT_PATH = "/v1/workflows/{workflow}/versions/{version}/async"


@pytest.fixture(scope="session")
def exporter() -> InMemorySpanExporter:
    caught = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(caught))
    return caught


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


def _of_job(spans: InMemorySpanExporter, name: str, job_id: str) -> ReadableSpan:
    found = [
        s for s in spans.get_finished_spans() if s.name == name and (s.attributes or {}).get("wfs.job.id") == job_id
    ]
    assert len(found) == 1, [(s.name, dict(s.attributes or {})) for s in spans.get_finished_spans()]
    return found[0]


def _parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _descends(span: ReadableSpan, ancestor: ReadableSpan, spans: InMemorySpanExporter) -> bool:
    """Whether `ancestor` is `span`'s parent, or its parent's, ... (FastAPI's own spans of the endpoint stand
    between a request's span and what the endpoint does)."""
    by_id = {s.context.span_id: s for s in spans.get_finished_spans()}
    current: ReadableSpan | None = span
    while current is not None and current.parent is not None:
        if current.parent.span_id == ancestor.context.span_id:
            return True
        current = by_id.get(current.parent.span_id)
    return False


async def _submit(client: httpx.AsyncClient, slug: str, body: dict[str, Any], **headers: str) -> str:
    response = await client.post(f"/v1/workflows/{slug}/versions/current/async", json=body, headers=headers)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


async def _finished(spans: InMemorySpanExporter, name: str, job_id: str) -> ReadableSpan:
    def found() -> ReadableSpan | None:
        matching = [
            s for s in spans.get_finished_spans() if s.name == name and (s.attributes or {}).get("wfs.job.id") == job_id
        ]
        return matching[0] if matching else None

    span: ReadableSpan = await eventually(found, f"the span {name} of job {job_id}")
    return span


async def test_a_job_is_traced_from_the_request_to_its_steps_across_the_queue(
    engine: AsyncEngine, start_worker: WorkerFactory, spans: InMemorySpanExporter
) -> None:
    async with connections(make_settings(tracing="otlp")) as connect:
        admin = connect(TOKEN)
        await deploy_workflow(admin, "traced", GREETER)
        await start_worker(tracing="otlp")
        traceparent = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
        job_id = await _submit(admin, "traced", {"inputs": {"name": "Ada"}}, traceparent=traceparent)
        assert (await wait_for_job(admin, job_id))["status"] == "completed"
        run = await _finished(spans, "job.run", job_id)

    request = [s for s in spans.get_finished_spans() if s.name == f"POST {SUBMIT_PATH}"]
    assert len(request) == 1
    http = request[0]
    assert http.kind is SpanKind.SERVER
    assert (http.attributes or {})["http.route"] == SUBMIT_PATH
    # The request continues the caller's trace; the submission is its child; the run, the submission's.
    assert format(http.context.trace_id, "032x") == TRACE_ID
    assert _parent_of(http) == int(CALLER_SPAN, 16)
    submit = _of_job(spans, "job.submit", job_id)
    assert _descends(submit, http, spans)
    assert submit.context.trace_id == http.context.trace_id
    assert (submit.attributes or {})["wfs.workflow"] == "traced"
    assert (submit.attributes or {})["wfs.job.origin"] == "api"
    assert _parent_of(run) == submit.context.span_id
    assert run.context.trace_id == http.context.trace_id
    assert run.kind is SpanKind.CONSUMER
    assert (run.attributes or {})["wfs.job.attempt"] == 1
    assert (run.attributes or {})["wfs.status"] == "completed"
    # The run started before its step and ended after it: a child for the whole of the step.
    step = _of_job(spans, "step compose", job_id)
    assert _parent_of(step) == run.context.span_id
    assert dict(step.attributes or {}) | {"wfs.job.id": job_id} == {
        "wfs.job.id": job_id,
        "wfs.step.id": "compose",
        "wfs.step.type": "transform",
        "wfs.job.attempt": 1,
        "wfs.status": "completed",
    }
    assert run.start_time is not None
    assert step.start_time is not None
    assert run.end_time is not None
    assert step.end_time is not None
    assert run.start_time <= step.start_time <= step.end_time <= run.end_time


async def test_a_failed_step_and_a_child_job_are_traced(
    engine: AsyncEngine, start_worker: WorkerFactory, spans: InMemorySpanExporter, echo_server: EchoServer
) -> None:
    async with connections(make_settings(tracing="otlp")) as connect:
        admin = connect(TOKEN)
        await deploy_workflow(admin, "refused", http_workflow(http_step("call", f"{echo_server.url}/status/500")))
        await deploy_workflow(admin, "kid", GREETER)
        parent_definition = {"steps": [{"id": "call", "type": "workflow", "workflow": "kid", "inputs": {"name": "Bo"}}]}
        await deploy_workflow(admin, "parent", parent_definition)
        await start_worker(tracing="otlp")
        failed = await _submit(admin, "refused", {"inputs": {}})
        parent = await _submit(admin, "parent", {"inputs": {}})
        assert (await wait_for_job(admin, failed))["status"] == "failed"
        assert (await wait_for_job(admin, parent))["status"] == "completed"
        child = (await admin.get(f"/v1/jobs/{parent}")).json()["steps"][0]["detail"]["child_job_id"]
        await _finished(spans, "job.run", failed)
        await _finished(spans, "job.run", parent)

    step = _of_job(spans, "step call", failed)
    assert step.status.status_code is StatusCode.ERROR
    assert (step.attributes or {})["error.type"] == "http_status"
    assert _of_job(spans, "job.run", failed).status.status_code is StatusCode.ERROR
    # The child job is submitted from within its parent's step: its submission is that step's child.
    calling = _of_job(spans, "step call", parent)
    child_submit = _of_job(spans, "job.submit", child)
    assert _parent_of(child_submit) == calling.context.span_id
    assert (child_submit.attributes or {})["wfs.job.origin"] == "child"
    child_run = _of_job(spans, "job.run", child)
    assert _parent_of(child_run) == child_submit.context.span_id
    assert child_run.context.trace_id == _of_job(spans, "job.run", parent).context.trace_id


async def test_the_embedded_mode_traces_the_same(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    settings = Settings(
        data_dir=tmp_path, admin_token=SecretStr("embedded"), database_url=None, redis_url=None, tracing="console"
    )
    await asyncio.to_thread(upgrade, settings.effective_database_url)
    async with connections(settings) as connect:
        admin = connect("embedded")
        await deploy_workflow(admin, "solo", GREETER)
        job_id = await _submit(admin, "solo", {"inputs": {"name": "Ada"}})
        await wait_for_job(admin, job_id)
        run = await _finished(spans, "job.run", job_id)
    submit = _of_job(spans, "job.submit", job_id)
    assert _parent_of(run) == submit.context.span_id
    assert _parent_of(_of_job(spans, "step compose", job_id)) == run.context.span_id


async def test_off_makes_no_span(engine: AsyncEngine, start_worker: WorkerFactory, spans: InMemorySpanExporter) -> None:
    slug = f"quiet-{uuid.uuid4().hex[:8]}"
    async with connections(make_settings()) as connect:
        admin = connect(TOKEN)
        await deploy_workflow(admin, slug, GREETER)
        await start_worker()
        job_id = await _submit(admin, slug, {"inputs": {"name": "Ada"}})
        assert (await wait_for_job(admin, job_id))["status"] == "completed"
    assert spans.get_finished_spans() == ()
