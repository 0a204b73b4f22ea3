"""Agent registration and heartbeats. A heartbeat also extends the leases of the jobs the agent is running."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from workflow_service.agents import repository as agents_repo
from workflow_service.agents.schemas import AgentList, AgentRead
from workflow_service.core.clock import utcnow
from workflow_service.core.ids import uuid7
from workflow_service.jobs import repository as jobs_repo


async def register(engine: AsyncEngine, pools: tuple[str, ...], name: str | None = None) -> uuid.UUID:
    """Record this process as an online agent serving `pools`."""
    agent_id, now = uuid7(), utcnow()
    host, pid = socket.gethostname(), os.getpid()
    async with engine.begin() as conn:
        agent = agents_repo.Registration(agent_id, name or f"{host}:{pid}", list(pools), host, pid)
        await agents_repo.insert(conn, agent, now)
    return agent_id


class Lost(NamedTuple):
    """What a heartbeat learnt about the jobs it was told are running but that are no longer the agent's."""

    jobs: list[uuid.UUID]
    canceled: list[uuid.UUID]
    """Those of `jobs` that were canceled (the cancel notification was lost)."""


async def heartbeat(
    engine: AsyncEngine, agent_id: uuid.UUID, lease: timedelta, running: list[uuid.UUID] | None = None
) -> Lost:
    """I am alive: extend the leases of the jobs I am running right now (`running`), and only those.

    Returns the jobs of `running` that are no longer mine to run (canceled meanwhile, ended by the
    reconciler, or handed to another agent after my lease expired)."""
    async with engine.begin() as conn:
        await agents_repo.touch(conn, agent_id, utcnow())
        if not running:
            return Lost([], [])
        extended = await jobs_repo.extend_leases(conn, agent_id, lease, running)
        lost = [job_id for job_id in running if job_id not in extended]
        return Lost(lost, await jobs_repo.canceled_among(conn, lost) if lost else [])


async def stop(engine: AsyncEngine, agent_id: uuid.UUID) -> None:
    async with engine.begin() as conn:
        await agents_repo.set_status(conn, agent_id, "stopped")


async def mark_offline(conn: AsyncConnection, silent_since: datetime) -> int:
    return await agents_repo.mark_offline(conn, silent_since)


async def list_agents(conn: AsyncConnection, status: str | None) -> AgentList:
    """Agents, most recently started first."""
    rows = await agents_repo.list_rows(conn, status)
    return AgentList(items=[AgentRead.model_validate(r, from_attributes=True) for r in rows])
