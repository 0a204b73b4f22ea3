"""the job's submission trace context, so that its run is traced as its child across the queue

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 18:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from workflow_service.core.db import JSONType

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Null when tracing is off, and for every job made before this.
    op.add_column("job", sa.Column("trace_context", JSONType))


def downgrade() -> None:
    op.drop_column("job", "trace_context")
