"""step records' places among their job's events, for the job event stream

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-12 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Records written before this have none: the stream shows their job's status changes only.
    op.add_column("job_step", sa.Column("start_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite")))
    op.add_column("job_step", sa.Column("end_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite")))


def downgrade() -> None:
    op.drop_column("job_step", "end_seq")
    op.drop_column("job_step", "start_seq")
