"""An agent: registration, the heartbeat loop, the reconciler loop and the job runner.

Used as is by the arq worker process and by the embedded mode (api + worker in one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.agents import service as agents
from workflow_service.config import Settings
from workflow_service.core.dispatch import Dispatcher
from workflow_service.core.http import OutboundPolicy, make_client
from workflow_service.engine.definition import PlanCache
from workflow_service.jobs.execution import JobRunner
from workflow_service.jobs.reconciler import reconcile

log = logging.getLogger(__name__)


class AgentRuntime:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        dispatcher: Dispatcher,
        pools: tuple[str, ...],
        plans: PlanCache | None = None,
        name: str | None = None,
    ) -> None:
        self.engine, self.settings, self.dispatcher, self.pools = engine, settings, dispatcher, pools
        self.plans = plans or PlanCache()
        self.name = name
        self.http = make_client(
            OutboundPolicy.from_settings(settings.allow_private_networks, settings.outbound_allowlist),
            settings.http_default_timeout_s,
        )
        self._loops: list[asyncio.Task[None]] = []
        self.agent_id: uuid.UUID | None = None
        self._runner: JobRunner | None = None

    async def start(self) -> None:
        self.agent_id = await agents.register(self.engine, self.pools, self.name)
        self._runner = JobRunner(self.engine, self.settings, self.plans, self.http, self.agent_id, self.pools)
        self._loops = [
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._reconcile_loop(), name="reconciler"),
        ]
        log.info("agent %s serving pools %s", self.agent_id, ", ".join(self.pools))

    async def run_job(self, job_id: uuid.UUID) -> str | None:
        assert self._runner is not None, "start() first"
        return await self._runner.run(job_id)

    async def _heartbeat_loop(self) -> None:
        assert self.agent_id is not None
        lease = timedelta(seconds=self.settings.lease_s)
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                await agents.heartbeat(self.engine, self.agent_id, lease)
            except Exception:
                log.warning("heartbeat failed; retrying", exc_info=True)

    async def _reconcile_loop(self) -> None:
        while True:
            try:
                await reconcile(self.engine, self.dispatcher, self.settings)
            except Exception:
                log.warning("reconciler pass failed; retrying", exc_info=True)
            await asyncio.sleep(self.settings.reconcile_interval_s)

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.agent_id is not None:
            with contextlib.suppress(Exception):
                await agents.stop(self.engine, self.agent_id)
        await self.http.aclose()
