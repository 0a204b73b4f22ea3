"""How a schedule reads: its row, its frequency in words, its next run in UTC and in its zone, its latest fires."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from workflow_service.schedules.schemas import FireRead, ScheduleRead
from workflow_service.schedules.timing import zone_of
from workflow_service.schedules.words import frequency
from workflow_service.workflows.schemas import WorkflowRef

RECENT = 20
"""How many of its latest fires a schedule shows."""


def iso(at: datetime) -> str:
    """An instant as reasons and descriptions write it: UTC, to the second (`2027-03-28T01:30:00Z`)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fire_read(row: Any) -> FireRead:
    return FireRead(
        scheduled_at=row.scheduled_at,
        outcome=row.outcome,
        job_id=row.job_id,
        job_status=row.job_status,
        reason=row.reason,
        at=row.at,
        backfill=row.backfill,
    )


def next_run(row: Any) -> datetime | None:
    """When it runs next: null while paused."""
    return None if row.paused else row.next_run_at


def schedule_read(row: Any, workflow: WorkflowRef, fires: Sequence[Any]) -> ScheduleRead:
    """The ScheduleRead of a schedule row of `workflow`, with its latest fires (repository.recent)."""
    upcoming = next_run(row)
    return ScheduleRead(
        id=row.id,
        workflow=workflow,
        name=row.name,
        description=row.description,
        cron=row.cron,
        interval_s=row.interval_s,
        timezone=row.timezone,
        frequency=frequency(row.cron, row.interval_s, row.timezone),
        start_at=row.start_at,
        end_at=row.end_at,
        version="current" if row.version is None else row.version,
        inputs=row.inputs,
        variables=row.variables,
        overlap=row.overlap,
        pause_after_failure=row.pause_after_failure,
        catchup_s=row.catchup_s,
        paused=row.paused,
        paused_at=row.paused_at,
        paused_reason=row.paused_reason,
        next_run_at=upcoming,
        next_run_local=None if upcoming is None else upcoming.astimezone(zone_of(row.timezone)),
        last_run_at=row.last_run_at,
        last_job_id=row.last_job_id,
        buffered_at=row.buffered_at,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        recent=[fire_read(fire) for fire in fires],
    )
