"""Targets: the lookups of submissions made at the same time are shared, and never older than the request."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import DEFAULT_CREATOR, default_ref
from tests.jobs.conftest import GREETER, create_jobs
from workflow_service.engine.definition import PlanCache
from workflow_service.errors import NotDeployed, NotFound
from workflow_service.workflows import repository as workflow_repo
from workflow_service.workflows import service as workflows
from workflow_service.workflows.refs import ScopedRef
from workflow_service.workflows.schemas import DraftUpdate, WorkflowCreate
from workflow_service.workflows.targets import Targets


async def test_lookups_asked_for_together_are_one_query(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    await create_jobs(engine, GREETER, count=0, slug="greeter")
    lookups: list[Any] = []
    real = workflow_repo.resolve_for_submit

    async def counted(conn: Any, ref: ScopedRef, number: int | None) -> Any:
        lookups.append((ref, number))
        return await real(conn, ref, number)

    monkeypatch.setattr(workflow_repo, "resolve_for_submit", counted)
    targets = Targets(engine, PlanCache())

    found = await asyncio.gather(*(targets.resolve(default_ref("greeter"), "current") for _ in range(30)))

    assert {(t.slug, t.number) for t in found if t is not None} == {("greeter", 1)}
    assert 1 <= len(lookups) <= 2  # the first alone, the other 29 together


async def test_a_deploy_committed_before_the_request_is_seen(engine: AsyncEngine) -> None:
    await create_jobs(engine, GREETER, count=0, slug="greeter")
    targets = Targets(engine, PlanCache())

    async def number(version: str) -> int:
        target = await targets.resolve(default_ref("greeter"), version)
        assert target is not None
        return target.number

    assert await number("current") == 1
    async with engine.begin() as conn:
        await workflows.update_draft(
            conn, default_ref("greeter"), DraftUpdate(definition={**GREETER, "description": "second"}), ""
        )
        await workflows.deploy(conn, default_ref("greeter"), "")
    assert await number("current") == 2
    assert await number("1") == 1


async def test_each_asker_gets_its_own_answer(engine: AsyncEngine) -> None:
    await create_jobs(engine, GREETER, count=0, slug="greeter")
    async with engine.begin() as conn:
        await workflows.create(
            conn, WorkflowCreate(name="draft only", slug="draft-only", definition=GREETER), "", DEFAULT_CREATOR
        )
    targets = Targets(engine, PlanCache())

    results = await asyncio.gather(
        targets.resolve(default_ref("nowhere"), "current"),
        targets.resolve(default_ref("greeter"), "current"),
        targets.resolve(default_ref("draft-only"), "current"),
        targets.resolve(default_ref("greeter"), "7"),
        targets.resolve(default_ref("nowhere"), "current"),
        return_exceptions=True,
    )

    assert isinstance(results[0], NotFound)
    assert isinstance(results[4], NotFound)
    assert results[0] is not results[4]  # raised by each asker as its own exception
    assert getattr(results[1], "number", None) == 1
    assert isinstance(results[2], NotDeployed)
    assert isinstance(results[3], NotFound)
    assert "no version 7" in str(results[3])
