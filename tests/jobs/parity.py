"""What the parity tests (test_parity.py) drive and read: the service and repository calls a job's life
makes, and the database's stored rows with ids and times made comparable between two runs."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import default_ref
from tests.jobs.conftest import create_jobs, direct_context
from workflow_service.config import Settings
from workflow_service.core.clock import utcnow
from workflow_service.core.db import make_engine, unit_of_work
from workflow_service.engine.executor import StepRecord
from workflow_service.jobs import lifecycle
from workflow_service.jobs import repository as repo
from workflow_service.jobs import service as jobs
from workflow_service.jobs.ends import Ended
from workflow_service.jobs.events.positions import of_status_change
from workflow_service.jobs.reconciler import ReconcileReport, reconcile
from workflow_service.jobs.schemas import JobCreate
from workflow_service.jobs.states import JobStatus
from workflow_service.migrate import upgrade
from workflow_service.models import Delivery
from workflow_service.workflows import repository as workflow_repo

S = JobStatus
delivery_t: sa.Table = Delivery.__table__  # type: ignore[assignment]
MINUTE = timedelta(minutes=1)


async def sqlite_engine(path: Path) -> AsyncIterator[AsyncEngine]:
    """A fresh embedded database (SQLite, migrated like `workflow-service dev` does)."""
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    yield engine
    await engine.dispose()


# --- the calls a job's life makes -----------------------------------------------------------------------


@dataclass
class Run:
    """One run of a scenario on one database. Times are whole minutes from `base` (the start of the run)
    when the scenario chooses them; those the service takes from the clock fall within a few seconds of it."""

    engine: AsyncEngine
    settings: Settings
    base: datetime = field(default_factory=utcnow)
    submitted: int = 0

    def at(self, minutes: float) -> datetime:
        return self.base + minutes * MINUTE

    async def deploy(self, slug: str, definition: dict[str, Any], settings: dict[str, Any] | None = None) -> None:
        await create_jobs(self.engine, definition, count=0, slug=slug)
        if settings:
            async with self.engine.begin() as conn:
                workflow = await workflow_repo.get(conn, default_ref(slug))
                assert workflow is not None
                await workflow_repo.set_settings(conn, workflow.id, settings)

    async def submit(
        self, slug: str, *, mode: str = "async", pool: str = "default", max_attempts: int = 3
    ) -> uuid.UUID:
        """A job with inputs of its own (an identical request would wait for the first's result)."""
        self.submitted += 1
        data = JobCreate(inputs={"topic": f"topic {self.submitted}"}, pool=pool)
        submission = jobs.Submission(workflow=default_ref(slug), version="current", data=data, actor="test", mode=mode)
        settings = self.settings.model_copy(update={"max_attempts": max_attempts})
        async with direct_context(self.engine, settings) as ctx, unit_of_work(self.engine) as uow:
            submitted = await jobs.submit(uow, ctx, submission)
        return submitted.job.id

    async def claim(self, job_id: uuid.UUID, agent: uuid.UUID, at: float, lease_until: float) -> repo.ClaimedRow:
        request = repo.ClaimRequest(
            agent_id=agent,
            actor=f"agent:{agent}",
            pools=("default",),
            now=self.at(at),
            lease_until=self.at(lease_until),
        )
        async with self.engine.begin() as conn:
            claimed = await repo.claim(conn, job_id, request)
        assert claimed is not None
        return claimed

    async def checkpoint(
        self, job_id: uuid.UUID, claimed: tuple[int, uuid.UUID], until: float, records: Sequence[StepRecord]
    ) -> None:
        """What a runner's checkpoint does: extend the lease (fenced), save the records."""
        attempt, agent = claimed
        async with self.engine.begin() as conn:
            assert await repo.extend_lease(conn, job_id, attempt, agent, self.at(until))
            await repo.upsert_steps(conn, job_id, records)

    async def finish(self, job_id: uuid.UUID, mode: str, end: repo.Finish, interrupt: bool = False) -> Ended:
        """The agent's end, through the lifecycle; `interrupt`: the steps still running fail with the error."""
        writes = lifecycle.failing_steps(job_id, end.error or {}, end.at[-1]) if interrupt else None
        fields = {f.name: getattr(end, f.name) for f in dataclasses.fields(end)}
        change = lifecycle.Finish(job_id=job_id, mode=mode, writes=writes, **fields)
        async with direct_context(self.engine, self.settings) as ctx, unit_of_work(self.engine) as uow:
            ended = await lifecycle.finish(uow, ctx.ends, change)
        assert ended is not None
        return ended

    async def cancel(self, job_id: uuid.UUID) -> None:
        async with direct_context(self.engine, self.settings) as ctx, unit_of_work(self.engine) as uow:
            await jobs.cancel(uow, ctx, str(job_id), actor="admin")

    async def reconcile(self) -> ReconcileReport:
        async with direct_context(self.engine, self.settings) as ctx:
            return await reconcile(ctx)


def ending(
    attempt: int, agent: uuid.UUID, path: Sequence[JobStatus], at: Sequence[datetime], **rest: Any
) -> repo.Finish:
    return repo.Finish(attempt=attempt, agent_id=agent, actor=f"agent:{agent}", path=path, at=at, **rest)


COMPLETED = (S.RUNNING, S.VALIDATING, S.UPLOADING, S.COMPLETED)


def record(step_id: str, position: int, when: datetime, **fields: Any) -> StepRecord:
    """A step record as the executor makes it: completed at `when` unless it says otherwise."""
    values: dict[str, Any] = {"type": "transform", "status": "completed", "attempt": 1, "started_at": when}
    values |= fields
    if values["status"] != "running":
        values.setdefault("finished_at", when)
    values.setdefault("input", {"step": step_id})
    values.setdefault("output", {"said": step_id} if values["status"] == "completed" else None)
    return StepRecord(step_id=step_id, position=position, **values)


def model_call(
    step_id: str, position: int, when: datetime, tokens: tuple[int, int], cost: float | None, **fields: Any
) -> StepRecord:
    """A step record of a model call that reported `tokens` (input, output) and was priced at `cost`."""
    detail = {"request": {"body": {"model": "gpt-test"}}, "response": {"id": f"chatcmpl-{step_id}"}}
    fields.setdefault("detail", detail)
    fields |= {"input_tokens": tokens[0], "output_tokens": tokens[1], "cost": cost, "latency_ms": 12.5}
    return record(step_id, position, when, type="llm", model="openai/gpt-test-0613", **fields)


# --- what the database stores, comparable between two runs ---------------------------------------------

_UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])"
)
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z)?$")


