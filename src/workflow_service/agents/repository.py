"""The agent table's queries: registration, heartbeats, stop, the reconciler's offline sweep, the listing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.models import Agent

agent_t: sa.Table = Agent.__table__  # type: ignore[assignment]

ONLINE, OFFLINE = "online", "offline"


@dataclass(frozen=True, slots=True)
class Registration:
    """Who an agent is: the process (host, pid) serving `pools`, under a name."""

    agent_id: uuid.UUID
    name: str
    pools: list[str]
    host: str
    pid: int


async def insert(conn: AsyncConnection, agent: Registration, now: datetime) -> None:
    """The agent, online since `now`."""
    await conn.execute(
        agent_t.insert().values(
            id=agent.agent_id,
            name=agent.name,
            pools=agent.pools,
            host=agent.host,
            pid=agent.pid,
            status=ONLINE,
            started_at=now,
            last_heartbeat_at=now,
        )
    )


async def touch(conn: AsyncConnection, agent_id: uuid.UUID, now: datetime) -> None:
    """Record a heartbeat: the agent is online as of `now`."""
    await conn.execute(agent_t.update().where(agent_t.c.id == agent_id).values(last_heartbeat_at=now, status=ONLINE))


async def set_status(conn: AsyncConnection, agent_id: uuid.UUID, status: str) -> None:
    await conn.execute(agent_t.update().where(agent_t.c.id == agent_id).values(status=status))


async def mark_offline(conn: AsyncConnection, silent_since: datetime) -> int:
    """Online agents silent since before `silent_since` become offline; returns how many."""
    result = await conn.execute(
        agent_t.update()
        .where(agent_t.c.status == ONLINE, agent_t.c.last_heartbeat_at < silent_since)
        .values(status=OFFLINE)
    )
    return int(result.rowcount)


async def list_rows(conn: AsyncConnection, status: str | None) -> Sequence[sa.Row[tuple[object, ...]]]:
    """Agents, most recently started first."""
    stmt = sa.select(agent_t).order_by(agent_t.c.started_at.desc())
    if status is not None:
        stmt = stmt.where(agent_t.c.status == status)
    return (await conn.execute(stmt)).all()
