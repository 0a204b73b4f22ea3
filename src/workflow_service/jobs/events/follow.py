"""Waiting for news of a job without holding a database connection: woken by a notice (core/notify.py),
else after `poll_s`, when the database is read again (a lost notice costs latency only); or cut short
when the process shuts down, so that its connections can close (a stream's client resumes elsewhere)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.config import FollowSection
from workflow_service.core.notify import Notifier
from workflow_service.jobs import repository as repo
from workflow_service.jobs.states import JobStatus, is_terminal


@dataclass(frozen=True, slots=True)
class Following:
    """What following a job needs: the database, the notifier, the timers, and the process's shutdown."""

    engine: AsyncEngine
    notifier: Notifier
    timers: FollowSection
    closing: asyncio.Event
    """Set when the process begins to shut down: waits end at once."""

    async def woken(self, notice: asyncio.Event, within_s: float) -> None:
        """Return when `notice` or `closing` is set, or after `within_s` seconds."""
        waits = [asyncio.ensure_future(notice.wait()), asyncio.ensure_future(self.closing.wait())]
        try:
            await asyncio.wait(waits, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    async def status(self, job_id: uuid.UUID) -> JobStatus | None:
        async with self.engine.connect() as conn:
            status = await repo.status_of(conn, job_id)
        return JobStatus(status) if status is not None else None

    async def wait_for_change(self, job_id: uuid.UUID, wait_s: float) -> None:
        """Return once the job's status differs from the one it has now or it has ended, or after `wait_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        async with self.notifier.follow(job_id) as notice:
            status = await self.status(job_id)
            while status is not None and not is_terminal(status) and not self.closing.is_set():
                left = deadline - loop.time()
                if left <= 0:
                    return
                await self.woken(notice, min(left, self.timers.poll_s))
                notice.clear()
                if await self.status(job_id) != status:
                    return
