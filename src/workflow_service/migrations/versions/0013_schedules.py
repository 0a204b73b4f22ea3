"""schedules and the record of each scheduled time (schedule_fire, unique per schedule and time)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 20:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from workflow_service.core.db import JSONType, UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "schedule",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("workflow_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text()),
        sa.Column("cron", sa.String(200)),
        sa.Column("interval_s", sa.Integer()),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("start_at", UTCDateTime()),
        sa.Column("end_at", UTCDateTime()),
        sa.Column("version", sa.Integer()),
        sa.Column("inputs", JSONType, nullable=False),
        sa.Column("variables", JSONType, nullable=False),
        sa.Column("overlap", sa.String(16), nullable=False),
        sa.Column("pause_after_failure", sa.Boolean(), nullable=False),
        sa.Column("catchup_s", sa.Integer()),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_at", UTCDateTime()),
        sa.Column("paused_reason", sa.Text()),
        sa.Column("next_run_at", UTCDateTime()),
        sa.Column("buffered_at", UTCDateTime()),
        sa.Column("last_run_at", UTCDateTime()),
        sa.Column("last_job_id", sa.Uuid()),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "overlap IN ('skip', 'buffer_one', 'allow_all', 'cancel_other')", name=op.f("ck_schedule_overlap")
        ),
        sa.CheckConstraint("(cron IS NULL) <> (interval_s IS NULL)", name=op.f("ck_schedule_cron_or_interval")),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflow.id"], name=op.f("fk_schedule_workflow_id_workflow"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["last_job_id"], ["job.id"], name=op.f("fk_schedule_last_job_id_job"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule")),
    )
    op.create_index(op.f("ix_schedule_workflow_id"), "schedule", ["workflow_id"])
    op.create_index(
        "ix_schedule_due",
        "schedule",
        ["next_run_at"],
        postgresql_where=sa.text("NOT paused"),
        sqlite_where=sa.text("NOT paused"),
    )
    op.create_index(
        "ix_schedule_buffered",
        "schedule",
        ["buffered_at"],
        postgresql_where=sa.text("buffered_at IS NOT NULL"),
        sqlite_where=sa.text("buffered_at IS NOT NULL"),
    )
    op.create_table(
        "schedule_fire",
        sa.Column("id", _BIG, autoincrement=True, nullable=False),
        sa.Column("schedule_id", sa.Uuid(), nullable=False),
        sa.Column("scheduled_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("job_id", sa.Uuid()),
        sa.Column("reason", sa.Text()),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("backfill", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.CheckConstraint("outcome IN ('created', 'skipped', 'buffered')", name=op.f("ck_schedule_fire_outcome")),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedule.id"], name=op.f("fk_schedule_fire_schedule_id_schedule"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name=op.f("fk_schedule_fire_job_id_job"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_fire")),
        sa.UniqueConstraint("schedule_id", "scheduled_at", name=op.f("uq_schedule_fire_time")),
    )
    op.create_index(op.f("ix_schedule_fire_job_id"), "schedule_fire", ["job_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_schedule_fire_job_id"), table_name="schedule_fire")
    op.drop_table("schedule_fire")
    op.drop_index("ix_schedule_buffered", table_name="schedule")
    op.drop_index("ix_schedule_due", table_name="schedule")
    op.drop_index(op.f("ix_schedule_workflow_id"), table_name="schedule")
    op.drop_table("schedule")
