"""Helpers for the jobs tests: deploying workflows over the API, job runners driven directly."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import DEFAULT_CREATOR, default_ref, make_settings
from workflow_service.agents import service as agents
from workflow_service.config import Settings
from workflow_service.context import Context
from workflow_service.core.db import unit_of_work
from workflow_service.core.dispatch import Dispatcher
from workflow_service.core.notify import Notifier
from workflow_service.jobs import service as jobs
from workflow_service.jobs.run.claim import Agent
from workflow_service.jobs.run.runner import JobRunner
from workflow_service.jobs.schemas import JobCreate
from workflow_service.startup import assemble
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows import service as workflows
from workflow_service.workflows.schemas import WorkflowCreate

GREETER: dict[str, Any] = {
    "input_schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "count": {"type": "integer"}},
        "required": ["name"],
    },
    "variables": {"greeting": "Hello"},
    "steps": [{"id": "compose", "type": "transform", "output": {"text": "{{ vars.greeting }}, {{ inputs.name }}!"}}],
    "output": {"greeting": "{{ steps.compose.output.text }}"},
}


async def deploy_workflow(client: httpx.AsyncClient, slug: str, definition: dict[str, Any]) -> dict[str, Any]:
    """Create a workflow and deploy its draft as version 1; returns the workflow resource."""
    created = await client.post("/v1/workflows", json={"name": slug, "slug": slug, "definition": definition})
    assert created.status_code == 201, created.text
    deployed = await client.post(f"/v1/workflows/{slug}/deploy")
    assert deployed.status_code == 201, deployed.text
    workflow: dict[str, Any] = created.json()
    return workflow


async def submit(
    client: httpx.AsyncClient, slug: str, inputs: dict[str, Any] | None = None, version: str = "current", **body: Any
) -> dict[str, Any]:
    """Submit a job (async endpoint) and return the 202 job resource."""
    response = await client.post(
        f"/v1/workflows/{slug}/versions/{version}/async", json={"inputs": inputs or {}, **body}
    )
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


class RecordingDispatcher:
    """A Dispatcher that only remembers what it was asked to enqueue."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[uuid.UUID, str, int]] = []

    async def enqueue(self, job_id: uuid.UUID, pool: str, attempt: int) -> None:
        self.enqueued.append((job_id, pool, attempt))

    async def enqueue_many(self, items: Iterable[tuple[uuid.UUID, str, int]], *, replace: bool = False) -> None:
        for item in items:
            await self.enqueue(*item)

    async def stranded(self, pool: str, limit: int) -> list[str]:
        return []

    async def discard(self, pool: str, message_ids: list[str]) -> None:
        pass

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        pass


@asynccontextmanager
async def direct_context(
    engine: AsyncEngine, settings: Settings | None = None, dispatcher: Dispatcher | None = None
) -> AsyncIterator[Context]:
    """A Context for driving services, runners and the reconciler directly: around `engine`, with a
    dispatcher that only records what it is asked (unless given one) and the in-process notifier."""
    ctx = assemble(
        settings or make_settings(),
        engine=engine,
        dispatcher=dispatcher or RecordingDispatcher(),
        notifier=Notifier(),
    )
    try:
        yield ctx
    finally:
        await ctx.http.aclose()


async def create_jobs(
    engine: AsyncEngine,
    definition: dict[str, Any],
    count: int = 1,
    inputs: dict[str, Any] | None = None,
    slug: str = "direct",
    pool: str = "default",
) -> list[uuid.UUID]:
    """Deploy `definition` and submit `count` pending jobs through the jobs service (nothing is woken)."""
    async with unit_of_work(engine) as uow:  # deployed first, as through the API: submissions see committed versions
        if await workflow_repo.get(uow.conn, default_ref(slug)) is None:
            await workflows.create(
                uow.conn, WorkflowCreate(name=slug, slug=slug, definition=definition), "", DEFAULT_CREATOR
            )
            await workflows.deploy(uow.conn, default_ref(slug), "")
    async with direct_context(engine) as ctx, unit_of_work(engine) as uow:
        ids = []
        for _ in range(count):
            submission = jobs.Submission(
                workflow=default_ref(slug),
                version="current",
                data=JobCreate(inputs=inputs or {}, pool=pool),
                actor="test",
            )
            job = await jobs.submit(uow, ctx, submission)  # a Submitted: the job and whether it was replayed
            ids.append(job.job.id)
    return ids


ContextFactory = Callable[..., Awaitable[Context]]


@pytest.fixture
async def make_context(engine: AsyncEngine, settings: Settings) -> AsyncIterator[ContextFactory]:
    """Contexts (see direct_context) on the test database and settings, with `overrides` of the settings;
    closed after the test."""
    async with AsyncExitStack() as stack:

        async def make(
            dispatcher: Dispatcher | None = None, *, on: AsyncEngine | None = None, **overrides: Any
        ) -> Context:
            context_settings = settings.model_copy(update=overrides) if overrides else settings
            return await stack.enter_async_context(direct_context(on or engine, context_settings, dispatcher))

        yield make


RunnerFactory = Callable[..., Awaitable[JobRunner]]


@pytest.fixture
async def make_runner(engine: AsyncEngine, make_context: ContextFactory) -> RunnerFactory:
    """Build JobRunners for freshly registered agents (what a worker process holds), closed after the test."""

    async def make(
        pools: tuple[str, ...] = ("default",), runner_engine: AsyncEngine | None = None, **overrides: Any
    ) -> JobRunner:
        ctx = await make_context(on=runner_engine, **overrides)
        agent_id = await agents.register(engine, pools)
        return JobRunner(ctx, Agent.of(agent_id, pools))

    return make