class Normalizer:
    """Ids become `id0`, `id1`, ... in the order first met; times become whole minutes from the run's base
    (`+0m` for those the service took from the clock); ids and times inside strings and JSON too."""

    def __init__(self, base: datetime) -> None:
        self.base = base
        self.ids: dict[str, str] = {}

    def _id(self, value: str) -> str:
        return self.ids.setdefault(value.replace("-", ""), f"id{len(self.ids)}")

    def _time(self, value: datetime) -> str:
        return f"{round((value - self.base) / MINUTE):+d}m"

    def __call__(self, value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return self._id(value.hex)
        if isinstance(value, datetime):
            return self._time(value)
        if isinstance(value, dict):
            return {self(k): self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        if isinstance(value, str):
            if _ISO.match(value):
                return self._time(datetime.fromisoformat(value.replace("Z", "+00:00")))
            return _UUID.sub(lambda m: self._id(m.group(0).replace("-", "")), value)
        return value


VOLATILE = {"id"}
"""Columns that differ between two runs by design, left out: the event's and step's serial ids."""
PLACES = {"start_seq", "end_seq"}
"""Where a step's start and end sit among its job's events: numbers each database takes its own way (from
the serial ids), compared by the order of events they give (`order`)."""


async def stored(run: Run) -> dict[str, Any]:
    """Every job's row, events, step records and deliveries, normalized; jobs in the order they were made."""
    normalize = Normalizer(run.base)
    async with run.engine.connect() as conn:
        jobs_ = sorted((await conn.execute(sa.select(repo.job_t))).all(), key=lambda r: r.id)
        result = []
        for job in jobs_:
            events = (
                await conn.execute(
                    sa.select(repo.event_t).where(repo.event_t.c.job_id == job.id).order_by(repo.event_t.c.id)
                )
            ).all()
            steps = (
                await conn.execute(
                    sa.select(repo.step_t).where(repo.step_t.c.job_id == job.id).order_by(repo.step_t.c.position)
                )
            ).all()
            deliveries = await conn.execute(sa.select(delivery_t).where(delivery_t.c.job_id == job.id))
            result.append(
                {
                    "job": _row(job),
                    "events": [_row(e, VOLATILE) for e in events],
                    "steps": [_row(s, VOLATILE | PLACES) for s in steps],
                    "order": _order(events, steps),
                    "deliveries": [_row(d) for d in deliveries],
                }
            )
    return {"jobs": normalize(result)}


def _order(events: Sequence[Any], steps: Sequence[Any]) -> list[str]:
    """The job's events in the order of their places, as its event stream sends them."""
    placed = [(of_status_change(e.id), f"status {e.to_status}") for e in events]
    placed += [(s.start_seq, f"started {s.step_id}") for s in steps if s.start_seq is not None]
    placed += [(s.end_seq, f"ended {s.step_id}") for s in steps if s.end_seq is not None]
    return [label for _, label in sorted(placed)]


def _row(row: Any, leave_out: Collection[str] = ()) -> dict[str, Any]:
    return {k: v for k, v in row._mapping.items() if k not in leave_out}


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Where two stored snapshots differ (an empty list when they are the same), for a readable failure."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = [f"{where}.{k}: only in {'the first' if k in a else 'the second'}" for k in sorted(a.keys() ^ b.keys())]
        return found + [d for k in sorted(a.keys() & b.keys()) for d in differences(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]
