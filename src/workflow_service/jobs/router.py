from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.access.principal import Principal
from workflow_service.core.db import unit_of_work
from workflow_service.core.secrets import secrets_for
from workflow_service.deps import PrincipalDep, Services, ServicesDep, UowDep
from workflow_service.jobs import estimate, lineage, service
from workflow_service.jobs.schemas import Estimate, JobCreate, JobDuplicate, JobEventList, JobPage, JobRead, RunFromStep
from workflow_service.jobs.states import is_terminal
from workflow_service.problems import problem_responses

router = APIRouter(tags=["jobs"])


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Same key + same body returns the same job (24 h+).",
    ),
]
Prefer = Annotated[str | None, Header(description="RFC 7240; `wait=N` shortens the sync wait to N seconds.")]
INVOKE_RESPONSES = problem_responses(401, 403, 404, 409, 422)
CallerDep = Annotated[Principal, access.require(Action.JOB_SUBMIT, on=access.workflow)]
"""The caller of a submission endpoint, allowed to submit to the workflow in the path."""
EstimatorDep = Annotated[Principal, access.require(Action.JOB_ESTIMATE, on=access.workflow)]


def _prefer_wait(prefer: str | None) -> int | None:
    for token in (prefer or "").replace(";", ",").split(","):
        name, _, value = token.strip().partition("=")
        if name.lower() == "wait" and value.strip().isdigit():
            return int(value.strip())
    return None


async def _submit(
    services: Services,
    workflow: str,
    version: str,
    data: JobCreate,
    caller: Principal,
    mode: str,
    key: str | None,
    response: Response,
) -> service.Submitted:
    async with unit_of_work(services.engine) as uow:
        submitted = await service.submit(
            uow,
            services.plans,
            services.dispatcher,
            workflow,
            version,
            data,
            actor=caller.actor,
            max_attempts=services.settings.max_attempts,
            mode=mode,
            idempotency_key=key,
            secrets=secrets_for(services.settings),
        )
    response.headers["Location"] = f"/v1/jobs/{submitted.job.id}"
    if submitted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return submitted


