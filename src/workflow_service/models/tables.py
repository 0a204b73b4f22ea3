"""ORM models. Repositories mostly use their tables through SQLAlchemy Core for speed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from workflow_service.core.db import JSONType, UTCDateTime
from workflow_service.models.base import Base

JOB_STATUSES = ("new", "pending", "claimed", "running", "validating", "uploading", "completed", "failed", "canceled")
STEP_STATUSES = ("running", "completed", "failed", "skipped")
AGENT_STATUSES = ("online", "offline", "stopped")
JOB_MODES = ("async", "sync", "push")
DELIVERY_STATUSES = ("pending", "succeeded", "failed")


def in_values(col: str, values: tuple[str, ...]) -> str:
    return f"{col} IN ({', '.join(repr(v) for v in values)})"


class Workflow(Base):
    __tablename__ = "workflow"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "slug", name="uq_workflow_workspace_slug"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("workspace.id"))
    slug: Mapped[str] = mapped_column(sa.String(64))
    """Unique within its workspace."""
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.Text)
    draft: Mapped[dict[str, Any]] = mapped_column(JSONType)
    current_version: Mapped[int | None] = mapped_column(sa.Integer)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict, server_default="{}")
    """Endpoint settings (sync timeout, queue timeout, push configuration); see workflows/settings.py."""
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
    __table_args__ = (sa.CheckConstraint(in_values("status", AGENT_STATUSES), name="status"),)

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
        sa.CheckConstraint(in_values("status", JOB_STATUSES), name="status"),
        sa.CheckConstraint(in_values("mode", JOB_MODES), name="mode"),
        sa.Index("ix_job_status_pool", "status", "pool"),
        sa.Index(
            "uq_job_idempotency",
            "workflow_id",
            "caller",
            "idempotency_key",
            unique=True,
            postgresql_where=sa.text("idempotency_key IS NOT NULL"),
            sqlite_where=sa.text("idempotency_key IS NOT NULL"),
        ),
        sa.Index("ix_job_workflow_id_id", "workflow_id", "id"),
        sa.Index("ix_job_workspace_id_id", "workspace_id", "id"),
        sa.Index("ix_job_caller_id", "caller", "id"),
        sa.Index(
            "ix_job_workflow_completed",
            "workflow_id",
            "finished_at",
            postgresql_where=sa.text("status = 'completed'"),
            sqlite_where=sa.text("status = 'completed'"),
        ),
        sa.Index(
            "ix_job_lease",
            "lease_expires_at",
            postgresql_where=sa.text("status IN ('claimed', 'running', 'validating', 'uploading')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    """Its workflow's workspace (copied, so that listings and access checks need no join)."""
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
    mode: Mapped[str] = mapped_column(sa.String(8), server_default="async")
    origin: Mapped[str] = mapped_column(sa.String(16), server_default="api")
    """Where it came from: `api`, `rerun`, `run_from_step`, `duplicate`, `child`, `schedule` or `trigger`
    (jobs/intake.Origin)."""
    caller: Mapped[str] = mapped_column(sa.String(64), server_default="admin")
    """Who created it: `admin` (the operator), `user:<id>`, `key:<api key id>`, `schedule:<id>` or
    `trigger:<id>`; only its creator sees its inputs (docs/people.md)."""
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(255))
    request_hash: Mapped[str | None] = mapped_column(sa.String(64))
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Absolute limit from the push timeout; the job fails with `push_timeout` past it."""
    queue_deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """A job still pending past this fails with `queue_timeout`."""
    source_job_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    """The job this one was made from (rerun, run-from-step, duplicate, cache hit)."""
    source_kind: Mapped[str | None] = mapped_column(sa.String(16))
    """`rerun`, `run_from_step`, `duplicate` or `cache`."""
    from_step: Mapped[str | None] = mapped_column(sa.String(64))
    parent_job_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    """For a sub-workflow's job: the job whose `workflow` step started it."""
    parent_step: Mapped[str | None] = mapped_column(sa.String(64))
    cache_key: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    cache_hit: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    input_tokens: Mapped[int | None] = mapped_column(sa.Integer)
    output_tokens: Mapped[int | None] = mapped_column(sa.Integer)
    cost: Mapped[float | None] = mapped_column(sa.Float)
    """Credits spent by the job's model calls, from the pricing table."""
    attempt: Mapped[int] = mapped_column(sa.Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(sa.Integer)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    run_deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Set at the first claim: the first start plus the definition's timeout, or the push deadline if
    sooner. The reconciler fails a job still held past it, whoever keeps its lease alive."""
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trace_context: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    """The submission's OpenTelemetry context (W3C `traceparent`, ...) when tracing is on: the job's run is
    traced as its child, across the queue (observability/tracing.py)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """When the job last changed: its last status change (the time of its newest job_event), or a change of its
    name or variables (PATCH), whichever came last. Set by every write that makes one."""
    notify_url: Mapped[str | None] = mapped_column(sa.Text)
    """The job's own notification URL: a signed delivery is sent there when it ends (deliveries/)."""


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
        sa.CheckConstraint(in_values("status", STEP_STATUSES), name="status"),
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
    model: Mapped[str | None] = mapped_column(sa.String(200))
    """For model calls: `provider/name` of the model that answered."""
    input_tokens: Mapped[int | None] = mapped_column(sa.Integer)
    output_tokens: Mapped[int | None] = mapped_column(sa.Integer)
    latency_ms: Mapped[float | None] = mapped_column(sa.Float)
    cost: Mapped[float | None] = mapped_column(sa.Float)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """For model calls: the exact request sent and the raw response received (secrets redacted)."""
    start_seq: Mapped[int | None] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    """Where the step's start sits among the job's events (see jobs/events): null for a step that never
    started (skipped) and for one copied from another job."""
    end_seq: Mapped[int | None] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"))
    """Where the step's end sits among the job's events: null while it runs, and for a copied step."""


class Delivery(Base):
    """A notice of one ended job (the workflow's push callback, or the job's own notification URL): one webhook
    message, sent until it succeeds or runs out."""

    __tablename__ = "delivery"
    __table_args__ = (
        sa.CheckConstraint(in_values("status", DELIVERY_STATUSES), name="status"),
        sa.Index("ix_delivery_due", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("job.id", ondelete="CASCADE"), index=True)
    workflow_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("workflow.id", ondelete="CASCADE"))
    webhook_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    url: Mapped[str | None] = mapped_column(sa.Text)
    """Where it goes: the job's own notification URL; null: the workflow's push callback URL (its settings)."""
    event_type: Mapped[str] = mapped_column(sa.String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempt"

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("delivery.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(sa.Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    url: Mapped[str] = mapped_column(sa.Text)
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    response_snippet: Mapped[str | None] = mapped_column(sa.Text)
    error: Mapped[str | None] = mapped_column(sa.Text)
    duration_ms: Mapped[float] = mapped_column(sa.Float)
    trigger: Mapped[str] = mapped_column(sa.String(16))
    """`schedule` or `redeliver`."""


class ApiKey(Base):
    """A key that may call one workflow's endpoints; only its hash is stored."""

    __tablename__ = "api_key"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    workflow_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("workflow.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    prefix: Mapped[str] = mapped_column(sa.String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(sa.String(64))
    """The actor that issued it (`admin`, `user:<id>`); null for keys issued before people existed."""


class WorkflowEnv(Base):
    """A workflow's environment variable, read in templates as `env.NAME`. Secure values are encrypted."""

    __tablename__ = "workflow_env"
    __table_args__ = (sa.UniqueConstraint("workflow_id", "name", name="uq_workflow_env_name"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    workflow_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("workflow.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(128))
    value: Mapped[str] = mapped_column(sa.Text)
    """The value, or for a secure variable its Fernet token."""
    secure: Mapped[bool] = mapped_column(sa.Boolean)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
