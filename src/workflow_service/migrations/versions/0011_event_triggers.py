"""event triggers: webhook URLs whose accepted events become jobs, and the events each received

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from workflow_service.core.db import JSONType, UTCDateTime

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_trigger",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("workflow_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("auth", sa.String(24), nullable=False),
        sa.Column("secrets", JSONType, nullable=False),
        sa.Column("version", sa.Integer()),
        sa.Column("mapping", JSONType, nullable=False),
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("type IN ('webhook')", name=op.f("ck_event_trigger_type")),
        sa.CheckConstraint("auth IN ('standard_webhooks', 'bearer')", name=op.f("ck_event_trigger_auth")),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflow.id"], name=op.f("fk_event_trigger_workflow_id_workflow"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_trigger")),
    )
    op.create_index(op.f("ix_event_trigger_workflow_id"), "event_trigger", ["workflow_id"])
    op.create_table(
        "trigger_event",
        sa.Column("id", _BIG, autoincrement=True, nullable=False),
        sa.Column("trigger_id", sa.Uuid(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("webhook_id", sa.String(255)),
        sa.Column("job_id", sa.Uuid()),
        sa.Column("reason", sa.Text()),
        sa.Column("body_bytes", sa.Integer()),
        sa.Column("body_excerpt", sa.Text()),
        sa.CheckConstraint("outcome IN ('created', 'duplicate', 'rejected')", name=op.f("ck_trigger_event_outcome")),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["event_trigger.id"],
            name=op.f("fk_trigger_event_trigger_id_event_trigger"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_event")),
    )
    op.create_index("ix_trigger_event_trigger_id_id", "trigger_event", ["trigger_id", "id"])
    op.create_index(
        "uq_trigger_event_delivery",
        "trigger_event",
        ["trigger_id", "webhook_id"],
        unique=True,
        postgresql_where=sa.text("outcome = 'created'"),
        sqlite_where=sa.text("outcome = 'created'"),
    )


def downgrade() -> None:
    op.drop_table("trigger_event")
    op.drop_table("event_trigger")
