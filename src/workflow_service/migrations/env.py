"""Alembic environment: async engines, PostgreSQL or SQLite (batch mode for SQLite's ALTERs)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from workflow_service.models import Base

config = context.config
target_metadata = Base.metadata

NOT_MODELLED = frozenset({"ix_job_search_trgm"})
"""Indexes a migration makes that the models do not describe: the job search's trigram index (migration
0012), PostgreSQL only and only where pg_trgm could be created. Left out when the models are compared."""


def _include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "index" and name in NOT_MODELLED)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_include,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Two processes migrating at once wait for each other instead of colliding.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
        context.run_migrations()


async def _run_async() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = create_async_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
