"""A submission whose workflow is deleted between its lookup and its insert is a 404, as if the workflow had never
been there, on PostgreSQL and on SQLite; nothing is stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import default_ref
from tests.jobs.conftest import GREETER, create_jobs, direct_context
from workflow_service.core.db import make_engine, unit_of_work
from workflow_service.errors import NotFound
from workflow_service.jobs import service as jobs
from workflow_service.jobs.schemas import JobCreate
from workflow_service.migrate import upgrade
from workflow_service.models import Job, Workflow
from workflow_service.workflows import service as workflows


async def test_a_workflow_deleted_after_the_lookup_is_a_404_on_postgres(engine: AsyncEngine) -> None:
    await _deleted_after_the_lookup(engine)


async def test_a_workflow_deleted_after_the_lookup_is_a_404_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'embedded.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        await _deleted_after_the_lookup(engine)
    finally:
        await engine.dispose()


async def _deleted_after_the_lookup(db: AsyncEngine) -> None:
    await create_jobs(db, GREETER, count=0, slug="greeter")
    async with direct_context(db) as ctx:
        async with unit_of_work(db) as uow:  # looked up first, as the shared lookups do before the transaction
            target = await workflows.resolve_target(uow.conn, ctx.plans, default_ref("greeter"), "current")
        async with db.begin() as conn:
            await conn.execute(sa.delete(Workflow).where(Workflow.id == target.workflow_id))
        submission = jobs.Submission(
            workflow=default_ref("greeter"),
            version="current",
            data=JobCreate(inputs={"name": "Ada"}),
            actor="admin",
            target=target,
        )
        with pytest.raises(NotFound, match="workflow 'greeter' does not exist"):
            async with unit_of_work(db) as uow:
                await jobs.submit(uow, ctx, submission)
    async with db.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(Job))).scalar_one() == 0
