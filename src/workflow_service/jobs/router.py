"""The routes of jobs themselves: read, follow, list, change, cancel, delete, and the lineage that makes new jobs
from them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from workflow_service.access import routes as access
from workflow_service.access.policy import SERVICE, Action, Decision, Effect, JobResource, reads_as_creator_of
from workflow_service.audit import redact
from workflow_service.core.db import snapshot
from workflow_service.core.ids import parse_uuid
from workflow_service.deps import BaseUrlDep, PrincipalDep, ServicesDep, UowDep
from workflow_service.jobs import deletion, lineage, listing, service
from workflow_service.jobs.change import JobChangeDep
from workflow_service.jobs.events import stream
from workflow_service.jobs.events.follow import Following
from workflow_service.jobs.invoke_router import job_url, wait_in
from workflow_service.jobs.schemas import (
    JobDeleteMany,
    JobDeleteResult,
    JobDeleteResults,
    JobDuplicate,
    JobEventList,
    JobListQuery,
    JobPage,
    JobRead,
    JobUpdate,
    RunFromStep,
)
from workflow_service.jobs.views import Reader
from workflow_service.problems import problem_responses

router = APIRouter(tags=["jobs"])


@router.post(
    "/v1/jobs/{job_id}/cancel",
    response_model=JobRead,
    responses=problem_responses(401, 403, 404, 409),
    dependencies=[access.require(Action.JOB_CANCEL, on=access.job)],
)
async def cancel_job(job_id: str, change: JobChangeDep) -> JobRead:
    """Cancel a job: pending ones at once, running ones stopped mid-step within about a second; 409 if it
    has already ended."""
    job = await service.cancel(change.uow, change.services, job_id, actor=change.actor)
    return await change.record("job.canceled", job, f"canceled job {job.id}")


@router.patch(
    "/v1/jobs/{job_id}",
    response_model=JobRead,
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=[access.require(Action.JOB_UPDATE, on=access.job)],
)
async def update_job(job_id: str, data: JobUpdate, change: JobChangeDep) -> JobRead:
    """Rename a job (in any state), or replace its variable overrides while it is `new` (409 once it has
    started); only the fields sent change."""
    updated = await service.update(change.uow, change.services, job_id, data, actor=change.actor)
    if updated.after:  # something changed
        # Variables are shown only to the job's creator (as its inputs are), so the log shows only that they changed.
        changes = redact.changes(updated.before, updated.after, secret=("variables",))
        await change.record("job.updated", updated.job, f"changed {', '.join(changes)} of job {job_id}", changes)
    return updated.job


@router.delete(
    "/v1/jobs/{job_id}",
    status_code=204,
    responses=problem_responses(401, 403, 404),
    dependencies=[access.require(Action.JOB_DELETE, on=access.job)],
)
async def delete_job(job_id: str, change: JobChangeDep) -> None:
    """Delete a job with its steps, events and deliveries; one that has not ended is canceled first. It cannot
    be undone."""
    await change.record_deleted(await deletion.delete(change.uow, change.services, job_id, actor=change.actor))


@router.post(
    "/v1/jobs/delete",
    response_model=JobDeleteResults,
    responses=problem_responses(401, 403, 422),
    dependencies=[access.require(Action.JOB_LIST)],
)
async def delete_jobs(data: JobDeleteMany, change: JobChangeDep, principal: PrincipalDep) -> JobDeleteResults:
    """Delete up to 500 jobs in one transaction, each checked on its own (as `DELETE /v1/jobs/{id}` would be) and
    its outcome reported: deleted, not_found, forbidden or invalid. It cannot be undone."""
    ids = list(dict.fromkeys(data.ids))
    parsed = {raw: parse_uuid(raw) for raw in ids}
    valid = [jid for jid in parsed.values() if jid is not None]
    decisions = await access.job_decisions(change.uow.conn, valid, principal, Action.JOB_DELETE)
    allowed = [jid for jid, decision in decisions.items() if decision.effect is Effect.ALLOW]
    done = await deletion.delete_many(change.uow, change.services, allowed, actor=change.actor)
    for each in done:  # one audit entry per job deleted
        await change.record_deleted(each)
    deleted = {d.job_id: d for d in done}
    return JobDeleteResults(results=[_delete_result(raw, parsed[raw], decisions, deleted) for raw in ids])


def _delete_result(
    raw: str, jid: uuid.UUID | None, decisions: dict[uuid.UUID, Decision], deleted: dict[uuid.UUID, deletion.Deleted]
) -> JobDeleteResult:
    if jid is None:
        return JobDeleteResult(id=raw, status="invalid", detail="not a job id: job ids are UUIDs")
    if decisions[jid].effect is Effect.FORBID:
        return JobDeleteResult(id=raw, status="forbidden", detail=decisions[jid].reason)
    done = deleted.get(jid)
    if done is None:  # no such job, or hidden from the caller: the same answer
        return JobDeleteResult(id=raw, status="not_found", detail=f"job {raw!r} does not exist")
    detail = f"it was {done.status}: canceled, then deleted" if done.canceled else None
    return JobDeleteResult(id=raw, status="deleted", detail=detail)


LINEAGE_RESPONSES = problem_responses(401, 403, 404, 409, 422)


def _created(response: Response, base_url: str, job: JobRead) -> JobRead:
    response.headers["Location"] = job_url(base_url, job.id)
    return job


@router.post(
    "/v1/jobs/{job_id}/rerun",
    status_code=201,
    response_model=JobRead,
    responses=LINEAGE_RESPONSES,
    dependencies=[access.require(Action.JOB_RERUN, on=access.job)],
)
async def rerun_job(job_id: str, change: JobChangeDep, response: Response, base_url: BaseUrlDep) -> JobRead:
    """Run a job again as a new job (same version, inputs and variables) linked to it; the source is untouched."""
    job = await lineage.rerun(change.uow, change.services, job_id, actor=change.actor)
    await change.record("job.rerun", job, f"ran job {job_id} again as job {job.id}")
    return _created(response, base_url, job)


@router.post(
    "/v1/jobs/{job_id}/run-from-step",
    status_code=201,
    response_model=JobRead,
    responses=LINEAGE_RESPONSES,
    dependencies=[access.require(Action.JOB_RERUN, on=access.job)],
)
async def run_job_from_step(
    job_id: str, data: RunFromStep, change: JobChangeDep, response: Response, base_url: BaseUrlDep
) -> JobRead:
    """A new job that reuses the results of the steps before `step` and runs from there, optionally with other
    inputs, variables or version (whose earlier steps must be identical); 409 if those results are missing."""
    job = await lineage.run_from_step(change.uow, change.services, job_id, data, actor=change.actor)
    await change.record("job.run_from_step", job, f"ran job {job_id} again from step {data.step!r} as job {job.id}")
    return _created(response, base_url, job)


@router.post(
    "/v1/jobs/{job_id}/duplicate",
    status_code=201,
    response_model=JobRead,
    responses=LINEAGE_RESPONSES,
    dependencies=[access.require(Action.JOB_RERUN, on=access.job)],
)
async def duplicate_job(
    job_id: str, data: JobDuplicate, change: JobChangeDep, response: Response, base_url: BaseUrlDep
) -> JobRead:
    """A new job with the same configuration: started now, or left `new` until `POST /v1/jobs/{id}/start`."""
    job = await lineage.duplicate(change.uow, change.services, job_id, data, actor=change.actor)
    left = "" if data.start else ", left `new` until started"
    await change.record("job.duplicated", job, f"duplicated job {job_id} as job {job.id}{left}")
    return _created(response, base_url, job)


@router.post(
    "/v1/jobs/{job_id}/start",
    response_model=JobRead,
    responses=problem_responses(401, 403, 404, 409),
    dependencies=[access.require(Action.JOB_START, on=access.job)],
)
async def start_job(job_id: str, change: JobChangeDep) -> JobRead:
    """Start a `new` job (new -> pending, then queued); 409 with its status if it is not `new`."""
    job = await lineage.start(change.uow, change.services, job_id, actor=change.actor)
    return await change.record("job.started", job, f"started job {job.id}")


@router.get(
    "/v1/jobs",
    response_model=JobPage,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[access.require(Action.JOB_LIST)],
)
async def list_jobs(
    uow: UowDep, principal: PrincipalDep, services: ServicesDep, query: Annotated[JobListQuery, Query()]
) -> JobPage:
    """List jobs: the caller's own (`scope=mine`, the default) or everyone's (`scope=all`), found by text (`q`:
    name, id prefix, workflow, error message) and filtered by workflow and version, status, origin, creator,
    pool, creation and end time and duration; newest first, or sorted by created, updated, finished or
    duration either way. Each row shows when it last changed, when its workflow last completed a job, and
    its version's step count."""
    if query.scope == "all":
        if query.workflow is None:
            access.check(principal, Action.JOB_LIST_ALL, SERVICE)
        else:
            resource = await access.workflow(query.workflow, principal, services)
            access.check(principal, Action.WORKFLOW_JOBS_LIST, resource)
    lister = listing.Lister(
        workspace_id=principal.workspace_id, caller=principal.actor if query.scope == "mine" else None
    )
    return await listing.page(uow.conn, lister, query)


