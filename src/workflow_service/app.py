"""create_app(settings): the FastAPI application, its lifespan, middleware, routers and problem handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import sqlalchemy as sa
import yaml
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workflow_service import __version__
from workflow_service.agents.router import router as agents_router
from workflow_service.apikeys.router import router as apikeys_router
from workflow_service.config import Settings
from workflow_service.core.db import make_engine
from workflow_service.core.dispatch import ArqDispatcher, Dispatcher, InProcessDispatcher
from workflow_service.core.http import OutboundPolicy, make_client
from workflow_service.core.notify import Notifier, RedisNotifier
from workflow_service.deliveries.router import router as deliveries_router
from workflow_service.deps import Services, ServicesDep, authenticate, require_admin
from workflow_service.engine.definition import PlanCache
from workflow_service.errors import DatabaseUnavailable
from workflow_service.jobs.router import router as jobs_router
from workflow_service.problems import (
    install_openapi_problems,
    install_problem_handlers,
    problem_response,
    problem_responses,
)
from workflow_service.tools.router import router as tools_router
from workflow_service.worker.runtime import AgentRuntime
from workflow_service.workflows.router import router as workflows_router

log = logging.getLogger(__name__)

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
MAX_BODY_BYTES = 10 * 1024 * 1024


class YamlBodyMiddleware:
    """Accept YAML request bodies by converting them to JSON before FastAPI parses them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().decode("latin-1").lower()
        if ctype not in YAML_TYPES:
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await problem_response(
                    413, "payload_too_large", "Payload too large", f"bodies are limited to {MAX_BODY_BYTES} bytes"
                )(scope, receive, send)
                return
            if not message.get("more_body"):
                break
        try:
            data = yaml.safe_load(body) if body.strip() else None
            converted = orjson.dumps(data, default=str)
        except (yaml.YAMLError, TypeError) as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            await problem_response(
                422,
                "invalid_request",
                "The request is not valid",
                f"the YAML body does not parse{where}: {exc}",
                errors=[{"path": "$", "message": f"invalid YAML{where}"}],
            )(scope, receive, send)
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


class Health(BaseModel):
    status: str
    version: str
    checks: dict[str, str] = {}


def create_app(settings: Settings, *, embedded_worker: bool | None = None) -> FastAPI:
    """Build the app. With no Redis configured, jobs run in-process (the embedded mode)."""
    if settings.admin_token is None:
        raise ValueError("WFS_ADMIN_TOKEN is required (the `dev` command generates one)")
    run_worker = settings.embedded if embedded_worker is None else embedded_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.effective_database_url, settings.db_pool_size)
        plans = PlanCache()
        policy = OutboundPolicy.from_settings(settings.allow_private_networks, settings.outbound_allowlist)
        dispatcher: Dispatcher
        notifier: Notifier
        runtime: AgentRuntime | None = None
        if settings.redis_url:
            dispatcher = await ArqDispatcher.connect(settings.redis_url)
            notifier = RedisNotifier(settings.redis_url)
        else:
            dispatcher = InProcessDispatcher()
            notifier = Notifier()
        await notifier.start()
        if run_worker:
            if not isinstance(dispatcher, InProcessDispatcher):
                raise ValueError("the in-process worker needs the in-process dispatcher (unset WFS_REDIS_URL)")
            runtime = AgentRuntime(engine, settings, dispatcher, tuple(settings.worker_pools), plans, notifier=notifier)
            await runtime.start()
            dispatcher.start(settings.worker_pools, settings.worker_concurrency, runtime.run_job)
        http = make_client(policy, settings.http_default_timeout_s)
        app.state.services = Services(
            settings=settings, engine=engine, dispatcher=dispatcher, plans=plans, notifier=notifier, http=http,
            policy=policy,
        )  # fmt: skip
        try:
            yield
        finally:
            await dispatcher.close()
            if runtime is not None:
                await runtime.stop()
            await notifier.close()
            await http.aclose()
            await engine.dispose()

    app = FastAPI(
        title="workflow-service",
        version=__version__,
        lifespan=lifespan,
        description="Run versioned workflows as durable jobs. Errors are RFC 9457 problem+json.",
    )
    app.state.admin_token = settings.admin_token.get_secret_value()
    install_problem_handlers(app)
    app.add_middleware(YamlBodyMiddleware)

    health = APIRouter(tags=["health"])

    @health.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        """Liveness: the process is up."""
        return Health(status="ok", version=__version__)

    retry_after = {
        "Retry-After": {"description": "Seconds to wait before asking again.", "schema": {"type": "integer"}}
    }

    @health.get("/readyz", response_model=Health, responses={503: {"model": Health, "headers": retry_after}})
    async def readyz(services: ServicesDep) -> Any:
        """Readiness: the database (and Redis, when configured) answer."""
        checks = {}
        try:
            async with services.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
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

    app.include_router(health)
    # Every /v1 request authenticates (admin token or API key). Routers that only the admin may use are
    # marked here; jobs_router marks its routes one by one, since API keys may submit and read jobs.
    v1 = APIRouter(dependencies=[Depends(authenticate)])
    admin_only: dict[str, Any] = {"dependencies": [Depends(require_admin)], "responses": problem_responses(403)}
    v1.include_router(workflows_router, **admin_only)
    v1.include_router(apikeys_router, **admin_only)
    v1.include_router(jobs_router)
    v1.include_router(deliveries_router)
    v1.include_router(agents_router, **admin_only)
    v1.include_router(tools_router, **admin_only)
    app.include_router(v1)
    install_openapi_problems(app)
    return app
