"""Writers of a workflow's variables are serialised by the workflow row lock: a replace racing a delete of
the same variable ends as a create (or a replace) on PostgreSQL, never as a 500."""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TEST_DB
from tests.env.conftest import create_workflow, env_t, put_var


async def _lock_waiters(engine: AsyncEngine) -> int:
    """Backends of the test database waiting for a lock (the two requests, once both are queued)."""
    async with engine.connect() as conn:
        count = (
            await conn.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND wait_event_type = 'Lock'"),
                {"db": TEST_DB},
            )
        ).scalar_one()
    return int(count)


async def test_replace_racing_a_delete_of_the_same_variable(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await create_workflow(client)
    assert (await put_var(client, "NAME", "old")).status_code == 201

    # Hold the variable's row lock, as a writer in the middle of its transaction would, then queue a
    # DELETE and a PUT of the variable behind it: the DELETE first, so that it wins the row when released.
    async with engine.connect() as blocker:
        await blocker.execute(sa.select(env_t.c.id).where(env_t.c.name == "NAME").with_for_update())
        delete = asyncio.create_task(client.delete("/v1/workflows/wf/env/NAME"))
        deadline = asyncio.get_running_loop().time() + 20
        while await _lock_waiters(engine) < 1:
            assert asyncio.get_running_loop().time() < deadline, "the DELETE never waited for the row lock"
            await asyncio.sleep(0.02)
        put = asyncio.create_task(put_var(client, "NAME", "new"))
        while await _lock_waiters(engine) < 2:
            assert asyncio.get_running_loop().time() < deadline, "the PUT never waited for a lock"
            await asyncio.sleep(0.02)
        await blocker.rollback()

    deleted, replaced = await asyncio.wait_for(asyncio.gather(delete, put), 20)
    assert deleted.status_code == 204, deleted.text
    assert replaced.status_code == 201, replaced.text  # the variable was gone when the PUT wrote it
    assert replaced.json()["value"] == "new"
    got = await client.get("/v1/workflows/wf/env/NAME")
    assert got.status_code == 200
    assert got.json()["value"] == "new"
