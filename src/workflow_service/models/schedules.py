"""Schedules: a workflow run at the times a cron expression or an interval gives, and the record of each time.

See docs/schedules.md. A scheduled time becomes a job through its `schedule_fire` row, whose key (schedule,
scheduled time) is unique: whichever process inserts it makes the job, in the same transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow_service.core.db import JSONType, UTCDateTime
from workflow_service.models.base import Base
from workflow_service.models.tables import in_values

OVERLAP_POLICIES = ("skip", "buffer_one", "allow_all", "cancel_other")
FIRE_OUTCOMES = ("created", "skipped", "buffered")


class Schedule(Base):
    __tablename__ = "schedule"
    __table_args__ = (
        sa.CheckConstraint(in_values("overlap", OVERLAP_POLICIES), name="overlap"),
        sa.CheckConstraint("(cron IS NULL) <> (interval_s IS NULL)", name="cron_or_interval"),
        # The due query of every reconciler pass: only schedules that run, by their next time.
        sa.Index(
            "ix_schedule_due",
            "next_run_at",
            postgresql_where=sa.text("NOT paused"),
            sqlite_where=sa.text("NOT paused"),
        ),
        sa.Index(
            "ix_schedule_buffered",
            "buffered_at",
            postgresql_where=sa.text("buffered_at IS NOT NULL"),
            sqlite_where=sa.text("buffered_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    """Its workflow's workspace (copied, like a job's)."""
    workflow_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("workflow.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.Text)
    cron: Mapped[str | None] = mapped_column(sa.String(200))
    """A five-field cron expression (or @daily and the like), read in `timezone`; null for an interval."""
    interval_s: Mapped[int | None] = mapped_column(sa.Integer)
    """Seconds between two runs, from `start_at` (else from its creation); null for a cron expression."""
    timezone: Mapped[str] = mapped_column(sa.String(64))
    """IANA name: the zone its cron expression is read in."""
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int | None] = mapped_column(sa.Integer)
    """The version its jobs run; null: the workflow's current version at each run."""
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONType)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONType)
    overlap: Mapped[str] = mapped_column(sa.String(16))
    pause_after_failure: Mapped[bool] = mapped_column(sa.Boolean)
    catchup_s: Mapped[int | None] = mapped_column(sa.Integer)
    """How late a time missed while no process ran may still run; null: WFS_SCHEDULE_CATCHUP_S."""
    paused: Mapped[bool] = mapped_column(sa.Boolean)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_reason: Mapped[str | None] = mapped_column(sa.Text)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Its earliest time not yet handled (null: it has no more times)."""
    buffered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """The time waiting for its previous job to end (overlap `buffer_one`)."""
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """The scheduled time of the last job it made on its own (backfills aside)."""
    last_job_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("job.id", ondelete="SET NULL"))
    """That job: the one a new time's overlap is judged against."""
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ScheduleFire(Base):
    """What became of one scheduled time: a job created, skipped (and why), or buffered behind a running job."""

    __tablename__ = "schedule_fire"
    __table_args__ = (
        sa.UniqueConstraint("schedule_id", "scheduled_at", name="uq_schedule_fire_time"),
        sa.CheckConstraint(in_values("outcome", FIRE_OUTCOMES), name="outcome"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    schedule_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("schedule.id", ondelete="CASCADE"))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(sa.String(16))
    job_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("job.id", ondelete="SET NULL"), index=True)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    """When the outcome was recorded (later than `scheduled_at` for a time run late)."""
    backfill: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