async def _following(request: Request, services: ServicesDep) -> Following:
    return Following(services.engine, services.notifier, services.settings.follow, request.app.state.closing)


FollowingDep = Annotated[Following, Depends(_following)]
LongPollPrefer = Annotated[
    str | None,
    Header(
        alias="Prefer",
        description="RFC 7240; `wait=N`: answer when the job's status changes or it ends, or after N seconds "
        "(at most WFS_LONG_POLL_MAX_S, 60 by default; a longer N is cut to it).",
    ),
]


async def _long_poll_wait(following: FollowingDep, prefer: LongPollPrefer = None) -> int | None:
    """The seconds a GET may wait, as asked with `Prefer: wait=N` and capped; None: answer at once."""
    asked = wait_in(prefer)
    return None if asked is None else min(asked, following.timers.max_wait_s)


@dataclass(frozen=True)
class JobReading:
    """A read of a job: who reads it (its inputs are shown to its creator only), how to follow it, and how long
    it may wait for a change (None: it answers at once)."""

    viewer: Reader
    following: Following
    wait_s: int | None


async def _job_reading(
    principal: PrincipalDep,
    following: FollowingDep,
    wait_s: Annotated[int | None, Depends(_long_poll_wait)],
    job: Annotated[JobResource, Depends(access.job_own_transaction)],
) -> JobReading:
    return JobReading(Reader(principal.actor, reads_as_creator_of(principal, job)), following, wait_s)


