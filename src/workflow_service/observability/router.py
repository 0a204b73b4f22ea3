"""`GET /metrics` on the API, and the request metrics' middleware, as WFS_METRICS says (docs/metrics.md).

The route is a plain one, outside the contract (openapi/openapi.json) like /docs: its body is Prometheus'
text format rather than JSON, and it exists or not by a setting (`off`: not served, a 404 like any unknown
path), while the contract is the same for every deployment."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from workflow_service.audit.sign_in import SignInFailures
from workflow_service.config import Settings
from workflow_service.observability import access
from workflow_service.observability.exposition import CONTENT_TYPE, render
from workflow_service.observability.gauges import DatabaseGauges
from workflow_service.observability.http import RequestMetrics, RouteCapture
from workflow_service.observability.metrics import instruments

PATH = "/metrics"


def install_route_capture(app: FastAPI, settings: Settings) -> None:
    """The innermost of the API's middleware: add it before any other."""
    if settings.metrics != "off":
        app.add_middleware(RouteCapture)


def install(app: FastAPI, settings: Settings) -> None:
    """The route, and the outermost middleware: add it after every other."""
    if settings.metrics == "off":
        return
    app.add_middleware(RequestMetrics)
    failures = SignInFailures()

    async def get_metrics(request: Request) -> Response:
        """The service's metrics, in the Prometheus text format."""
        await access.authorize(request, settings, failures)
        state = request.app.state
        gauges: DatabaseGauges | None = getattr(state, "metrics_gauges", None)
        if gauges is None:
            gauges = state.metrics_gauges = DatabaseGauges(state.context.engine, settings.metrics_cache_s)
        return Response(await render(instruments(), gauges), media_type=CONTENT_TYPE)

    app.add_route(PATH, get_metrics, methods=["GET"], include_in_schema=False)
