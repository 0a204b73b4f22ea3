"""Finding jobs gives the same answers on PostgreSQL and on the embedded SQLite: the same jobs, made the same way
on both (names, errors, origins, creators and times chosen), searched, filtered and sorted by the same
queries through the listing service, every page walked. Each answer is compared between the databases and with
what the jobs' own fields say it must be (computed here from the jobs as read back), so that the two cannot
agree on a wrong one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import DEFAULT_CREATOR, default_ref, make_settings
from tests.jobs import parity
from tests.jobs.conftest import direct_context
from tests.jobs.parity import COMPLETED, Run, ending
from workflow_service.core.db import unit_of_work
from workflow_service.core.pagination import encode_json_cursor
from workflow_service.errors import InvalidInput
from workflow_service.jobs import intake, listing
from workflow_service.jobs import service as jobs
from workflow_service.jobs.schemas import JobCreate, JobListItem, JobListQuery
from workflow_service.jobs.states import JobStatus
from workflow_service.models import DEFAULT_WORKSPACE_ID
from workflow_service.workflows import service as workflows
from workflow_service.workflows.schemas import WorkflowCreate

S = JobStatus
TWO_STEPS: dict[str, Any] = {
    "steps": [{"id": "one", "type": "transform", "output": "1"}, {"id": "two", "type": "transform", "output": "2"}]
}
ONE_STEP: dict[str, Any] = {"steps": [{"id": "one", "type": "transform", "output": "1"}]}
USER, KEY, SCHEDULE = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
EVERYONE = listing.Lister(workspace_id=DEFAULT_WORKSPACE_ID, caller=None)


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    async for engine in parity.sqlite_engine(tmp_path / "embedded.db"):
        yield engine


@pytest.fixture
def runs(engine: AsyncEngine, sqlite: AsyncEngine) -> tuple[Run, Run]:
    """A run on PostgreSQL (the test database, emptied) and one on a fresh embedded SQLite database."""
    settings = make_settings()
    return Run(engine, settings), Run(sqlite, settings)


@dataclass
class Jobs:
    """The jobs made on one database, in the order they were made, and the times chosen for them."""

    run: Run
    ids: list[uuid.UUID] = field(default_factory=list)

    def index(self, job_id: uuid.UUID) -> int:
        return self.ids.index(job_id)

    async def deploy(self, slug: str, name: str, definition: dict[str, Any]) -> None:
        async with unit_of_work(self.run.engine) as uow:
            await workflows.create(
                uow.conn, WorkflowCreate(name=name, slug=slug, definition=definition), "", DEFAULT_CREATOR
            )
            await workflows.deploy(uow.conn, default_ref(slug), "")

    async def submit(self, slug: str, name: str | None = None, actor: str = "admin") -> uuid.UUID:
        submission = jobs.Submission(
            workflow=default_ref(slug), version="current", data=JobCreate(name=name, cache="never"), actor=actor
        )
        async with direct_context(self.run.engine, self.run.settings) as ctx, unit_of_work(self.run.engine) as uow:
            submitted = await jobs.submit(uow, ctx, submission)
        self.ids.append(submitted.job.id)
        return submitted.job.id

    async def scheduled(self, slug: str) -> uuid.UUID:
        """A job as a schedule makes one: origin `schedule`, created by `schedule:<id>`."""
        async with direct_context(self.run.engine, self.run.settings) as ctx, unit_of_work(self.run.engine) as uow:
            target = await workflows.resolve_target(uow.conn, ctx.plans, default_ref(slug), "current")
            spec = intake.JobSpec(
                target=target, origin=intake.Origin.SCHEDULE, caller=f"schedule:{SCHEDULE}", max_attempts=3, inputs={}
            )
            created = await intake.create(uow, ctx, spec)
        self.ids.append(created.job_id)
        return created.job_id

    async def run_blip(self, job_id: uuid.UUID) -> None:
        """Completed 0.2 s after its start, whose microseconds are more than its end's (a borrow in the
        duration's arithmetic)."""
        start = (self.run.base + timedelta(seconds=30)).replace(microsecond=900_000)
        minutes = (start - self.run.base) / timedelta(minutes=1)
        await self.run_between(job_id, minutes, minutes + 0.2 / 60)

    async def run_between(self, job_id: uuid.UUID, start: float, end: float, error: str | None = None) -> None:
        """Claimed at `start` and ended at `end` (minutes from the run's base): completed, or failed with `error`."""
        agent = uuid.uuid4()
        r = self.run
        await r.claim(job_id, agent, at=start, lease_until=end + 30)
        if error is None:
            await r.finish(job_id, "async", ending(1, agent, COMPLETED, [r.at(end)] * 3, output="ok"))
        else:
            failure = {"code": "http_status", "message": error, "step": "one"}
            await r.finish(job_id, "async", ending(1, agent, (S.RUNNING, S.FAILED), [r.at(end)], error=failure))


