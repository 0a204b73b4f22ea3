"""OpenTelemetry traces (WFS_TRACING, off by default): a span per API request (FastAPI's own), per job run and
per step, with the job's id; a job's run is a child of its submission across the queue.

The submission (`job.submit`, in jobs/intake.py) stores its context on the job row (`trace_context`, in the
W3C `traceparent` form the configured propagators write); the agent that claims the job reads it back with
the claim and starts the run's span (`job.run`) as its child, whichever process or host that is and however
long the job waited. Each step's span (`step <id>`) is a child of the run's, and a child job started by a
`workflow` step is submitted from within its step's span.

`configure` sets the process's tracer provider once, unless the process already has one (an embedding
program's, or `opentelemetry-instrument`'s): it exports to the OTLP endpoint the standard `OTEL_EXPORTER_OTLP_*`
variables name (`otlp`, over HTTP), or prints the spans (`console`). Off, no span is made: nothing is added
on the submission or the job path but a test of `None`.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from workflow_service import __version__
from workflow_service.observability.settings import TracingExport

TRACER = "workflow_service"
SERVICE_NAME = "workflow-service"
NOT_TRACED = frozenset({"/metrics", "/healthz", "/readyz"})
"""Paths whose requests get no span: scrapes and probes, every few seconds, would drown the rest."""

_lock = threading.Lock()


def configure(export: TracingExport) -> Tracer | None:
    """The tracer the service's spans are made with, None when tracing is off. Sets the process's tracer
    provider the first time, unless one is set already."""
    if export == "off":
        return None
    with _lock:
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            trace.set_tracer_provider(_provider(export))
    return trace.get_tracer(TRACER, __version__)


def _provider(export: TracingExport) -> trace.TracerProvider:
    from opentelemetry.sdk.resources import SERVICE_NAME as SERVICE_NAME_KEY
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    given = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME_KEY: SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create({**given, "service.version": __version__}))
    if export == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def traced_path(scope: Mapping[str, Any]) -> bool:
    """Whether a request gets a span (FastAPI's `telemetry.exclude` asks the opposite)."""
    return scope.get("path") not in NOT_TRACED


def current_context() -> dict[str, str] | None:
    """The current span's context as the propagators write it (None when no span is recording)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier or None


@contextmanager
def submission(tracer: Tracer, workflow: str, origin: str) -> Iterator[Span]:
    """The span of a job's creation (jobs/intake.create)."""
    attributes = {"wfs.workflow": workflow, "wfs.job.origin": origin}
    with tracer.start_as_current_span("job.submit", kind=SpanKind.PRODUCER, attributes=attributes) as span:
        yield span


@contextmanager
def job_run(
    tracer: Tracer, job_id: uuid.UUID, attempt: int, parent: Mapping[str, str] | None, start_ns: int
) -> Iterator[Span]:
    """The span of one attempt at a job, from its claim (started at `start_ns`), a child of the submission's
    context `parent` when it was traced; current while the job runs, so that its steps are its children."""
    context = propagate.extract(parent) if parent else None
    attributes: dict[str, AttributeValue] = {"wfs.job.id": str(job_id), "wfs.job.attempt": attempt}
    span = tracer.start_span("job.run", context, SpanKind.CONSUMER, attributes, start_time=start_ns)
    with trace.use_span(span, end_on_exit=True):
        yield span


@contextmanager
def step(tracer: Tracer | None, job_id: str, step_id: str, kind: str, attempt: int) -> Iterator[Span | None]:
    """A step's span (None when tracing is off), current while the step runs."""
    if tracer is None:
        yield None
        return
    attributes: dict[str, AttributeValue] = {
        "wfs.job.id": job_id,
        "wfs.step.id": step_id,
        "wfs.step.type": kind,
        "wfs.job.attempt": attempt,
    }
    with tracer.start_as_current_span(f"step {step_id}", attributes=attributes) as span:
        yield span


def ended(
    span: Span | None, status: str | None, error: Mapping[str, Any] | None, attributes: Mapping[str, Any] | None = None
) -> None:
    """Record how the work of `span` ended: its status, its error's code (an error status), more `attributes`
    (those that are None are left out)."""
    if span is None:
        return
    if status is not None:
        span.set_attribute("wfs.status", status)
    for name, value in (attributes or {}).items():
        if value is not None:
            span.set_attribute(name, value)
    if error is not None:
        span.set_attribute("error.type", str(error.get("code") or "error"))
        span.set_status(StatusCode.ERROR, str(error.get("message") or "")[:200])
