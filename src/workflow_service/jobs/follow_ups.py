"""What happens when a job ends, whoever ended it (see jobs/lifecycle.py). Add a follow-up in `built_ins`."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.core.clock import utcnow
from workflow_service.core.db import unit_of_work
from workflow_service.deliveries import service as deliveries
from workflow_service.jobs import cache
from workflow_service.jobs import service as jobs
from workflow_service.jobs.ends import NOTIFIED, EndContext, Ended, Registry
from workflow_service.jobs.states import JobStatus
from workflow_service.jobs.views import EVERYTHING
from workflow_service.observability.gauges import SLUGS
from workflow_service.observability.metrics import instruments
from workflow_service.schedules import pausing as schedules

log = logging.getLogger(__name__)


async def create_push_delivery(conn: AsyncConnection, ended: Ended) -> None:
    """A push job's callback, queued in the transaction that ended the job: the job as its creator reads it."""
    if ended.mode == "push":
        job = await jobs.get(conn, str(ended.job_id), viewer=EVERYTHING)
        await deliveries.create(conn, job.model_dump(mode="json"))


async def create_notify_delivery(conn: AsyncConnection, ended: Ended) -> None:
    """A job's own completion notice (jobs/notices.py), queued in the transaction that ended the job: the job as
    its creator reads it, to the URL it was submitted with."""
    if ended.notify_url is not None:
        job = await jobs.get(conn, str(ended.job_id), viewer=EVERYTHING)
        await deliveries.create(conn, job.model_dump(mode="json"), url=ended.notify_url)


async def announce(ended: Ended, ends: EndContext) -> None:
    """Tell the waiters on the job: sync requests, and the parent job of a child job (its `workflow` step
    waits for the child's end, see jobs/children.py). A lost notice costs latency only: they also poll."""
    if ends.notifier is not None:
        await ends.notifier.job_ended(ended.job_id)


async def announce_change(ended: Ended, ends: EndContext) -> None:
    """Tell the job's followers (event streams, long polls) it is pending again: started, or retried."""
    if ends.notifier is not None:
        ends.notifier.job_changed(ended.job_id)


async def complete_cache_followers(ended: Ended, ends: EndContext) -> None:
    """Complete the identical jobs that waited for this one (jobs/cache.py), from its result. Best effort:
    one left pending is completed by the gate when the reconciler hands it to a worker again."""
    if ended.cache_key is None or ended.cache_hit:
        return
    try:
        async with unit_of_work(ends.engine) as uow:
            for follower in await cache.pending_followers(uow.conn, ended.job_id):
                await cache.complete_from(uow, ends, follower, ended.job_id)
    except Exception:  # the job itself has ended: never let this undo that
        log.warning("job %s: could not complete the jobs waiting for its result", ended.job_id, exc_info=True)


async def count_end(ended: Ended, ends: EndContext) -> None:
    """The end in the metrics (observability/metrics.py), once it is durable: the job ended, by workflow,
    status and origin, with its duration from submission to end and, when it started, its wait in the queue."""
    if ended.workflow_id is None or ended.created_at is None:  # not an end made by lifecycle (a test's)
        return
    slug = await SLUGS.of(ends.engine, ended.workflow_id)
    status, created_at = ended.status.value, ended.created_at
    metrics = instruments()
    metrics.jobs_ended.labels(slug, status, ended.origin).inc()
    finished_at = ended.finished_at or utcnow()
    metrics.job_duration.labels(slug, status).observe(max(0.0, (finished_at - created_at).total_seconds()))
    if ended.started_at is not None:
        metrics.job_queue_wait.labels(slug).observe(max(0.0, (ended.started_at - created_at).total_seconds()))


def built_ins() -> Registry:
    """The built-in follow-ups, in the order they run."""
    registry = Registry()
    registry.register("push_delivery", in_transaction=create_push_delivery, modes=("push",))
    registry.register("notify_delivery", in_transaction=create_notify_delivery, modes=(NOTIFIED,))
    registry.register("ended_notice", after_commit=announce)
    registry.register("changed_notice", after_commit=announce_change, statuses=(JobStatus.PENDING,))
    registry.register("cache_followers", after_commit=complete_cache_followers, statuses=(JobStatus.COMPLETED,))
    registry.register("metrics", after_commit=count_end)
    registry.register("schedule_pause", after_commit=schedules.pause_after_failure, statuses=(JobStatus.FAILED,))
    return registry


FOLLOW_UPS = built_ins()
"""The process's follow-ups: the registry every EndContext of the process holds (startup.assemble), so
that one registration (a worker's `wake_deliveries`, a test's counter) applies to every end the process
makes, whichever Context made it."""
