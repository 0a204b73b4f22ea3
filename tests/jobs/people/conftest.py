"""People for the jobs tests: workspaces, users with a personal token and a workspace role, their roles on
workflows, made by inserting rows (as the user routes would), and the app with one client per token."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import admin, connect, issue_key
from tests.conftest import ClientFactory
from workflow_service.access.credentials import TOKEN_START, hash_key, new_key
from workflow_service.core.clock import utcnow
from workflow_service.core.ids import uuid7
from workflow_service.jobs.ends import Ended
from workflow_service.jobs.follow_ups import FOLLOW_UPS
from workflow_service.models import DEFAULT_WORKSPACE_ID, Membership, PersonalToken, User, WorkflowMember, Workspace

__all__ = ["admin", "connect"]  # the app with one client per bearer token (tests/apikeys/conftest.py)


@dataclass(frozen=True)
class Person:
    """A user of one workspace, with a personal token and a client of the app that sends it."""

    user_id: uuid.UUID
    email: str
    workspace_id: uuid.UUID
    client: httpx.AsyncClient

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"


async def add_workspace(engine: AsyncEngine, retention_days: int | None = None) -> uuid.UUID:
    workspace_id = uuid7()
    values = {"id": workspace_id, "slug": f"ws-{workspace_id.hex[-12:]}", "name": "Elsewhere", "created_at": utcnow()}
    async with engine.begin() as conn:
        await conn.execute(sa.insert(Workspace).values(**values, retention_days=retention_days))
    return workspace_id


async def set_workspace_retention(engine: AsyncEngine, workspace_id: uuid.UUID, days: int | None) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.update(Workspace).where(Workspace.id == workspace_id).values(retention_days=days))


class People:
    """Makes users (rows: user, membership, personal token) and invites them to workflows."""

    def __init__(self, engine: AsyncEngine, connect: ClientFactory) -> None:
        self.engine, self.connect = engine, connect

    async def user(self, role: str = "member", workspace_id: uuid.UUID = DEFAULT_WORKSPACE_ID) -> Person:
        """A user with `role` in the workspace, and a client sending their personal token."""
        user_id, now = uuid7(), utcnow()
        email = f"{user_id.hex[-12:]}@example.com"
        prefix, token = new_key(TOKEN_START)
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(User).values(id=user_id, email=email, name=email, created_at=now))
            await conn.execute(
                sa.insert(Membership).values(
                    id=uuid7(), workspace_id=workspace_id, user_id=user_id, role=role, created_at=now
                )
            )
            await conn.execute(
                sa.insert(PersonalToken).values(
                    id=uuid7(),
                    user_id=user_id,
                    workspace_id=workspace_id,
                    name="tests",
                    prefix=prefix,
                    token_hash=hash_key(token),
                    created_at=now,
                )
            )
        return Person(user_id, email, workspace_id, self.connect(token))

    async def invite(self, person: Person, workflow: dict[str, object], role: str) -> Person:
        """`person` invited to the workflow (as `deploy_workflow` returns it) with `role`."""
        values = {"workflow_id": uuid.UUID(str(workflow["id"])), "user_id": person.user_id, "role": role}
        async with self.engine.begin() as conn:
            await conn.execute(sa.insert(WorkflowMember).values(id=uuid7(), **values, created_at=utcnow()))
        return person

    async def member(self, workflow: dict[str, object], role: str) -> Person:
        """A new workspace member invited to the workflow with `role`."""
        return await self.invite(await self.user(), workflow, role)


async def refused_own_job_action(
    people: People, admin: httpx.AsyncClient, workflow: dict[str, object]
) -> list[tuple[httpx.AsyncClient, int, str]]:
    """Those who may not act on a job a runner of `workflow` created (cancel, change, delete it), each with the
    status and code they get: those who may read it 403, the others 404 (the job is hidden from them)."""
    key = people.connect((await issue_key(admin, str(workflow["slug"])))["key"])
    elsewhere = await add_workspace(people.engine)
    return [
        ((await people.member(workflow, "viewer")).client, 403, "forbidden"),
        ((await people.member(workflow, "runner")).client, 403, "forbidden"),
        ((await people.user()).client, 404, "not_found"),
        ((await people.user("owner", elsewhere)).client, 404, "not_found"),
        (key, 404, "not_found"),
    ]


@pytest.fixture
def people(engine: AsyncEngine, connect: ClientFactory) -> People:
    return People(engine, connect)


@pytest.fixture
def ends() -> Iterator[list[Ended]]:
    """Every job end the process makes meanwhile, as the lifecycle's follow-ups see it (in its transaction)."""
    seen: list[Ended] = []

    async def record(_conn: Any, ended: Ended) -> None:
        seen.append(ended)

    unregister = FOLLOW_UPS.register("test_ends", in_transaction=record)
    yield seen
    unregister()
