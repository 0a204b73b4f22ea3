"""An agent: registration, the heartbeat loop, the reconciler (and schedules) and retention loops, and the job
runner.

Used as is by the arq worker process and by the embedded mode (api + worker in one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable

from workflow_service.access.expiry import expire_credentials
from workflow_service.agents import service as agents
from workflow_service.context import Context
from workflow_service.core.dispatch import InProcessDispatcher
from workflow_service.deliveries.sender import DeliverySender
from workflow_service.jobs import retention
from workflow_service.jobs.ends import EndContext, Ended
from workflow_service.jobs.reconciler import reconcile
from workflow_service.jobs.run.claim import Agent
from workflow_service.jobs.run.runner import JobRunner
from workflow_service.observability.metrics import instruments
from workflow_service.schedules.firing import fire_due

log = logging.getLogger(__name__)

EXPIRE_EVERY_S = 30.0
"""How often the reconciler loop marks expired API keys and personal tokens revoked (access/expiry.py)."""


class AgentRuntime:
    def __init__(self, ctx: Context, pools: tuple[str, ...], name: str | None = None) -> None:
        self.ctx, self.pools, self.name = ctx, pools, name
        self._deliveries_due = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self.agent_id: uuid.UUID | None = None
        self._runner: JobRunner | None = None
        self._unregister: Callable[[], None] | None = None

    async def start(self) -> None:
        ctx = self.ctx
        self.agent_id = await agents.register(ctx.engine, self.pools, self.name)
        self._runner = JobRunner(ctx, Agent.of(self.agent_id, self.pools))
        # A push job, or a job with its own notification URL, that ended in this process has a delivery to send:
        # wake the delivery loop now.
        self._unregister = ctx.ends.follow_ups.register("wake_deliveries", after_commit=self._push_ended)
        ctx.notifier.on_cancel(self._runner.cancel_local)
        self._loops = [
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._reconcile_loop(), name="reconciler"),
            asyncio.create_task(self._retention_loop(), name="retention"),
            asyncio.create_task(self._delivery_loop(), name="deliveries"),
        ]
        log.info("agent %s serving pools %s", self.agent_id, ", ".join(self.pools))

    async def _push_ended(self, ended: Ended, _ends: EndContext) -> None:
        if ended.mode == "push" or ended.notify_url is not None:  # its delivery is committed with the end
            self._deliveries_due.set()

    async def run_job(self, job_id: uuid.UUID) -> str | None:
        assert self._runner is not None, "start() first"
        return await self._runner.run(job_id)

    async def _heartbeat_loop(self) -> None:
        assert self.agent_id is not None
        assert self._runner is not None
        lease = self.ctx.settings.jobs.lease
        while True:
            await asyncio.sleep(self.ctx.settings.worker.heartbeat_s)
            try:
                # Only the jobs running here right now: a job this agent no longer runs (whatever left it
                # behind) must not be kept alive by it; its lease expires and the reconciler takes over.
                lost = await agents.heartbeat(self.ctx.engine, self.agent_id, lease, self._runner.running)
                instruments().heartbeats.labels("ok").inc()
                for job_id in lost.jobs:  # canceled (the notification was lost) or ended elsewhere: stop it now
                    if job_id in lost.canceled:
                        await self._runner.cancel_local(job_id)
                    else:
                        await self._runner.drop_local(job_id)
            except Exception:
                instruments().heartbeats.labels("failed").inc()
                log.warning("heartbeat failed; retrying", exc_info=True)

    async def _delivery_loop(self) -> None:
        # Each due callback is sent on its own task (deliveries/sender.py): a slow receiver never holds up
        # the claim of the next ones, only its own slots. A send that ends wakes the loop to fill its slot.
        sender = DeliverySender(self.ctx.engine, self.ctx.http, self.ctx.settings, on_free=self._deliveries_due.set)
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
                    await asyncio.wait_for(self._deliveries_due.wait(), self.ctx.settings.delivery.poll_s)
                await asyncio.sleep(0.01)  # let the transaction that set the event commit
        finally:
            # The worker is stopping: finish and record the attempts under way rather than lose them and
            # leave the deliveries claimed.
            await sender.drain()

    async def _reconcile_loop(self) -> None:
        loop = asyncio.get_running_loop()
        expire_next = loop.time()
        while True:
            try:
                await reconcile(self.ctx, self.pools)
            except Exception:
                log.warning("reconciler pass failed; retrying", exc_info=True)
            try:
                await fire_due(self.ctx)  # the schedules' times that have come (schedules/firing.py)
            except Exception:
                log.warning("firing schedules failed; retrying", exc_info=True)
            if loop.time() >= expire_next:
                # Keys and tokens past their expiry shown revoked, and recorded in the audit log: an expired
                # credential is refused anyway, so once in a while is enough.
                expire_next = loop.time() + EXPIRE_EVERY_S
                try:
                    await expire_credentials(self.ctx.engine)
                except Exception:
                    log.warning("expiring credentials failed; retrying", exc_info=True)
            await asyncio.sleep(self.ctx.settings.worker.reconcile_interval_s)

    async def _retention_loop(self) -> None:
        # At start, then every WFS_RETENTION_SWEEP_S: a worker restarted more often than that still sweeps.
        while True:
            try:
                await retention.sweep(self.ctx.engine)
            except Exception:
                log.warning("retention sweep failed; retrying at the next one", exc_info=True)
            await asyncio.sleep(self.ctx.settings.retention_sweep_s)  # jobs/retention.py

    async def stop(self) -> None:
        if self._unregister is not None:
            self._unregister()
            self._unregister = None
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._runner is not None:
            await self._runner.close()
        if self.agent_id is not None:
            with contextlib.suppress(Exception):
                await agents.stop(self.ctx.engine, self.agent_id)


@contextlib.asynccontextmanager
async def in_process_worker(ctx: Context) -> AsyncIterator[AgentRuntime]:
    """The embedded mode's worker: an agent runtime fed by the in-process dispatcher's queues, in the
    api's process and with its Context. On the way out, the jobs running here stop before the agent."""
    dispatcher = ctx.dispatcher
    if not isinstance(dispatcher, InProcessDispatcher):
        raise ValueError("the in-process worker needs the in-process dispatcher (unset WFS_REDIS_URL)")
    worker = ctx.settings.worker
    runtime = AgentRuntime(ctx, worker.pools)
    await runtime.start()
    dispatcher.start(worker.pools, worker.concurrency, runtime.run_job)
    try:
        yield runtime
    finally:
        await dispatcher.stop()
        await runtime.stop()