async def make_jobs(r: Run) -> Jobs:
    """Ties on purpose: three jobs ran 2 minutes, two ended at +3m; two never ended, one never started."""
    made = Jobs(r)
    await made.deploy("greeter", "Greeter", TWO_STEPS)
    await made.deploy("reports", "Monthly Reports", ONE_STEP)
    alpha = await made.submit("greeter", "Alpha report")
    percent = await made.submit("greeter", "100% done", actor=f"user:{USER}")
    await made.submit("greeter", "1000 widgets")  # what `100%` would match if % were a wildcard
    underscore = await made.submit("reports", "a_b", actor=f"key:{KEY}")
    await made.submit("reports", "axb")  # what `a_b` would match if _ were a wildcard: pending
    scheduled = await made.scheduled("greeter")
    canceled = await made.submit("greeter", "stopped early")
    await made.submit("reports", "REPORT in capitals")  # pending
    blip = await made.submit("greeter", "quick blip")
    await made.run_between(alpha, 1, 3)
    await made.run_between(percent, 1, 4, error="upstream answered 503 for 100_200")
    await made.run_between(underscore, 2, 4)
    await made.run_between(scheduled, 1, 3)
    await made.run_blip(blip)
    async with direct_context(r.engine, r.settings) as ctx, unit_of_work(r.engine) as uow:
        await jobs.cancel(uow, ctx, str(canceled), actor="admin")
    return made


async def walk(r: Run, limit: int = 2, **params: Any) -> list[JobListItem]:
    """Every page of the listing `params` ask for, `limit` jobs a page."""
    for name in ("status", "origin", "created_by"):  # repeatable: a list, as a query string gives it
        if isinstance(params.get(name), str):
            params[name] = [params[name]]
    seen: list[JobListItem] = []
    cursor: str | None = None
    while True:
        query = JobListQuery(scope="all", limit=limit, cursor=cursor, **params)
        async with r.engine.connect() as conn:
            page = await listing.page(conn, EVERYONE, query)
        assert len(page.items) <= limit
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            return seen


@pytest.fixture
async def made(runs: tuple[Run, Run]) -> tuple[Jobs, Jobs]:
    return await make_jobs(runs[0]), await make_jobs(runs[1])


async def both(made: tuple[Jobs, Jobs], **params: Any) -> list[int]:
    """The jobs `params` list, by the order they were made in, the same on both databases."""
    answers = []
    for jobs_ in made:
        answers.append([jobs_.index(item.id) for item in await walk(jobs_.run, **params)])
    assert answers[0] == answers[1], f"{params}: PostgreSQL {answers[0]}, SQLite {answers[1]}"
    return answers[0]


def ordered(items: list[JobListItem], key: Callable[[JobListItem], Any], descending: bool) -> list[uuid.UUID]:
    """The ids in the order a listing must give: by `key`, ties by id, the same way; no key last."""
    keyed = sorted((i for i in items if key(i) is not None), key=lambda i: (key(i), i.id), reverse=descending)
    unkeyed = sorted((i for i in items if key(i) is None), key=lambda i: i.id, reverse=descending)
    return [i.id for i in keyed + unkeyed]


