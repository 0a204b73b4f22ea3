"""create_app(settings): the FastAPI application, its lifespan, middleware, routers and problem handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal

import orjson
import yaml
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workflow_service import __version__
from workflow_service.access.credentials import Authenticator
from workflow_service.access.oidc import verifier_of
from workflow_service.agents.router import router as agents_router
from workflow_service.apikeys.router import router as apikeys_router
from workflow_service.audit.router import router as audit_router
from workflow_service.config import Settings
from workflow_service.contract import TAGS, operation_id
from workflow_service.core.db import ping
from workflow_service.deliveries.router import router as deliveries_router
from workflow_service.deps import (
    ServicesDep,
    authenticate,
    reject_nul,
)
from workflow_service.docs_pages import install_docs
from workflow_service.errors import DatabaseUnavailable
from workflow_service.jobs.invoke_router import router as invoke_router
from workflow_service.jobs.router import router as jobs_router
from workflow_service.middleware import AuthenticationMiddleware, RequestIdMiddleware, is_hook, is_package_upload
from workflow_service.monitor.router import router as monitor_router
from workflow_service.observability.router import install as install_metrics
from workflow_service.observability.router import install_route_capture
from workflow_service.observability.tracing import configure as configure_tracing
from workflow_service.observability.tracing import traced_path
from workflow_service.outputs.router import router as outputs_router
from workflow_service.packages.import_router import router as package_import_router
from workflow_service.packages.reader import UPLOAD_BODY_BYTES
from workflow_service.packages.router import router as packages_router
from workflow_service.people.router import router as people_router
from workflow_service.people.sharing_router import router as sharing_router
from workflow_service.people.users_router import router as users_router
from workflow_service.problems import (
    install_openapi_problems,
    install_problem_handlers,
    malformed_body,
    payload_too_large,
    problem_response,
    problem_responses,
)
from workflow_service.query_params import reject_unknown_query_params
from workflow_service.schedules.router import router as schedules_router
from workflow_service.startup import close_context, open_context
from workflow_service.tools.router import router as tools_router
from workflow_service.triggers.hook_router import router as hook_router
from workflow_service.triggers.router import router as triggers_router
from workflow_service.ui.install import install_ui
from workflow_service.worker.runtime import in_process_worker
from workflow_service.workflows.router import router as workflows_router

log = logging.getLogger(__name__)

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class BodyTooLarge(Exception):
    """Raised to the app from `receive` when the body passes the limit; BodyLimitMiddleware answers 413."""


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413 problem+json as soon as that is known: up front from
    Content-Length, else (chunked bodies) when the bytes read pass the limit, so that no more than the limit
    is ever read. Whatever the app answers to the failed read is replaced by the 413. A package upload may be
    larger: up to reader.UPLOAD_BODY_BYTES (a package is at most spec.MAX_PACKAGE_BYTES, whatever the setting)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, why = self.max_bytes, "WFS_MAX_BODY_BYTES"
        if is_package_upload(scope) and limit < UPLOAD_BODY_BYTES:
            limit, why = UPLOAD_BODY_BYTES, "a package of at most 5 MiB, and the upload's fields"
        length = _content_length(scope)
        if length is not None and length > limit:
            await payload_too_large(limit, Request(scope), why)(scope, receive, send)
            return
        body = _CountedBody(receive, send, limit)
        try:
            await self.app(scope, body.receive, body.send)
        except Exception:
            if not body.exceeded:
                raise
        if body.exceeded and not body.started:
            await payload_too_large(limit, Request(scope), why)(scope, receive, send)


class _CountedBody:
    """One request's `receive` and `send` as the app sees them: reading past the limit raises BodyTooLarge
    (and every read after it), and from then on what the app sends is dropped."""

    __slots__ = ("_receive", "_send", "exceeded", "max_bytes", "received", "started")

    def __init__(self, receive: Receive, send: Send, max_bytes: int) -> None:
        self._receive, self._send, self.max_bytes = receive, send, max_bytes
        self.received = 0
        self.exceeded = self.started = False

    async def receive(self) -> Message:
        if self.exceeded:
            raise BodyTooLarge
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_bytes:
                self.exceeded = True
                raise BodyTooLarge
        return message

    async def send(self, message: Message) -> None:
        if self.exceeded:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


MAX_YAML_VALUES = 1_000_000
"""How many values a YAML body may stand for once its aliases are expanded (a few MB of YAML can
otherwise name billions of values through nested anchors, and converting it to JSON would build them)."""


class YamlTooLarge(ValueError):
    pass


def _check_expanded_size(data: Any, limit: int) -> None:
    """Raise YamlTooLarge when `data`, with every alias expanded, holds more than `limit` values. Shared
    objects (what aliases load as) are counted once per use without being walked again."""
    sizes: dict[int, int] = {}

    def size(value: Any) -> int:
        if not isinstance(value, dict | list):
            return 1
        known = sizes.get(id(value))
        if known is not None:
            return known
        children = value.values() if isinstance(value, dict) else value
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                raise YamlTooLarge(f"the YAML body expands to more than {limit} values through its aliases")
        sizes[id(value)] = total
        return total

    size(data)


def _malformed_yaml(exc: Exception, request: Request) -> Response:
    """400 for a YAML body that does not parse, at the line and column the parser stopped."""
    if isinstance(exc, RecursionError):
        return malformed_body("the YAML body is nested too deeply", request)
    mark = getattr(exc, "problem_mark", None)
    where = (mark.line + 1, mark.column + 1, mark.index) if mark else None
    return malformed_body(f"the body is not valid YAML: {getattr(exc, 'problem', None) or exc}", request, where)


class YamlBodyMiddleware:
    """Accept YAML request bodies by converting them to JSON before FastAPI parses them. The body is bounded
    by BodyLimitMiddleware (WFS_MAX_BODY_BYTES), which runs outside this one. An event posted to a trigger is
    left as sent: its signature is over its bytes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.max_nodes = MAX_YAML_VALUES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().decode("latin-1").lower()
        if ctype not in YAML_TYPES or is_hook(scope):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            data = yaml.safe_load(body) if body.strip() else None
            _check_expanded_size(data, self.max_nodes)
            converted = orjson.dumps(data, default=str)
        except YamlTooLarge as exc:
            await problem_response(413, "payload_too_large", "Payload too large", str(exc))(scope, receive, send)
            return
        except (yaml.YAMLError, TypeError, RecursionError) as exc:
            await _malformed_yaml(exc, Request(scope))(scope, receive, send)
            return
        new_headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-type", b"content-length")]
        new_headers += [(b"content-type", b"application/json"), (b"content-length", str(len(converted)).encode())]
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": converted, "more_body": False}
            return await receive()

        await self.app({**scope, "headers": new_headers}, replay, send)


