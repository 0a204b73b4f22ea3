"""job.origin: where every job came from (api, rerun, run_from_step, duplicate, child, schedule, trigger)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN with a default: no table rewrite on either database.
    op.add_column("job", sa.Column("origin", sa.String(16), nullable=False, server_default="api"))
    # Jobs made before this: a lineage kind is their origin, a parent job makes them a child; a cache
    # follower's own origin was not kept (it is stored in source_kind's place): it stays `api`.
    op.execute("UPDATE job SET origin = source_kind WHERE source_kind IN ('rerun', 'run_from_step', 'duplicate')")
    op.execute("UPDATE job SET origin = 'child' WHERE parent_job_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_column("origin")