@router.post(
    "/v1/workflows/{workflow}/versions/{version}/async",
    status_code=202,
    response_model=JobRead,
    responses=INVOKE_RESPONSES,
)
async def submit_async(
    workflow: str,
    version: str,
    data: JobCreate,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobRead:
    """Submit a job to a deployed version (a number or `current`); poll its Location for the result."""
    return (await _submit(services, workflow, version, data, caller, "async", idempotency_key, response)).job


@router.post(
    "/v1/workflows/{workflow}/versions/{version}/push",
    status_code=202,
    response_model=JobRead,
    responses=INVOKE_RESPONSES,
)
async def submit_push(
    workflow: str,
    version: str,
    data: JobCreate,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> JobRead:
    """Submit a job whose result is POSTed, signed, to the workflow's callback URL when it ends (409 if push
    is not configured)."""
    return (await _submit(services, workflow, version, data, caller, "push", idempotency_key, response)).job


@router.post(
    "/v1/workflows/{workflow}/versions/{version}/sync",
    response_model=JobRead,
    responses={202: {"model": JobRead, "description": "Not ended within the wait; poll Location"}, **INVOKE_RESPONSES},
)
async def submit_sync(
    workflow: str,
    version: str,
    data: JobCreate,
    services: ServicesDep,
    caller: CallerDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    prefer: Prefer = None,
) -> JobRead:
    """Submit a job and wait for it: 200 with the job once it ends (whatever its status), or 202 with
    Location if it is still going after the workflow's sync timeout or `Prefer: wait=N`. The job keeps
    running either way; disconnecting does not cancel it."""
    submitted = await _submit(services, workflow, version, data, caller, "sync", idempotency_key, response)
    wait_s = submitted.sync_timeout_s
    asked = _prefer_wait(prefer)
    if asked is not None:
        wait_s = min(asked, wait_s)
        response.headers["Preference-Applied"] = f"wait={wait_s}"
    job = await service.wait_for_end(services.engine, services.notifier, submitted.job.id, wait_s)
    if not is_terminal(job.status):
        response.status_code = 202
    return job


@router.post(
    "/v1/workflows/{workflow}/versions/{version}/estimate", response_model=Estimate, responses=INVOKE_RESPONSES
)
async def estimate_job(
    workflow: str, version: str, data: JobCreate, uow: UowDep, services: ServicesDep, caller: EstimatorDep
) -> Estimate:
    """Estimate a job's input and output tokens and credits per llm step, without running it (see
    docs/invocation.md for how)."""
    estimator = estimate.Estimator(
        services.plans, services.settings.pricing, secrets_for(services.settings), services.settings.template_limits
    )
    return await estimate.estimate(uow.conn, estimator, workflow, version, data)


@router.post(
    "/v1/jobs/{job_id}/cancel",
    response_model=JobRead,
    responses=problem_responses(401, 403, 404, 409),
    dependencies=[access.require(Action.JOB_CANCEL, on=access.job)],
)
async def cancel_job(job_id: str, uow: UowDep, services: ServicesDep, principal: PrincipalDep) -> JobRead:
    """Cancel a job: pending ones at once, running ones stopped mid-step within about a second; 409 if it
    has already ended."""
    return await service.cancel(uow, services.notifier, job_id, actor=principal.actor)


LINEAGE_RESPONSES = problem_responses(401, 403, 404, 409, 422)


def _created(response: Response, job: JobRead) -> JobRead:
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.post(
    "/v1/jobs/{job_id}/rerun",
    status_code=201,
    response_model=JobRead,
    responses=LINEAGE_RESPONSES,
    dependencies=[access.require(Action.JOB_RERUN, on=access.job)],
)
async def rerun_job(
    job_id: str, uow: UowDep, services: ServicesDep, principal: PrincipalDep, response: Response
) -> JobRead:
    """Run a job again as a new job (same version, inputs and variables) linked to it; the source is untouched."""
    job = await lineage.rerun(
        uow,
        services.plans,
        services.dispatcher,
        job_id,
        actor=principal.actor,
        max_attempts=services.settings.max_attempts,
    )
    return _created(response, job)


@router.post(
    "/v1/jobs/{job_id}/run-from-step",
    status_code=201,
    response_model=JobRead,
    responses=LINEAGE_RESPONSES,
    dependencies=[access.require(Action.JOB_RERUN, on=access.job)],
)
async def run_job_from_step(
    job_id: str, data: RunFromStep, uow: UowDep, services: ServicesDep, principal: PrincipalDep, response: Response
) -> JobRead:
    """A new job that reuses the results of the steps before `step` and runs from there, optionally with other
    inputs, variables or version (whose earlier steps must be identical); 409 if those results are missing."""
    job = await lineage.run_from_step(
        uow,
        services.plans,
        services.dispatcher,
        job_id,
        data,
        actor=principal.actor,
        max_attempts=services.settings.max_attempts,
    )
    return _created(response, job)


@router.post(
    "/v1/jobs/{job_id}/duplicate",
    status_code=201,
    response_model=JobRead,
    responses=LINEAGE_RESPONSES,
    dependencies=[access.require(Action.JOB_RERUN, on=access.job)],
)
async def duplicate_job(
    job_id: str, data: JobDuplicate, uow: UowDep, services: ServicesDep, principal: PrincipalDep, response: Response
) -> JobRead:
    """A new job with the same configuration: started now, or left `new` until `POST /v1/jobs/{id}/start`."""
    job = await lineage.duplicate(
        uow,
        services.plans,
        services.dispatcher,
        job_id,
        data,
        actor=principal.actor,
        max_attempts=services.settings.max_attempts,
    )
    return _created(response, job)


@router.post(
    "/v1/jobs/{job_id}/start",
    response_model=JobRead,
    responses=problem_responses(401, 403, 404, 409),
    dependencies=[access.require(Action.JOB_START, on=access.job)],
)
async def start_job(job_id: str, uow: UowDep, services: ServicesDep, principal: PrincipalDep) -> JobRead:
    """Start a `new` job (new -> pending, then queued); 409 with its status if it is not `new`."""
    return await lineage.start(uow, services.dispatcher, job_id, actor=principal.actor)


@router.get(
    "/v1/jobs",
    response_model=JobPage,
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[access.require(Action.JOB_LIST)],
)
async def list_jobs(
    uow: UowDep,
    workflow: str | None = None,
    status: Annotated[list[str] | None, Query(description="Repeat or comma-separate.")] = None,
    pool: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JobPage:
    """List jobs, newest first, filtered by workflow (id or slug), status and pool."""
    statuses = [s for value in status or [] for s in value.split(",") if s]
    return await service.list_page(
        uow.conn, workflow=workflow, statuses=statuses, pool=pool, cursor=cursor, limit=limit
    )


@router.get(
    "/v1/jobs/{job_id}",
    response_model=JobRead,
    responses=problem_responses(401, 404),
    dependencies=[access.require(Action.JOB_READ, on=access.job)],
)
async def get_job(
    job_id: str,
    uow: UowDep,
    steps: Annotated[
        bool,
        Query(description="`false`: leave out the step records (`steps` is null), which can be large; nor read them."),
    ] = True,
) -> JobRead:
    """Get a job: status, inputs, output, error and every step's record (`?steps=false` leaves them out)."""
    return await service.get(uow.conn, job_id, with_steps=steps)


@router.get(
    "/v1/jobs/{job_id}/events",
    response_model=JobEventList,
    responses=problem_responses(401, 404),
    dependencies=[access.require(Action.JOB_READ, on=access.job)],
)
async def job_events(job_id: str, uow: UowDep) -> JobEventList:
    """The job's status history: every transition with its time, actor and reason."""
    return await service.events(uow.conn, job_id)