def native_telemetry(environ: Mapping[str, str], tracing: str = "off") -> TelemetryConfig:
    """FastAPI's own OpenTelemetry spans, metrics and logs: as FastAPI sets them when tracing is on
    (WFS_TRACING: its span per request is the one a job's submission is a child of) or the operator configured
    OpenTelemetry (any `OTEL_*` or `FASTAPI_OTEL_*` variable), else off. Left on, FastAPI asks the global
    providers on every request whether anyone listens, about 3 % of the api's CPU on the submission path.
    Scrapes and probes get no span (observability/tracing.NOT_TRACED)."""
    if tracing != "off" or any(name.startswith(("OTEL_", "FASTAPI_OTEL_")) for name in environ):
        return {"exclude": lambda scope: not traced_path(scope)}
    return {"tracing": False, "metrics": False, "logs": False}


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    version: str
    checks: dict[str, str] = {}


def create_app(settings: Settings, *, embedded_worker: bool | None = None) -> FastAPI:
    """Build the app. With no Redis configured, jobs run in-process (the embedded mode)."""
    if settings.admin_token is None:
        raise ValueError("WFS_ADMIN_TOKEN is required (the `dev` command generates one)")
    run_worker = settings.embedded if embedded_worker is None else embedded_worker
    configure_tracing(settings.tracing)  # before the first request: FastAPI's spans use the process's provider
    app = FastAPI(
        telemetry=native_telemetry(os.environ, settings.tracing),
        title="workflow-service",
        version=__version__,
        lifespan=_lifespan(settings, run_worker),
        description="Run versioned workflows as durable jobs. Errors are RFC 9457 problem+json.",
        openapi_tags=TAGS,
        generate_unique_id_function=operation_id,
        docs_url=None,  # /docs and /redoc are docs_pages', with their assets served from the package
        redoc_url=None,
        dependencies=[Depends(reject_nul), Depends(reject_unknown_query_params)],
        # Every route: a body over WFS_MAX_BODY_BYTES is 413; a NUL character in a parameter or body, or a query
        # parameter the route does not declare, is 422.
        responses=problem_responses(413, 422),
    )
    app.state.admin_token = settings.admin_token.get_secret_value()
    app.state.closing = asyncio.Event()
    install_problem_handlers(app)
    install_docs(app)
    # The last added runs first: authentication (no body read without valid credentials), then the body
    # limit, then the YAML conversion, which reads the body.
    # The request metrics time all of it (observability/http.py): outermost, with the route capture innermost.
    install_route_capture(app, settings)
    app.add_middleware(YamlBodyMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.limits.body_bytes)
    app.add_middleware(AuthenticationMiddleware)
    app.add_middleware(RequestIdMiddleware)
    install_metrics(app, settings)
    app.include_router(_health(settings))
    app.include_router(_v1())
    app.include_router(hook_router)  # authenticated by each trigger's own secret, not by the service's credentials
    install_ui(app)  # the dashboard: its session cookie instead of a bearer token, over the same API
    install_openapi_problems(app)
    return app


