"""The API's request metrics: how long each request took, by method, route template and status class.

The route template (`/v1/jobs/{job_id}`, never the path as sent) is what the router matched: `RouteCapture`,
innermost, reads it once the router has run and hands it to `RequestMetrics`, outermost, which times the
whole request (the authentication and body checks of the middleware between them included) and counts it.
A request answered before it reached the router (a 401, a 413) is matched against the routes here, so it
counts under its route too. A request no route matches is counted under one label, `unmatched`. Nothing
here touches the database: a request costs one histogram observation.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workflow_service.observability.metrics import instruments

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SEEN_KEY = "wfs.request_metrics"


@dataclass(slots=True)
class _Seen:
    route: str | None = None
    status: int | None = None
    routed: bool = False


def status_class(status: int | None) -> str:
    """`2xx`, `4xx`, ...; a request that ended without a response (an error) is `5xx`."""
    return f"{status // 100}xx" if status is not None and 100 <= status < 600 else "5xx"


class RequestMetrics:
    """Outermost middleware: times and counts every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen = _Seen()
        scope[_SEEN_KEY] = seen  # a middleware that copies the scope copies this reference with it

        async def send_seen(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_seen)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            route = seen.route or (UNMATCHED if seen.routed else self._template(scope))
            instruments().http_requests.labels(method, route, status_class(seen.status)).observe(
                time.perf_counter() - started
            )

    def _template(self, scope: Scope) -> str:
        """The template of the route the request's path would have reached (it was answered before routing)."""
        if self._templates is None:
            paths = (getattr(c, "path", None) for c in iter_route_contexts(scope["app"].routes))
            self._templates = [(compile_path(p)[0], p) for p in dict.fromkeys(paths) if isinstance(p, str)]
        path, root = scope["path"], scope.get("root_path", "")
        path = path[len(root) :] if root and path.startswith(root) else path
        return next((template for regex, template in self._templates if regex.match(path)), UNMATCHED)


class RouteCapture:
    """Innermost middleware: the template of the route the router matched, for RequestMetrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            seen = scope.get(_SEEN_KEY)
            if seen is not None:
                seen.routed = True
                route = scope.get("route")
                if route is not None:
                    seen.route = getattr(route, "path_format", None) or getattr(route, "path", None)
