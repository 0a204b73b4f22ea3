"""Finding jobs and per-job notices: job.updated_at, job.notify_url, delivery.url, the index of each workflow's
completed jobs by end, and on PostgreSQL a trigram index for the job search (pg_trgm)

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-06 10:00:00.000000

`job.updated_at` is backfilled from each job's newest event (its creation when it has none): one UPDATE of
every job, which rewrites the table on PostgreSQL; on a large history run it in a quiet hour.

The trigram index speeds up `GET /v1/jobs?q=` (names and error messages matched anywhere). It needs the
pg_trgm extension: it is created when missing; where it cannot be (not installed on the server, or the
migrating role may not create extensions in the database), the migration says so in a warning and goes on
without the index. The search then gives the same answers, reading the jobs its other filters select.
The two statements to run later, as a role that may, are in docs/invocation.md ("Finding jobs").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("workflow_service.migrations")

SEARCH_INDEX = "ix_job_search_trgm"
"""Not a model index (PostgreSQL only, and only with pg_trgm): migrations/env.py leaves it out of the
comparison of the models with the database."""
_CREATE_SEARCH_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {SEARCH_INDEX} ON job "
    "USING gin (name gin_trgm_ops, (error ->> 'message') gin_trgm_ops) "
    "WHERE name IS NOT NULL OR error IS NOT NULL"
)
COMPLETED = sa.text("status = 'completed'")


def create_search_index(bind: sa.Connection, extension: str = "pg_trgm") -> bool:
    """The trigram index of job names and error messages, with the extension it needs created when missing;
    False (with a warning, and the transaction still usable) when either cannot be made."""
    try:
        with bind.begin_nested():
            bind.exec_driver_sql(f'CREATE EXTENSION IF NOT EXISTS "{extension}"')
            bind.exec_driver_sql(_CREATE_SEARCH_INDEX)
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        log.warning(
            "job search: no trigram index (%s); `GET /v1/jobs?q=` works, but reads every job its other filters "
            "select. Create the extension %s as a role that may, then make the index (docs/invocation.md).",
            reason,
            extension,
        )
        return False
    return True


def upgrade() -> None:
    op.add_column("job", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("job", sa.Column("notify_url", sa.Text(), nullable=True))
    op.add_column("delivery", sa.Column("url", sa.Text(), nullable=True))
    op.execute(
        "UPDATE job SET updated_at = COALESCE((SELECT max(e.at) FROM job_event e WHERE e.job_id = job.id), created_at)"
    )
    with op.batch_alter_table("job") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_index(
        "ix_job_workflow_completed",
        "job",
        ["workflow_id", "finished_at"],
        postgresql_where=COMPLETED,
        sqlite_where=COMPLETED,
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        create_search_index(bind)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {SEARCH_INDEX}")  # the extension stays: other things may use it
    op.drop_index("ix_job_workflow_completed", table_name="job", postgresql_where=COMPLETED, sqlite_where=COMPLETED)
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("url")
    with op.batch_alter_table("job") as batch:
        batch.drop_column("notify_url")
        batch.drop_column("updated_at")
