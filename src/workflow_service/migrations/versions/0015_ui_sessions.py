"""ui_session: the dashboard's signed-in browsers

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 01:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from workflow_service.core.db import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ui_session",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("token_id", sa.Uuid(), nullable=True),
        sa.Column("operator_hash", sa.String(64), nullable=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspace.id"], name=op.f("fk_ui_session_workspace_id_workspace"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["personal_token.id"], name=op.f("fk_ui_session_token_id_personal_token"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ui_session")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_ui_session_secret_hash")),
    )
    op.create_index(op.f("ix_ui_session_token_id"), "ui_session", ["token_id"])
    op.create_index(op.f("ix_ui_session_expires_at"), "ui_session", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ui_session_expires_at"), table_name="ui_session")
    op.drop_index(op.f("ix_ui_session_token_id"), table_name="ui_session")
    op.drop_table("ui_session")
