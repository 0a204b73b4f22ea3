"""The process's collaborators, built once at startup (workflow_service/startup.py) and handed to the
services, the job runner and the loops that need them, instead of each taking them one by one or
building its own per request or per job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from opentelemetry.trace import Tracer
from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.config import Price, Settings
from workflow_service.core.dispatch import Dispatcher
from workflow_service.core.http import OutboundPolicy
from workflow_service.core.notify import Notifier
from workflow_service.core.secrets import Secrets
from workflow_service.engine.definition import PlanCache
from workflow_service.engine.steps.base import ModelSettings
from workflow_service.engine.templates import TemplateLimits
from workflow_service.jobs.ends import EndContext
from workflow_service.workflows.targets import Targets


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    settings: Settings
    engine: AsyncEngine
    plans: PlanCache
    """Compiled workflow versions, shared by every request and job of the process."""
    dispatcher: Dispatcher
    notifier: Notifier
    secrets: Secrets
    """Encrypts and decrypts secret values at rest (WFS_SECRET_KEY)."""
    policy: OutboundPolicy
    http: httpx.AsyncClient
    """The guarded outbound client: steps, callbacks, model calls, redeliveries sent from the API."""
    limits: TemplateLimits
    models: ModelSettings
    pricing: Mapping[str, Price]
    """Credits per 1000 tokens by model (WFS_PRICING); empty: costs are not computed."""
    ends: EndContext
    """What a job's end in this process runs (jobs/lifecycle.py): its follow-ups, with this notifier."""
    targets: Targets
    """The versions submissions target, looked up together under load (workflows/targets.py)."""
    tracer: Tracer | None = None
    """What job and step spans are made with (WFS_TRACING); None: tracing is off (observability/tracing.py)."""