def duration(item: JobListItem) -> float | None:
    return item.duration


LIFE = [s.value for s in JobStatus]
SORTS: dict[str, Callable[[JobListItem], Any]] = {
    "created": lambda i: i.id,
    "updated": lambda i: i.updated_at,
    "finished": lambda i: i.finished_at,
    "duration": duration,
    "name": lambda i: None if i.name is None else i.name.lower(),
    "workflow": lambda i: i.workflow.slug,
    "status": lambda i: LIFE.index(i.status),
    "steps": lambda i: i.step_count,
}


@pytest.mark.parametrize("descending", [True, False])
async def test_every_sort_pages_through_every_job_once_in_its_order(made: tuple[Jobs, Jobs], descending: bool) -> None:
    # Every sort on one set of jobs (made once: making them is most of the test's time).
    for sort in sorted(SORTS):
        name = f"-{sort}" if descending else sort
        for limit in (1, 2, 3):
            listed = await both(made, sort=name, limit=limit)
            assert sorted(listed) == list(range(len(made[0].ids))), (name, listed)  # each job once
        for jobs_ in made:
            everything = await walk(jobs_.run, limit=200)
            in_order = ordered(everything, SORTS[sort], descending)
            assert [i.id for i in await walk(jobs_.run, sort=name)] == in_order, name
        with_ties = {"duration": 3, "finished": 2, "workflow": 6, "status": 4, "steps": 6}.get(sort)
        if with_ties is not None:  # the ties are there to be broken
            values = [SORTS[sort](i) for i in await walk(made[0].run, limit=200)]
            assert max(values.count(v) for v in values if v is not None) == with_ties, name


async def test_names_sort_without_case_and_unnamed_jobs_come_last(made: tuple[Jobs, Jobs]) -> None:
    # 5 (a schedule's job) has no name; "REPORT in capitals" sorts among the r's, not before the a's.
    assert await both(made, sort="name") == [1, 2, 3, 0, 4, 8, 7, 6, 5]
    assert await both(made, sort="-name", limit=3) == [6, 7, 8, 4, 0, 3, 2, 1, 5]


async def test_statuses_sort_in_a_jobs_life_and_steps_by_the_versions_count(made: tuple[Jobs, Jobs]) -> None:
    assert await both(made, sort="status") == [2, 4, 7, 0, 3, 5, 8, 1, 6]
    assert await both(made, sort="-status", limit=4) == [6, 1, 8, 5, 3, 0, 7, 4, 2]
    assert await both(made, sort="-status", status=["pending,failed"]) == [1, 7, 4, 2]
    assert await both(made, sort="-steps", workflow="reports") == [7, 4, 3]
    assert set((await both(made, sort="steps"))[:3]) == {3, 4, 7}


async def test_a_cursor_of_one_order_is_refused_by_another(made: tuple[Jobs, Jobs]) -> None:
    r = made[0].run
    async with r.engine.connect() as conn:
        first = await listing.page(conn, EVERYONE, JobListQuery(scope="all", limit=2, sort="name"))
        assert first.next_cursor is not None
        with pytest.raises(InvalidInput, match="another order"):
            await listing.page(
                conn, EVERYONE, JobListQuery(scope="all", limit=2, sort="-status", cursor=first.next_cursor)
            )
        forged = encode_json_cursor({"sort": "steps", "key": "two", "id": uuid.uuid4().hex})
        with pytest.raises(InvalidInput, match="cursor"):
            await listing.page(conn, EVERYONE, JobListQuery(scope="all", sort="steps", cursor=forged))


async def test_the_default_order_is_newest_first(made: tuple[Jobs, Jobs]) -> None:
    assert await both(made) == list(reversed(range(len(made[0].ids))))
    assert await both(made, sort="created") == list(range(len(made[0].ids)))


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("alpha", {0}),  # a name, any case
        ("report", {0, 3, 4, 7}),  # a name, or a workflow's slug (`reports`) or name (`Monthly Reports`)
        ("monthly", {3, 4, 7}),  # a workflow's name only
        ("100%", {1}),  # `%` matches itself: not `1000 widgets`
        ("a_b", {3}),  # `_` matches itself: not `axb`
        ("100_200", {1}),  # in an error message
        ("upstream answered", {1}),
        ("  ", set(range(9))),  # nothing to search for
        ("no such thing", set()),
    ],
)
async def test_the_text_search_finds_the_same_jobs(made: tuple[Jobs, Jobs], q: str, expected: set[int]) -> None:
    assert set(await both(made, q=q)) == expected


