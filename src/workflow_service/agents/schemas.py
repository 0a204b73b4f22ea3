from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class AgentRead(BaseModel):
    id: uuid.UUID
    name: str
    pools: list[str]
    host: str
    pid: int
    status: str = Field(description="online, offline (no heartbeat lately) or stopped (shut down cleanly).")
    started_at: datetime
    last_heartbeat_at: datetime


class AgentList(BaseModel):
    items: list[AgentRead]
