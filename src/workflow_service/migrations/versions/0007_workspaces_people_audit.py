"""workspaces, users, memberships, personal tokens, workflow sharing, the audit log; existing data moves into
the default workspace

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 15:30:00.000000
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from workflow_service.core.db import JSONType, UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_WORKSPACE_ID = uuid.UUID("00000000-0000-0000-0000-000000000001")
_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id() -> sa.Column[object]:
    return sa.Column("id", sa.Uuid(), nullable=False)


def _people() -> None:
    op.create_table(
        "workspace",
        _id(),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("retention_days", sa.Integer()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspace")),
        sa.UniqueConstraint("slug", name=op.f("uq_workspace_slug")),
    )
    op.create_table(
        "app_user",
        _id(),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(255)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("email", name=op.f("uq_app_user_email")),
        sa.UniqueConstraint("subject", name=op.f("uq_app_user_subject")),
    )
    op.create_table(
        "membership",
        _id(),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("role IN ('owner', 'admin', 'member')", name=op.f("ck_membership_role")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"], name=op.f("fk_membership_workspace_id_workspace"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_membership_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership")),
        sa.UniqueConstraint("workspace_id", "user_id", name=op.f("uq_membership_user")),
    )
    op.create_index(op.f("ix_membership_user_id"), "membership", ["user_id"])
    op.create_table(
        "personal_token",
        _id(),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime()),
        sa.Column("last_used_at", UTCDateTime()),
        sa.Column("revoked_at", UTCDateTime()),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_personal_token_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_personal_token_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_token")),
        sa.UniqueConstraint("prefix", name=op.f("uq_personal_token_prefix")),
    )
    op.create_index(op.f("ix_personal_token_user_id"), "personal_token", ["user_id"])
    op.create_table(
        "workflow_member",
        _id(),
        sa.Column("workflow_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("role IN ('owner', 'editor', 'runner', 'viewer')", name=op.f("ck_workflow_member_role")),
        sa.ForeignKeyConstraint(
            ["workflow_id"], ["workflow.id"], name=op.f("fk_workflow_member_workflow_id_workflow"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_workflow_member_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_member")),
        sa.UniqueConstraint("workflow_id", "user_id", name=op.f("uq_workflow_member_user")),
    )
    op.create_index(op.f("ix_workflow_member_user_id"), "workflow_member", ["user_id"])


def _audit() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("id", _BIG, autoincrement=True, nullable=False),
        sa.Column("chain", sa.String(64), nullable=False),
        sa.Column("seq", _BIG, nullable=False),
        sa.Column("workspace_id", sa.Uuid()),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("actor_name", sa.String(320), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(100)),
        sa.Column("target_name", sa.String(320)),
        sa.Column("workflow_id", sa.Uuid()),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(100)),
        sa.Column("client_address", sa.String(100)),
        sa.Column("changes", JSONType),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
        sa.UniqueConstraint("chain", "seq", name=op.f("uq_audit_entry_seq")),
    )
    op.create_index("ix_audit_entry_workflow", "audit_entry", ["workflow_id", "id"])
    op.create_table(
        "audit_head",
        sa.Column("chain", sa.String(64), nullable=False),
        sa.Column("seq", _BIG, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_head")),
    )


def upgrade() -> None:
    _people()
    _audit()
    workspace = sa.table(
        "workspace",
        sa.column("id", sa.Uuid()),
        sa.column("slug", sa.String()),
        sa.column("name", sa.String()),
        sa.column("created_at", UTCDateTime()),
    )
    op.bulk_insert(
        workspace,
        [{"id": DEFAULT_WORKSPACE_ID, "slug": "default", "name": "Default", "created_at": datetime.now(UTC)}],
    )
    # Existing workflows and jobs move into the default workspace: the column is added with it as the
    # server default, which fills every existing row, and the default is then dropped.
    # SQLite stores a Uuid as 32 hex digits, PostgreSQL as its own type (from the dashed form).
    sqlite = op.get_bind().dialect.name == "sqlite"
    default = sa.text(f"'{DEFAULT_WORKSPACE_ID.hex if sqlite else DEFAULT_WORKSPACE_ID}'")
    with op.batch_alter_table("workflow") as batch:
        batch.add_column(sa.Column("workspace_id", sa.Uuid(), nullable=False, server_default=default))
        batch.drop_constraint("uq_workflow_slug", type_="unique")
        batch.create_unique_constraint("uq_workflow_workspace_slug", ["workspace_id", "slug"])
        batch.create_foreign_key("fk_workflow_workspace_id_workspace", "workspace", ["workspace_id"], ["id"])
    with op.batch_alter_table("workflow") as batch:
        batch.alter_column("workspace_id", server_default=None)
    with op.batch_alter_table("job") as batch:
        batch.add_column(sa.Column("workspace_id", sa.Uuid(), nullable=False, server_default=default))
    with op.batch_alter_table("job") as batch:
        batch.alter_column("workspace_id", server_default=None)
    op.create_index("ix_job_workspace_id_id", "job", ["workspace_id", "id"])
    op.create_index("ix_job_caller_id", "job", ["caller", "id"])
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("expires_at", UTCDateTime()))
        batch.add_column(sa.Column("created_by", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("api_key") as batch:
        batch.drop_column("created_by")
        batch.drop_column("expires_at")
    op.drop_index("ix_job_caller_id", table_name="job")
    op.drop_index("ix_job_workspace_id_id", table_name="job")
    with op.batch_alter_table("job") as batch:
        batch.drop_column("workspace_id")
    with op.batch_alter_table("workflow") as batch:
        batch.drop_constraint("fk_workflow_workspace_id_workspace", type_="foreignkey")
        batch.drop_constraint("uq_workflow_workspace_slug", type_="unique")
        batch.create_unique_constraint("uq_workflow_slug", ["slug"])
        batch.drop_column("workspace_id")
    for table in ("audit_head", "audit_entry", "workflow_member", "personal_token", "membership", "app_user"):
        op.drop_table(table)
    op.drop_table("workspace")
