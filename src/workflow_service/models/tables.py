"""ORM models. Repositories mostly use their tables through SQLAlchemy Core for speed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow_service.core.db import JSONType, UTCDateTime
from workflow_service.models.base import Base

JOB_STATUSES = ("pending", "claimed", "running", "validating", "uploading", "completed", "failed", "canceled")
STEP_STATUSES = ("running", "completed", "failed", "skipped")
AGENT_STATUSES = ("online", "offline", "stopped")


def _in(col: str, values: tuple[str, ...]) -> str:
    return f"{col} IN ({', '.join(repr(v) for v in values)})"


class Workflow(Base):
    __tablename__ = "workflow"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.Text)
    draft: Mapped[dict[str, Any]] = mapped_column(JSONType)
    current_version: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WorkflowVersion(Base):
    __tablename__ = "workflow_version"
    __table_args__ = (sa.UniqueConstraint("workflow_id", "number", name="uq_workflow_version_number"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    workflow_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("workflow.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(sa.Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Agent(Base):
    __tablename__ = "agent"
    __table_args__ = (sa.CheckConstraint(_in("status", AGENT_STATUSES), name="status"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    pools: Mapped[list[str]] = mapped_column(JSONType)
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Job(Base):
    __tablename__ = "job"
    __table_args__ = (
        sa.CheckConstraint(_in("status", JOB_STATUSES), name="status"),
        sa.Index("ix_job_status_pool", "status", "pool"),
        sa.Index("ix_job_workflow_id_id", "workflow_id", "id"),
        sa.Index(
            "ix_job_lease",
            "lease_expires_at",
            postgresql_where=sa.text("status IN ('claimed', 'running', 'validating', 'uploading')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    workflow_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("workflow.id", ondelete="CASCADE"))
    version_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("workflow_version.id"))
    version_number: Mapped[int] = mapped_column(sa.Integer)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16))
    pool: Mapped[str] = mapped_column(sa.String(64))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONType)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONType)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType)
    output: Mapped[Any | None] = mapped_column(JSONType)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    attempt: Mapped[int] = mapped_column(sa.Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(sa.Integer)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class JobEvent(Base):
    __tablename__ = "job_event"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("job.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(sa.String(16))
    to_status: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(sa.String(100))
    reason: Mapped[str | None] = mapped_column(sa.Text)


class JobStep(Base):
    __tablename__ = "job_step"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "step_id", name="uq_job_step_step"),
        sa.CheckConstraint(_in("status", STEP_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("job.id", ondelete="CASCADE"))
    step_id: Mapped[str] = mapped_column(sa.String(64))
    position: Mapped[int] = mapped_column(sa.Integer)
    type: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))
    input: Mapped[Any | None] = mapped_column(JSONType)
    output: Mapped[Any | None] = mapped_column(JSONType)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    attempt: Mapped[int] = mapped_column(sa.Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
