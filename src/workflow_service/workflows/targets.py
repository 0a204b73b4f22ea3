"""What submissions target, looked up once for all the submissions that ask at the same time.

Under load an api process resolves the same workflow and version for many requests at once, each a query
that was a fifth of the api's CPU (docs/benchmarks.md). On PostgreSQL `Targets` shares them: the lookups
asked for while one is on its way are made together, one query per distinct (workflow, version), on a
connection of their own (core/batch.py). A lookup always starts after the request asked for it, so a
submission still sees every deploy that committed before it arrived. The submission route asks before it
opens its own transaction, so no request holds a pooled connection while it waits for the shared one.
Elsewhere (the embedded SQLite) `resolve` answers None and each submission looks up in its own transaction.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from workflow_service.core.batch import Batcher
from workflow_service.engine.definition import PlanCache
from workflow_service.errors import ServiceError
from workflow_service.workflows import repository as repo
from workflow_service.workflows.refs import ScopedRef
from workflow_service.workflows.service import Target, parse_version, target_of

Key = tuple[ScopedRef, uuid.UUID, int | None]
"""A workflow (id or slug), its workspace, and a version number (None: the current one)."""


class Targets:
    def __init__(self, engine: AsyncEngine, plans: PlanCache) -> None:
        self._engine, self._plans = engine, plans
        self._shared = engine.dialect.name == "postgresql"
        self._found: Batcher[Key, Target | ServiceError] = Batcher(self._look_up)

    async def resolve(self, ref: ScopedRef, version: str) -> Target | None:
        """workflows.service.resolve_target, shared with the submissions asking at the same time; None
        where lookups are not shared (the caller looks up in its transaction)."""
        if not self._shared:
            return None
        found = await self._found.get((ref, ref.workspace_id, parse_version(version)))
        if isinstance(found, ServiceError):  # not found, not deployed: each asker raises its own copy
            raise copy.copy(found)
        assert found is not None
        return found

    async def _look_up(self, keys: Sequence[Key]) -> dict[Key, Target | ServiceError]:
        found: dict[Key, Target | ServiceError] = {}
        async with self._engine.connect() as conn:
            for key in dict.fromkeys(keys):
                ref, _, number = key
                try:
                    row = await repo.resolve_for_submit(conn, ref, number)
                    found[key] = await target_of(conn, self._plans, ref, number, row)
                except ServiceError as exc:
                    found[key] = exc
        return found