def begin_shutdown(app: FastAPI) -> None:
    """The server stops taking requests: the ones that would go on (job event streams, long polls) end now,
    so that its connections close and it can stop; their clients resume elsewhere."""
    app.state.closing.set()


def _lifespan(settings: Settings, run_worker: bool) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The process's Context for the app's life (startup.py), with the in-process worker in the embedded
    mode."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = await open_context(settings)
        oidc = verifier_of(settings)
        try:
            async with in_process_worker(ctx) if run_worker else contextlib.nullcontext():
                app.state.context = ctx
                app.state.authenticator = Authenticator(ctx.engine, app.state.admin_token, {}, oidc)
                yield
        finally:
            if oidc is not None:
                await oidc.aclose()
            await close_context(ctx)

    return lifespan


def _health(settings: Settings) -> APIRouter:
    health = APIRouter(tags=["health"])

    @health.get("/healthz", response_model=Health)
    async def get_health() -> Health:
        """Liveness: the process is up."""
        return Health(status="ok", version=__version__)

    retry_after = {
        "Retry-After": {"description": "Seconds to wait before asking again.", "schema": {"type": "integer"}}
    }

    @health.get("/readyz", response_model=Health, responses={503: {"model": Health, "headers": retry_after}})
    async def get_readiness(services: ServicesDep) -> Any:
        """Readiness: the database (and Redis, when configured) answer."""
        checks = {}
        try:
            async with services.engine.connect() as conn:
                await ping(conn)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        if settings.redis_url:
            checks["redis"] = "ok" if await services.dispatcher.ping() else "error: no answer"
        ok = all(v == "ok" for v in checks.values())
        body = Health(status="ok" if ok else "unavailable", version=__version__, checks=checks)
        if ok:
            return JSONResponse(body.model_dump())
        return JSONResponse(
            body.model_dump(), status_code=503, headers={"Retry-After": str(DatabaseUnavailable.retry_after_s)}
        )

    return health


def _v1() -> APIRouter:
    # Every /v1 request authenticates (admin token or API key); every route declares its access rule
    # itself (access.routes.require). These routers' routes are all refused to some callers: their 403
    # is declared here once.
    v1 = APIRouter(dependencies=[Depends(authenticate)])
    refusable: dict[str, Any] = {"responses": problem_responses(403)}
    v1.include_router(workflows_router, **refusable)
    v1.include_router(packages_router, **refusable)
    v1.include_router(package_import_router, **refusable)
    v1.include_router(apikeys_router, **refusable)
    v1.include_router(schedules_router, **refusable)
    v1.include_router(invoke_router)
    v1.include_router(jobs_router)
    v1.include_router(outputs_router)
    v1.include_router(deliveries_router)
    v1.include_router(monitor_router, **refusable)
    v1.include_router(agents_router, **refusable)
    v1.include_router(tools_router, **refusable)
    v1.include_router(people_router)
    v1.include_router(users_router, **refusable)
    v1.include_router(sharing_router, **refusable)
    v1.include_router(audit_router, **refusable)
    v1.include_router(triggers_router, **refusable)
    return v1
