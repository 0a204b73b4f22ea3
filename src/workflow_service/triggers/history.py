"""The trigger history of a workflow: every schedule and event trigger, each with its recent events.

Each kind of trigger provides its items (`Provider`: `history_items(conn, workflow_id, recent)`, a read of its own
tables) in the one shape of `TriggerHistoryItem`; the history lists them all, newest set up first. A new kind of
trigger is one more provider in PROVIDERS.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from workflow_service.schedules import history as schedules
from workflow_service.triggers import repository as repo
from workflow_service.triggers.schemas import TriggerHistory, TriggerHistoryItem

RECENT = 20
"""How many of each trigger's newest events the history shows."""

Provider = Callable[[AsyncConnection, uuid.UUID, int], Awaitable[list[dict[str, Any]]]]
"""`history_items(conn, workflow_id, recent)`: the workflow's triggers of one kind, as TriggerHistoryItem dicts."""


async def history_items(conn: AsyncConnection, workflow_id: uuid.UUID, recent: int = RECENT) -> list[dict[str, Any]]:
    """The workflow's webhook triggers as history items: when each last created a job, and its newest events
    (the job each created, or why none: a duplicate of an earlier delivery, or why it was rejected)."""
    triggers = await repo.of_workflow(conn, workflow_id)
    ids = [t.id for t in triggers]
    last = await repo.last_created(conn, ids)
    newest: dict[uuid.UUID, list[dict[str, Any]]] = {trigger_id: [] for trigger_id in ids}
    for event in await repo.recent_events(conn, ids, recent):
        newest[event.trigger_id].append(
            {"at": event.at, "outcome": event.outcome, "job_id": event.job_id, "reason": event.reason}
        )
    return [
        {
            "kind": "webhook",
            "id": t.id,
            "name": t.name,
            "description": t.description,
            "provider": "webhook",
            "set_up_at": t.created_at,
            "last_run_at": last.get(t.id),
            "next_run_at": None,
            "frequency": None,
            "timezone": None,
            "start_at": None,
            "end_at": None,
            "paused": t.paused,
            "recent": newest[t.id],
        }
        for t in triggers
    ]


PROVIDERS: tuple[Provider, ...] = (schedules.history_items, history_items)
"""Every kind of trigger the history lists."""


async def history(
    conn: AsyncConnection, workflow_id: uuid.UUID, providers: Sequence[Provider] = PROVIDERS
) -> TriggerHistory:
    """Every trigger of the workflow, of every provider, newest set up first."""
    items = [
        TriggerHistoryItem.model_validate(item)
        for provide in providers
        for item in await provide(conn, workflow_id, RECENT)
    ]
    items.sort(key=lambda item: (item.set_up_at, str(item.id)), reverse=True)
    return TriggerHistory(items=items)
