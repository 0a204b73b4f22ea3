"""A worker's own metrics port (`workflow-service worker --metrics-port N`): for workers whose host has no api
process sharing their WFS_METRICS_DIR, Prometheus scrapes each worker there (docs/metrics.md).

It serves `GET /metrics` only: the worker's metrics (or its directory's, in multiprocess mode), without the
database's figures (the API serves those, for the whole deployment). Access is WFS_METRICS's: `open`, or
`token` with WFS_METRICS_TOKEN or the operator token (a worker makes no database lookup for a credential).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from workflow_service.config import Settings
from workflow_service.observability.access import ASK, scrape_token
from workflow_service.observability.exposition import CONTENT_TYPE, render
from workflow_service.observability.metrics import instruments
from workflow_service.problems import problem_response


class MetricsPortRefused(Exception):
    """The settings do not allow a metrics port (its message says why)."""


def check(settings: Settings) -> None:
    """Raise MetricsPortRefused when a metrics port cannot be served as the settings say."""
    if settings.metrics == "off":
        raise MetricsPortRefused("--metrics-port needs WFS_METRICS=token or open (it is off)")
    if settings.metrics == "token" and settings.metrics_token is None and settings.admin_token is None:
        raise MetricsPortRefused("--metrics-port with WFS_METRICS=token needs WFS_METRICS_TOKEN (or WFS_ADMIN_TOKEN)")


def metrics_app(settings: Settings) -> Starlette:
    async def get_metrics(request: Request) -> Response:
        if settings.metrics == "token" and not scrape_token(
            settings, request.headers.get("authorization"), operator=True
        ):
            return problem_response(
                401,
                "unauthorized",
                "Missing or invalid credentials",
                ASK,
                request,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Response(await render(instruments()), media_type=CONTENT_TYPE)

    return Starlette(routes=[Route("/metrics", get_metrics, methods=["GET"])])


@contextlib.asynccontextmanager
async def serving(settings: Settings, host: str, port: int) -> AsyncIterator[int]:
    """Serve the worker's metrics on `host:port` while the context lasts; yields the port (0: one chosen).
    The port is bound before anything else, so a taken one is an OSError at once."""
    check(settings)
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    config = uvicorn.Config(metrics_app(settings), log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.gather(task, return_exceptions=True)
        sock.close()
