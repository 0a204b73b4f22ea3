"""What a scrape reads of the database: the unfinished jobs by status and pool, and the agents (workers) with
their last heartbeats. Read at most once per WFS_METRICS_CACHE_S however many scrapes come (concurrent ones
wait for the same read), so a scrape storm is not a database storm; figures for the whole deployment, the
same from whichever process serves them.

Also the workflow slugs the job metrics are labelled with, looked up once per workflow and process."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.agents.repository import ONLINE
from workflow_service.jobs.states import TERMINAL, JobStatus
from workflow_service.observability import repository

UNFINISHED = tuple(s.value for s in JobStatus if s not in TERMINAL)


@dataclass(frozen=True, slots=True)
class Snapshot:
    jobs: dict[tuple[str, str], int]
    agents: dict[str, int]
    heartbeats: dict[str, float]
    """The online agents' last heartbeats (Unix seconds), by agent name."""
    read_at: float


class DatabaseGauges(Collector):
    """The database's figures as Prometheus gauges: `await refresh()` before collecting."""

    def __init__(self, engine: AsyncEngine, max_age_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine, self.max_age_s, self.clock = engine, max_age_s, clock
        self.snapshot: Snapshot | None = None
        self.reads = 0
        self._reading: asyncio.Lock | None = None

    async def refresh(self) -> Snapshot:
        """The figures, read again when the last read is older than `max_age_s`."""
        if self._fresh():
            assert self.snapshot is not None
            return self.snapshot
        if self._reading is None:
            self._reading = asyncio.Lock()
        async with self._reading:
            if not self._fresh():  # not read by the scrape this one waited for
                self.snapshot = await self._read()
        assert self.snapshot is not None
        return self.snapshot

    def _fresh(self) -> bool:
        return self.snapshot is not None and self.clock() - self.snapshot.read_at < self.max_age_s

    async def _read(self) -> Snapshot:
        async with self.engine.connect() as conn:
            jobs = await repository.jobs_by_status(conn, UNFINISHED)
            agents, online = await repository.agents(conn, ONLINE)
        self.reads += 1
        beats = {a.name: a.last_heartbeat_at.timestamp() for a in online}
        return Snapshot(jobs, agents, beats, self.clock())

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot
        if snapshot is None:
            return
        jobs = GaugeMetricFamily(
            "wfs_jobs", "Unfinished jobs, by status and pool (from the database).", labels=["status", "pool"]
        )
        for (status, pool), n in sorted(snapshot.jobs.items()):
            jobs.add_metric([status, pool], n)
        yield jobs
        agents = GaugeMetricFamily("wfs_agents", "Workers (agents), by status (from the database).", labels=["status"])
        for status, n in sorted(snapshot.agents.items()):
            agents.add_metric([status], n)
        yield agents
        beats = GaugeMetricFamily(
            "wfs_agent_last_heartbeat_timestamp_seconds",
            "When each online agent last extended its leases (Unix time).",
            labels=["agent"],
        )
        for name, at in sorted(snapshot.heartbeats.items()):
            beats.add_metric([name], at)
        yield beats


@dataclass(slots=True)
class Slugs:
    """Workflow slugs by id: what the job metrics are labelled with. Learnt from submissions for free, else
    read once per workflow (a workflow deleted meanwhile is labelled by its id)."""

    known: dict[uuid.UUID, str] = field(default_factory=dict)
    max_size: int = 10_000

    def learn(self, workflow_id: uuid.UUID, slug: str) -> None:
        if len(self.known) >= self.max_size:
            self.known.clear()
        self.known[workflow_id] = slug

    async def of(self, engine: AsyncEngine, workflow_id: uuid.UUID) -> str:
        slug = self.known.get(workflow_id)
        if slug is None:
            async with engine.connect() as conn:
                found = await repository.workflow_slugs(conn, [workflow_id])
            slug = found.get(workflow_id, str(workflow_id))
            self.learn(workflow_id, slug)
        return slug


SLUGS = Slugs()
"""The process's slugs (a workflow's slug is the same whichever Context ends its jobs)."""
