"""An agent: registration, the heartbeat loop, the reconciler loop and the job runner.

Used as is by the arq worker process and by the embedded mode (api + worker in one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.agents import service as agents
from workflow_service.config import Settings
from workflow_service.core.dispatch import Dispatcher
from workflow_service.core.http import OutboundPolicy, make_client
from workflow_service.core.notify import Notifier
from workflow_service.deliveries.sender import DeliverySender
from workflow_service.engine.definition import PlanCache
from workflow_service.jobs import lifecycle
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
        notifier: Notifier | None = None,
    ) -> None:
        self.engine, self.settings, self.dispatcher, self.pools = engine, settings, dispatcher, pools
        self.plans = plans or PlanCache()
        self.name = name
        self.http = make_client(
            OutboundPolicy.from_settings(settings.allow_private_networks, settings.outbound_allowlist),
            settings.http_default_timeout_s,
        )
        self.notifier = notifier or Notifier()
        self._deliveries_due = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self.agent_id: uuid.UUID | None = None
        self._runner: JobRunner | None = None
        self._unregister: Callable[[], None] | None = None

    async def start(self) -> None:
        self.agent_id = await agents.register(self.engine, self.pools, self.name)
        self._runner = JobRunner(
            self.engine,
            self.settings,
            self.plans,
            self.http,
            self.agent_id,
            self.pools,
            notifier=self.notifier,
            dispatcher=self.dispatcher,
        )
        lifecycle.install()
        # A push job that ended in this process has a callback to send: wake the delivery loop now.
        self._unregister = lifecycle.FOLLOW_UPS.register(
            "wake_deliveries", after_commit=self._push_ended, modes=("push",)
        )
        self.notifier.on_cancel(self._runner.cancel_local)
        self._loops = [
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._reconcile_loop(), name="reconciler"),
            asyncio.create_task(self._delivery_loop(), name="deliveries"),
        ]
        log.info("agent %s serving pools %s", self.agent_id, ", ".join(self.pools))

    async def _push_ended(self, ended: lifecycle.Ended, _context: lifecycle.Context) -> None:
        if ended.mode == "push":  # its delivery is committed with the end
            self._deliveries_due.set()

    async def run_job(self, job_id: uuid.UUID) -> str | None:
        assert self._runner is not None, "start() first"
        return await self._runner.run(job_id)

    async def _heartbeat_loop(self) -> None:
        assert self.agent_id is not None
        assert self._runner is not None
        lease = timedelta(seconds=self.settings.lease_s)
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            try:
                # Only the jobs running here right now: a job this agent no longer runs (whatever left it
                # behind) must not be kept alive by it; its lease expires and the reconciler takes over.
                lost = await agents.heartbeat(self.engine, self.agent_id, lease, self._runner.running)
                for job_id in lost.jobs:  # canceled (the notification was lost) or ended elsewhere: stop it now
                    if job_id in lost.canceled:
                        await self._runner.cancel_local(job_id)
                    else:
                        await self._runner.drop_local(job_id)
            except Exception:
                log.warning("heartbeat failed; retrying", exc_info=True)

    async def _delivery_loop(self) -> None:
        # Each due callback is sent on its own task (deliveries/sender.py): a slow receiver never holds up
        # the claim of the next ones, only its own slots. A send that ends wakes the loop to fill its slot.
        sender = DeliverySender(self.engine, self.http, self.settings, on_free=self._deliveries_due.set)
        try:
            while True:
                self._deliveries_due.clear()
                try:
                    started = await sender.send_due()
                except Exception:
                    log.warning("claiming callbacks failed; retrying", exc_info=True)
                    started = 0
                if started and sender.free > 0:
                    continue  # there may be more due
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._deliveries_due.wait(), self.settings.delivery_poll_s)
                await asyncio.sleep(0.01)  # let the transaction that set the event commit
        finally:
            # The worker is stopping: finish and record the attempts under way rather than lose them and
            # leave the deliveries claimed.
            await sender.drain()

    async def _reconcile_loop(self) -> None:
        while True:
            try:
                await reconcile(self.engine, self.dispatcher, self.settings, self.notifier, self.pools)
            except Exception:
                log.warning("reconciler pass failed; retrying", exc_info=True)
            await asyncio.sleep(self.settings.reconcile_interval_s)

    async def stop(self) -> None:
        if self._unregister is not None:
            self._unregister()
            self._unregister = None
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.agent_id is not None:
            with contextlib.suppress(Exception):
                await agents.stop(self.engine, self.agent_id)
        await self.http.aclose()
