"""Building the process's Context at startup and closing it at shutdown: one way for the api
(app.py's lifespan), the arq worker (worker/arq_worker.py) and the embedded mode (both in one process,
sharing one Context)."""

from __future__ import annotations

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.config import Settings
from workflow_service.context import Context
from workflow_service.core.db import make_engine
from workflow_service.core.dispatch import ArqDispatcher, Dispatcher, InProcessDispatcher
from workflow_service.core.http import OutboundPolicy, make_client
from workflow_service.core.notify import Notifier, RedisNotifier
from workflow_service.core.secrets import secrets_for
from workflow_service.engine.definition import PlanCache
from workflow_service.engine.steps.base import ModelSettings
from workflow_service.engine.templates import TemplateLimits
from workflow_service.jobs.ends import EndContext
from workflow_service.jobs.follow_ups import FOLLOW_UPS
from workflow_service.observability import metrics, tracing
from workflow_service.workflows.targets import Targets


async def open_context(settings: Settings) -> Context:
    """Connect what the settings name (the database; Redis, or the in-process dispatcher and notifier
    without it) and build the rest. Close it with `close_context`. The process's metrics are kept as the
    settings say from now on (observability/metrics.py)."""
    engine = make_engine(settings.database.url, settings.database.pool_size)
    dispatcher: Dispatcher
    notifier: Notifier
    if settings.redis_url:
        dispatcher = await ArqDispatcher.connect(settings.redis_url)
        notifier = RedisNotifier(settings.redis_url)
    else:
        dispatcher = InProcessDispatcher()
        notifier = Notifier()
    await notifier.start()
    metrics.configure(settings.metrics_dir)
    return assemble(settings, engine=engine, dispatcher=dispatcher, notifier=notifier)


def assemble(settings: Settings, *, engine: AsyncEngine, dispatcher: Dispatcher, notifier: Notifier) -> Context:
    """The Context around connected parts: everything else is built here from the settings, once."""
    outbound, limits, models = settings.outbound, settings.limits, settings.models
    policy = OutboundPolicy.from_settings(outbound.allow_private_networks, outbound.allowlist)
    providers = models.providers
    plans = PlanCache()
    return Context(
        settings=settings,
        engine=engine,
        plans=plans,
        dispatcher=dispatcher,
        notifier=notifier,
        secrets=secrets_for(settings),
        policy=policy,
        http=make_client(policy, outbound.timeout_s),
        limits=TemplateLimits(
            time_s=limits.template_time_s, max_iterations=limits.template_iterations, max_size=limits.template_size
        ),
        models=ModelSettings(
            providers={
                "openai_base_url": providers.openai_base_url,
                "openai_api_key": _revealed(providers.openai_api_key),
                "anthropic_base_url": providers.anthropic_base_url,
                "anthropic_api_key": _revealed(providers.anthropic_api_key),
            },
            timeout_s=models.timeout_s,
            max_attempts=models.max_attempts,
            backoff_s=models.backoff_s,
        ),
        pricing=models.pricing,
        ends=EndContext(engine, notifier, FOLLOW_UPS),
        targets=Targets(engine, plans),
        tracer=tracing.configure(settings.tracing),
    )


def _revealed(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


async def close_context(ctx: Context) -> None:
    """Close what `open_context` opened. An agent runtime on this Context stops first: its stop still
    writes (the agent's status) through the engine."""
    await ctx.dispatcher.close()
    await ctx.notifier.close()
    await ctx.http.aclose()
    await ctx.engine.dispose()
    metrics.release()
