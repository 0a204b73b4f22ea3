"""The job state machine: the transition table as the architecture defines it, and the guarded UPDATE."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.jobs.conftest import GREETER, create_jobs
from workflow_service.core.clock import utcnow
from workflow_service.jobs import repository as repo
from workflow_service.jobs.repository import event_t, job_t
from workflow_service.jobs.states import (
    ACTIVE,
    RETRY_TRANSITIONS,
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    JobStatus,
    can_transition,
    check_path,
    is_terminal,
    sources_of,
)

S = JobStatus
HAPPY_PATH = [S.PENDING, S.CLAIMED, S.RUNNING, S.VALIDATING, S.UPLOADING, S.COMPLETED]
TERMINALS = {S.COMPLETED, S.FAILED, S.CANCELED}
NON_TERMINAL = set(S) - TERMINALS


def architecture_allows(source: JobStatus, target: JobStatus) -> bool:
    """The rules of architecture.md section 3, written independently of TRANSITIONS."""
    if source in TERMINALS:
        return False
    if source is S.NEW:  # made but not started (issue 4): it can only be started or canceled
        return target in (S.PENDING, S.CANCELED)
    if (source, target) in itertools.pairwise(HAPPY_PATH):
        return True
    if target in (S.FAILED, S.CANCELED):
        return True
    return target is S.PENDING and source in (S.CLAIMED, S.RUNNING)


@pytest.mark.parametrize(("source", "target"), list(itertools.product(S, S)), ids=lambda s: str(s))
def test_every_pair_is_allowed_exactly_when_the_architecture_says(source: JobStatus, target: JobStatus) -> None:
    assert can_transition(source, target) is architecture_allows(source, target)


def test_the_table_covers_every_status_and_only_statuses() -> None:
    assert set(TRANSITIONS) == set(S)
    assert all(targets <= set(S) for targets in TRANSITIONS.values())


def test_terminal_and_active_sets() -> None:
    assert TERMINAL == TERMINALS
    assert {S.CLAIMED, S.RUNNING, S.VALIDATING, S.UPLOADING} == ACTIVE
    assert all(is_terminal(s) for s in TERMINALS)
    assert not any(is_terminal(s) for s in NON_TERMINAL)
    assert is_terminal("completed")
    assert not is_terminal("pending")


def test_going_back_to_pending_is_exactly_the_retry_transitions() -> None:
    assert {(S.CLAIMED, S.PENDING), (S.RUNNING, S.PENDING)} == RETRY_TRANSITIONS
    back_to_pending = {(s, t) for s, targets in TRANSITIONS.items() for t in targets if t is S.PENDING}
    assert back_to_pending == RETRY_TRANSITIONS | {(S.NEW, S.PENDING)}  # starting a new job is not a retry


def test_no_status_transitions_to_itself() -> None:
    assert not any(can_transition(s, s) for s in S)


def test_check_path_accepts_the_happy_path_and_every_legal_prefix() -> None:
    for end in range(len(HAPPY_PATH) + 1):
        check_path(HAPPY_PATH[:end])
    check_path([S.PENDING, S.CLAIMED, S.RUNNING, S.PENDING, S.CLAIMED, S.RUNNING, S.FAILED])
    check_path([S.RUNNING, S.VALIDATING, S.FAILED])


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([S.PENDING, S.RUNNING], (S.PENDING, S.RUNNING)),
        ([S.PENDING, S.CLAIMED, S.RUNNING, S.COMPLETED], (S.RUNNING, S.COMPLETED)),
        ([S.RUNNING, S.VALIDATING, S.PENDING], (S.VALIDATING, S.PENDING)),
        ([S.COMPLETED, S.PENDING], (S.COMPLETED, S.PENDING)),
        ([S.FAILED, S.CANCELED], (S.FAILED, S.CANCELED)),
        ([S.CANCELED, S.FAILED], (S.CANCELED, S.FAILED)),
        ([S.UPLOADING, S.UPLOADING], (S.UPLOADING, S.UPLOADING)),
    ],
)
def test_check_path_names_the_first_illegal_hop(path: list[JobStatus], bad: tuple[JobStatus, JobStatus]) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_path(path)
    assert (info.value.source, info.value.target) == bad
    assert str(info.value) == f"a job cannot go from {bad[0]} to {bad[1]}"


def test_sources_of() -> None:
    assert sources_of(S.PENDING) == {S.NEW, S.CLAIMED, S.RUNNING}
    assert sources_of(S.CLAIMED) == {S.PENDING}
    assert sources_of(S.RUNNING) == {S.CLAIMED}
    assert sources_of(S.VALIDATING) == {S.RUNNING}
    assert sources_of(S.UPLOADING) == {S.VALIDATING}
    assert sources_of(S.COMPLETED) == {S.UPLOADING}
    assert sources_of(S.FAILED) == NON_TERMINAL - {S.NEW}
    assert sources_of(S.CANCELED) == NON_TERMINAL
    for target in S:
        assert sources_of(target) == {s for s in S if can_transition(s, target)}


# --- the guarded UPDATE, against PostgreSQL -------------------------------------------------------


async def status_and_events(conn: AsyncConnection, job_id: uuid.UUID) -> tuple[str, list[tuple[str | None, str]]]:
    status = (await conn.execute(sa.select(job_t.c.status).where(job_t.c.id == job_id))).scalar_one()
    events = [(e.from_status, e.to_status) for e in await repo.get_events(conn, job_id)]
    return status, events


async def test_a_transition_moves_the_job_and_writes_one_event_per_hop(engine: AsyncEngine) -> None:
    [job_id] = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    async with engine.begin() as conn:
        row = await repo.transition(
            conn,
            job_id,
            repo.Move([S.PENDING, S.CLAIMED, S.RUNNING], "agent:test", "because", values={"attempt": 1}),
            returning=(job_t.c.status, job_t.c.attempt),
        )
        assert row is not None
        assert (row.status, row.attempt) == ("running", 1)
    async with engine.connect() as conn:
        status, events = await status_and_events(conn, job_id)
        rows = await repo.get_events(conn, job_id)
    assert status == "running"
    assert events == [(None, "pending"), ("pending", "claimed"), ("claimed", "running")]
    assert [(r.actor, r.reason) for r in rows[1:]] == [("agent:test", "because")] * 2


async def test_a_stale_transition_returns_none_and_writes_nothing(engine: AsyncEngine) -> None:
    [job_id] = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    async with engine.begin() as conn:
        assert await repo.transition(conn, job_id, repo.Move([S.PENDING, S.CLAIMED], "first")) is not None
    async with engine.begin() as conn:
        # a second actor that still believes the job is pending
        assert await repo.transition(conn, job_id, repo.Move([S.PENDING, S.CLAIMED], "second")) is None
        assert await repo.transition(conn, job_id, repo.Move([S.PENDING, S.CANCELED], "second")) is None
    async with engine.connect() as conn:
        status, events = await status_and_events(conn, job_id)
        actors = [e.actor for e in await repo.get_events(conn, job_id)]
    assert status == "claimed"
    assert events == [(None, "pending"), ("pending", "claimed")]
    assert actors == ["test", "first"]


async def test_a_failed_guard_returns_none_and_writes_nothing(engine: AsyncEngine) -> None:
    [job_id] = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    async with engine.begin() as conn:
        won = await repo.transition(conn, job_id, repo.Move([S.PENDING, S.CLAIMED], "x", guards=[job_t.c.attempt == 7]))
        assert won is None
        status, events = await status_and_events(conn, job_id)
    assert status == "pending"
    assert events == [(None, "pending")]


async def test_an_illegal_path_is_refused_before_touching_the_database(engine: AsyncEngine) -> None:
    [job_id] = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    async with engine.begin() as conn:
        with pytest.raises(IllegalTransition):
            await repo.transition(conn, job_id, repo.Move([S.PENDING, S.COMPLETED], "x"))
        status, events = await status_and_events(conn, job_id)
    assert status == "pending"
    assert events == [(None, "pending")]


async def test_terminal_states_absorb(engine: AsyncEngine) -> None:
    [job_id] = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    async with engine.begin() as conn:
        assert await repo.transition(conn, job_id, repo.Move([S.PENDING, S.CANCELED], "api")) is not None
    for target in S:
        assert not can_transition(S.CANCELED, target)
        async with engine.begin() as conn:
            with pytest.raises(IllegalTransition):
                await repo.transition(conn, job_id, repo.Move([S.CANCELED, target], "x"))
    async with engine.connect() as conn:
        status, events = await status_and_events(conn, job_id)
    assert status == "canceled"
    assert events == [(None, "pending"), ("pending", "canceled")]


async def test_explicit_times_are_recorded_per_hop(engine: AsyncEngine) -> None:
    [job_id] = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    t0 = utcnow()
    times = [t0, t0 + timedelta(seconds=1), t0 + timedelta(seconds=2)]
    async with engine.begin() as conn:
        path = [S.PENDING, S.CLAIMED, S.RUNNING, S.FAILED]
        assert await repo.transition(conn, job_id, repo.Move(path, "x", at=times)) is not None
        rows = await repo.get_events(conn, job_id)
    assert [r.at for r in rows[1:]] == times


async def test_racing_transitions_have_exactly_one_winner(engine: AsyncEngine) -> None:
    [job_id] = await create_jobs(engine, GREETER, inputs={"name": "Ada"})
    start = asyncio.Event()

    async def contender(n: int) -> bool:
        await start.wait()
        async with engine.begin() as conn:
            row = await repo.transition(conn, job_id, repo.Move([S.PENDING, S.CLAIMED], f"contender-{n}"))
            await asyncio.sleep(0.01)  # hold the row lock so the others queue behind it
            return row is not None

    tasks = [asyncio.create_task(contender(n)) for n in range(8)]
    start.set()
    results = await asyncio.gather(*tasks)
    assert results.count(True) == 1
    async with engine.connect() as conn:
        claimed = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(event_t)
                .where(event_t.c.job_id == job_id, event_t.c.to_status == "claimed")
            )
        ).scalar_one()
    assert claimed == 1