async def test_an_id_prefix_finds_its_job_with_or_without_dashes(made: tuple[Jobs, Jobs]) -> None:
    for jobs_ in made:
        target = jobs_.ids[5]
        for q in (str(target)[:18], target.hex[:16], str(target).upper()[:23], str(target)):
            found = [i.id for i in await walk(jobs_.run, q=q)]
            assert found == [target], (q, found)
        # Fewer than 8 hex digits name a span of time, not a job: they match names only.
        assert await walk(jobs_.run, q=target.hex[:7]) == []


async def test_filters_select_the_same_jobs(made: tuple[Jobs, Jobs]) -> None:
    r = made[0].run
    assert await both(made, origin="schedule") == [5]
    assert set(await both(made, origin=["api,schedule"])) == set(range(9))
    assert set(await both(made, created_by="operator")) == {0, 2, 4, 6, 7, 8}
    assert await both(made, created_by=f"user:{USER}") == [1]
    assert await both(made, created_by=str(KEY)) == [3]  # a bare id: a user's or a key's
    assert set(await both(made, created_by=[f"schedule:{SCHEDULE},key:{KEY}"])) == {3, 5}
    assert set(await both(made, status="completed")) == {0, 3, 5, 8}
    assert set(await both(made, workflow="reports", status="pending")) == {4, 7}
    assert set(await both(made, min_duration_s=150)) == {1}  # ran 3 minutes
    assert set(await both(made, max_duration_s=120)) == {0, 3, 5, 8}  # ran exactly 2 minutes, or 0.2 s
    assert await both(made, max_duration_s=0.25) == [8]
    assert await both(made, min_duration_s=0.15, max_duration_s=0.25) == [8]
    assert set(await both(made, min_duration_s=120, max_duration_s=120, sort="-duration")) == {0, 3, 5}
    assert set(await both(made, finished_from=r.at(3), finished_to=r.at(4))) == {0, 5}
    assert set(await both(made, finished_from=r.at(3.5))) == {1, 3}
    assert await both(made, created_to=r.base - timedelta(minutes=1)) == []
    assert len(await both(made, created_from=r.base - timedelta(minutes=1), created_to=r.at(1))) == 9
    assert await both(made, q="report", origin="api", status="completed", workflow="greeter") == [0]


async def test_each_row_shows_when_it_changed_its_workflow_last_completed_and_its_steps(
    made: tuple[Jobs, Jobs],
) -> None:
    for jobs_ in made:
        r = jobs_.run
        rows = {i.id: i for i in await walk(r, limit=200)}
        by_index = [rows[job_id] for job_id in jobs_.ids]
        assert [i.step_count for i in by_index] == [2, 2, 2, 1, 1, 2, 2, 1, 2]
        greeter_done, reports_done = (
            max(
                i.finished_at for i in by_index if i.workflow.slug == slug and i.status == "completed" and i.finished_at
            )
            for slug in ("greeter", "reports")
        )
        assert (greeter_done, reports_done) == (r.at(3), r.at(4))
        for i in by_index:
            assert i.last_completed_at == (greeter_done if i.workflow.slug == "greeter" else reports_done)
        # When it last changed: its last event, or its creation when it has moved no further.
        assert by_index[0].updated_at == by_index[0].finished_at == r.at(3)
        assert by_index[1].updated_at == r.at(4)
        assert by_index[4].updated_at == by_index[4].created_at
        for i in by_index:
            async with r.engine.connect() as conn:
                history = await jobs.events(conn, str(i.id))
            assert i.updated_at == history.items[-1].at
