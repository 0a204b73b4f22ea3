from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class AgentStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    """No heartbeat lately."""
    STOPPED = "stopped"
    """Shut down cleanly."""


class AgentRead(BaseModel):
    id: uuid.UUID
    name: str
    pools: list[str]
    host: str
    pid: int
    status: AgentStatus = Field(description="`offline`: no heartbeat lately; `stopped`: shut down cleanly.")
    started_at: datetime
    last_heartbeat_at: datetime


class AgentList(BaseModel):
    items: list[AgentRead]
