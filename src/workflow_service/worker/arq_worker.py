"""`workflow-service worker`: arq workers (one per pool) sharing one agent runtime.

arq carries only job ids, serialised as JSON; the database decides what runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from arq import Retry
from arq.connections import RedisSettings
from arq.worker import Worker, func

from workflow_service.config import Settings
from workflow_service.core.dispatch import TASK_NAME, json_deserializer, json_serializer, queue_name
from workflow_service.jobs.run.errors import retryable
from workflow_service.observability import worker_port
from workflow_service.startup import close_context, open_context
from workflow_service.worker.pickup import BatchWorker
from workflow_service.worker.runtime import AgentRuntime

log = logging.getLogger(__name__)

# arq must never time out or give up on our task: job timeouts and retries are the service's own.
ARQ_JOB_TIMEOUT_S = 7 * 86400


async def run_job(ctx: dict[str, Any], job_id: str) -> None:
    """arq task: run one job by id."""
    runtime: AgentRuntime = ctx["runtime"]
    try:
        await runtime.run_job(uuid.UUID(job_id))
    except Exception as exc:
        if retryable(exc):  # could not even claim (the database is unavailable): try again shortly
            raise Retry(defer=2) from exc
        raise


def build_worker(settings: Settings, runtime: AgentRuntime, pool: str, concurrency: int) -> Worker:
    assert settings.redis_url
    return BatchWorker(
        functions=[func(run_job, name=TASK_NAME)],
        queue_name=queue_name(pool),
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        max_jobs=concurrency,
        poll_delay=settings.worker.poll_delay_s,
        job_timeout=ARQ_JOB_TIMEOUT_S,
        keep_result=0,
        max_tries=1_000_000,
        handle_signals=False,
        ctx={"runtime": runtime},
        job_serializer=json_serializer,
        job_deserializer=json_deserializer,
        log_results=False,
    )


class SupervisedWorker:
    """One pool's arq worker, restarted with backoff whenever it dies (arq's poll loop raises when Redis
    goes away, and would otherwise take the whole process down with it). Jobs already running carry on:
    they need the database, not Redis."""

    def __init__(self, make: Callable[[], Worker], pool: str) -> None:
        self.make, self.pool = make, pool
        self.current: Worker | None = None
        self.retired: list[Worker] = []

    async def run(self, stop: asyncio.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            await self._prune()
            self.current = self.make()
            try:
                await self.current.async_run()
                delay = 0.5
            except Exception as exc:
                log.warning("arq worker for pool %s stopped (%s); restarting in %.1f s", self.pool, exc, delay)
            self.retired.append(self.current)
            self.current = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 10.0)

    async def _prune(self) -> None:
        """Release the Redis connections of dead workers whose jobs have all finished."""
        for worker in [w for w in self.retired if all(t.done() for t in w.tasks.values())]:
            self.retired.remove(worker)
            await _close_worker(worker)

    def running_jobs(self) -> list[asyncio.Task[Any]]:
        workers = [*self.retired, *([self.current] if self.current else [])]
        return [t for w in workers for t in w.tasks.values() if not t.done()]


async def _close_worker(worker: Worker) -> None:
    """Worker.close() without its deprecated redis `close()` call."""
    worker.handle_sig(signal.SIGUSR1)  # cancels what is still running and the poll loop
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    redis = worker._pool
    if redis is not None:
        with contextlib.suppress(Exception):
            await redis.delete(worker.health_check_key)
        await redis.aclose()
        worker._pool = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerOptions:
    pools: tuple[str, ...]
    concurrency: int
    """Jobs run at once, per pool."""
    grace_s: float = 10.0
    """How long running jobs may take to finish once asked to stop."""
    name: str | None = None
    """The agent's name (default host:pid)."""
    handle_signals: bool = True
    """Stop on SIGINT and SIGTERM."""
    metrics_port: int | None = None
    """Serve this worker's metrics on this port (observability/worker_port.py); None: not served."""
    metrics_host: str = "127.0.0.1"


async def serve_worker(settings: Settings, options: WorkerOptions, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or `stop`), then stop taking jobs and let running ones finish."""
    if not settings.redis_url:
        raise SystemExit("workflow-service worker needs WFS_REDIS_URL (the embedded mode is `workflow-service dev`)")
    if options.metrics_port is not None:
        worker_port.check(settings)  # refused before anything starts
    ctx = await open_context(settings)
    try:
        runtime = AgentRuntime(ctx, options.pools, options.name)
        await runtime.start()
        try:
            async with _metrics_port(settings, options):
                await _serve(settings, runtime, options, stop or asyncio.Event())
        finally:
            await runtime.stop()
    finally:
        await close_context(ctx)


def _metrics_port(settings: Settings, options: WorkerOptions) -> contextlib.AbstractAsyncContextManager[object]:
    if options.metrics_port is None:
        return contextlib.nullcontext()
    return worker_port.serving(settings, options.metrics_host, options.metrics_port)


async def _serve(settings: Settings, runtime: AgentRuntime, options: WorkerOptions, stop: asyncio.Event) -> None:
    """One supervised arq worker per pool, until `stop`; then the running jobs get `grace_s` to finish."""
    supervised = [
        SupervisedWorker(lambda pool=pool: build_worker(settings, runtime, pool, options.concurrency), pool)  # type: ignore[misc]
        for pool in options.pools
    ]
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM) if options.handle_signals else ():
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(w.run(stop)) for w in supervised]
    try:
        await stop.wait()
        for w in supervised:
            if w.current is not None:
                w.current.allow_pick_jobs = False
        running = [t for w in supervised for t in w.running_jobs()]
        if running:
            log.info("waiting up to %s s for %d running job(s)", options.grace_s, len(running))
            await asyncio.wait(running, timeout=options.grace_s)
    finally:
        for w in supervised:
            for worker in [*w.retired, *([w.current] if w.current else [])]:
                await _close_worker(worker)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
