"""Event triggers: a URL an outside system posts events to, each accepted event a job (see docs/triggers.md).

A trigger belongs to one workflow (deleted with it). Each event it receives is a `trigger_event` row: the one
that created a job (with the job's id, and the sender's `webhook-id`, unique per trigger among created events, so
that a redelivered event makes no second job), a redelivery answered with that job, or a rejected one with why.
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

TRIGGER_TYPES = ("webhook",)
TRIGGER_AUTHS = ("standard_webhooks", "bearer")
EVENT_OUTCOMES = ("created", "duplicate", "rejected")


class EventTrigger(Base):
    __tablename__ = "event_trigger"
    __table_args__ = (
        sa.CheckConstraint(in_values("type", TRIGGER_TYPES), name="type"),
        sa.CheckConstraint(in_values("auth", TRIGGER_AUTHS), name="auth"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    """Its workflow's workspace (copied, so that a lookup by id alone still knows where it belongs)."""
    workflow_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("workflow.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.Text)
    auth: Mapped[str] = mapped_column(sa.String(24))
    """`standard_webhooks` (a signature with a `whsec_…` secret) or `bearer` (a token)."""
    secrets: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    """Newest first, each `{"value", "created_at", "expires_at"}`: a signing secret encrypted with WFS_SECRET_KEY
    (`{"enc": …}`), or a bearer token's SHA-256. A rotated-out one keeps working until its `expires_at`."""
    version: Mapped[int | None] = mapped_column(sa.Integer)
    """The version its jobs run; null: the current one when the event arrives."""
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONType)
    """Templates from the event to the job: `inputs`, `variables`, `name` (triggers/mapping.py)."""
    pool: Mapped[str] = mapped_column(sa.String(64))
    """The pool its jobs go to."""
    paused: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TriggerEvent(Base):
    __tablename__ = "trigger_event"
    __table_args__ = (
        sa.CheckConstraint(in_values("outcome", EVENT_OUTCOMES), name="outcome"),
        sa.Index(
            "uq_trigger_event_delivery",
            "trigger_id",
            "webhook_id",
            unique=True,
            postgresql_where=sa.text("outcome = 'created'"),
            sqlite_where=sa.text("outcome = 'created'"),
        ),
        sa.Index("ix_trigger_event_trigger_id_id", "trigger_id", "id"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    trigger_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("event_trigger.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[int] = mapped_column(sa.Integer)
    """The HTTP status the sender was answered."""
    webhook_id: Mapped[str | None] = mapped_column(sa.String(255))
    """The sender's `webhook-id` (or, for a bearer trigger, its `Idempotency-Key`), if it sent one."""
    job_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    """The job it created (or, for a redelivery, the one the first delivery created). Not a foreign key: the
    event stays in the trigger's history when its job is deleted."""
    reason: Mapped[str | None] = mapped_column(sa.Text)
    """Why it was rejected (the problem's detail), or what a duplicate repeated."""
    body_bytes: Mapped[int | None] = mapped_column(sa.Integer)
    """The size of the body received (of a rejected event: as far as it was read)."""
    body_excerpt: Mapped[str | None] = mapped_column(sa.Text)
    """The start of a rejected event's body, for telling what was sent (bounded: triggers.events.EXCERPT_CHARS)."""