@router.get(
    "/v1/jobs/{job_id}",
    response_model=JobRead,
    responses={
        200: {
            "headers": {
                "Preference-Applied": {"description": "`wait=N`: how long it could wait.", "schema": {"type": "string"}}
            }
        },
        **problem_responses(401, 404),
    },
    dependencies=[access.require(Action.JOB_READ, on=access.job_own_transaction)],
)
async def get_job(
    job_id: str,
    reading: Annotated[JobReading, Depends(_job_reading)],
    response: Response,
    steps: Annotated[
        bool,
        Query(description="`false`: leave out the step records (`steps` is null), which can be large; nor read them."),
    ] = True,
) -> JobRead:
    """Get a job: status, inputs (withheld but from its creator), output, error and every step's record
    (`?steps=false` leaves them out).
    With `Prefer: wait=N` it answers when the job's status changes or it ends, or after N seconds (at most
    WFS_LONG_POLL_MAX_S), instead of at once. It holds no database connection while it waits."""
    following, wait_s = reading.following, reading.wait_s
    if wait_s is not None:
        response.headers["Preference-Applied"] = f"wait={wait_s}"
        job_uuid = parse_uuid(job_id)
        if job_uuid is not None:
            await following.wait_for_change(job_uuid, wait_s)
    async with following.engine.connect() as conn:
        return await service.get(conn, job_id, viewer=reading.viewer, with_steps=steps)


EVENT_STREAM = "text/event-stream"


@dataclass(frozen=True)
class EventsRequest:
    """A request for a job's events: as a stream or as the history, and where a stream resumes."""

    stream: bool
    last_event_id: str | None
    following: Following


async def _events_request(
    following: FollowingDep,
    accept: Annotated[
        str | None, Header(alias="Accept", description=f"`{EVENT_STREAM}`: a stream of events, not the history.")
    ] = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="A stream resumes after this event.")
    ] = None,
) -> EventsRequest:
    return EventsRequest(EVENT_STREAM in (accept or ""), last_event_id, following)


EventsRequestDep = Annotated[EventsRequest, Depends(_events_request)]


@router.get(
    "/v1/jobs/{job_id}/events",
    response_model=JobEventList,
    responses={
        200: {
            "description": "The history (JSON), or with `Accept: text/event-stream` the stream:\n\n" + stream.FORMAT,
            "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
        },
        204: {"description": "The job has ended and no event came after `Last-Event-ID`: the stream is over."},
        **problem_responses(401, 404),
    },
    dependencies=[access.require(Action.JOB_READ, on=access.job_own_transaction)],
)
async def stream_job_events(job_id: str, events: EventsRequestDep) -> JobEventList | Response:
    """The job's status history (every transition with its time, actor and reason); or, with `Accept:
    text/event-stream`, its status changes and steps' starts and ends as they happen, until it ends."""
    engine = events.following.engine
    if not events.stream:
        async with engine.connect() as conn:
            return await service.events(conn, job_id)
    async with snapshot(engine) as conn:  # the stream holds no connection of the request
        jid, first = await stream.opening(conn, job_id, events.last_event_id)
    if first.last and not first.events:
        return Response(status_code=204)
    return StreamingResponse(
        stream.stream(events.following, jid, first),
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
