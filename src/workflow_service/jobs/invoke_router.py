"""The invocation endpoints of a deployed workflow version: submit (sync, async, push) and estimate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.access.principal import Principal
from workflow_service.context import Context
from workflow_service.core.db import unit_of_work
from workflow_service.deps import BaseUrlDep, ServicesDep, UowDep, WorkflowPathDep
from workflow_service.jobs import estimate, notices, service
from workflow_service.jobs.schemas import Estimate, JobCreate, JobRead
from workflow_service.jobs.states import is_terminal
from workflow_service.problems import problem_responses
from workflow_service.workflows.refs import ScopedRef

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
RETRY_AFTER_S = 1
"""What a 202 tells a client to wait before it asks for the job (or ask with `Prefer: wait=N`, and be told
as soon as it changes)."""
LOCATION = {"description": "The job's absolute URL.", "schema": {"type": "string", "format": "uri"}}
RETRY_AFTER = {"description": "Seconds to wait before asking for the job.", "schema": {"type": "integer"}}
ACCEPTED = {"headers": {"Location": LOCATION, "Retry-After": RETRY_AFTER}}
CallerDep = Annotated[Principal, access.require(Action.JOB_SUBMIT, on=access.workflow)]
"""The caller of a submission endpoint, allowed to submit to the workflow in the path."""
EstimatorDep = Annotated[Principal, access.require(Action.JOB_ESTIMATE, on=access.workflow)]


@dataclass(frozen=True)
class Invocation:
    """A call to a deployed version's endpoint: the `{workflow}` and `{version}` in its path, and its body."""

    workflow: ScopedRef
    version: str
    data: JobCreate


async def _invocation(workflow: WorkflowPathDep, version: str, data: JobCreate) -> Invocation:
    return Invocation(workflow, version, data)


InvocationDep = Annotated[Invocation, Depends(_invocation)]


@dataclass(frozen=True)
class SubmitRequest:
    """An invocation that submits a job: its caller, allowed to submit, its Idempotency-Key, and the base of
    the job's URL in the answer."""

    caller: Principal
    invocation: Invocation
    idempotency_key: str | None
    base_url: str


async def _submit_request(
    caller: CallerDep, invocation: InvocationDep, base_url: BaseUrlDep, idempotency_key: IdempotencyKey = None
) -> SubmitRequest:
    return SubmitRequest(caller, invocation, idempotency_key, base_url)


SubmitRequestDep = Annotated[SubmitRequest, Depends(_submit_request)]


def wait_in(prefer: str | None) -> int | None:
    """The `wait=N` of a Prefer header, if any."""
    for token in (prefer or "").replace(";", ",").split(","):
        name, _, value = token.strip().partition("=")
        if name.lower() == "wait" and value.strip().isdigit():
            return int(value.strip())
    return None


async def _prefer_wait(prefer: Prefer = None) -> int | None:
    return wait_in(prefer)


def job_url(base_url: str, job_id: object) -> str:
    return f"{base_url}/v1/jobs/{job_id}"


async def _submit(services: Context, submit_request: SubmitRequest, mode: str, response: Response) -> service.Submitted:
    invocation = submit_request.invocation
    await notices.check_notify_url(services.policy, invocation.data.notify_url)  # before the transaction: DNS
    submission = service.Submission(
        workflow=invocation.workflow,
        version=invocation.version,
        data=invocation.data,
        actor=submit_request.caller.actor,
        actor_name=submit_request.caller.name,
        mode=mode,
        idempotency_key=submit_request.idempotency_key,
        target=await services.targets.resolve(invocation.workflow, invocation.version),
    )
    async with unit_of_work(services.engine) as uow:
        submitted = await service.submit(uow, services, submission)
    response.headers["Location"] = job_url(submit_request.base_url, submitted.job.id)
    if submitted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return submitted


def _accepted(response: Response) -> None:
    response.status_code = 202
    response.headers["Retry-After"] = str(RETRY_AFTER_S)


@router.post(
    "/v1/workflows/{workflow}/versions/{version}/async",
    status_code=202,
    response_model=JobRead,
    responses={202: ACCEPTED, **INVOKE_RESPONSES},
)
async def submit_async(submit_request: SubmitRequestDep, services: ServicesDep, response: Response) -> JobRead:
    """Submit a job to a deployed version (a number or `current`); follow its Location for the result."""
    submitted = await _submit(services, submit_request, "async", response)
    _accepted(response)
    return submitted.job


@router.post(
    "/v1/workflows/{workflow}/versions/{version}/push",
    status_code=202,
    response_model=JobRead,
    responses={202: ACCEPTED, **INVOKE_RESPONSES},
)
async def submit_push(submit_request: SubmitRequestDep, services: ServicesDep, response: Response) -> JobRead:
    """Submit a job whose result is POSTed, signed, to the workflow's callback URL when it ends (409 if push
    is not configured)."""
    submitted = await _submit(services, submit_request, "push", response)
    _accepted(response)
    return submitted.job


@router.post(
    "/v1/workflows/{workflow}/versions/{version}/sync",
    response_model=JobRead,
    responses={
        202: {"model": JobRead, "description": "Not ended within the wait; follow Location", **ACCEPTED},
        **INVOKE_RESPONSES,
    },
)
async def submit_sync(
    submit_request: SubmitRequestDep,
    services: ServicesDep,
    response: Response,
    asked: Annotated[int | None, Depends(_prefer_wait)],
) -> JobRead:
    """Submit a job and wait for it: 200 with the job once it ends (whatever its status), or 202 with
    Location if it is still going after the workflow's sync timeout or `Prefer: wait=N`. The job keeps
    running either way; disconnecting does not cancel it."""
    submitted = await _submit(services, submit_request, "sync", response)
    wait_s = submitted.sync_timeout_s
    if asked is not None:
        wait_s = min(asked, wait_s)
        response.headers["Preference-Applied"] = f"wait={wait_s}"
    viewer = submit_request.caller.actor  # its creator
    job = await service.wait_for_end(services.engine, services.notifier, submitted.job.id, wait_s, viewer=viewer)
    if not is_terminal(job.status):
        _accepted(response)
    return job


@router.post(
    "/v1/workflows/{workflow}/versions/{version}/estimate", response_model=Estimate, responses=INVOKE_RESPONSES
)
async def estimate_job(caller: EstimatorDep, invocation: InvocationDep, uow: UowDep, services: ServicesDep) -> Estimate:
    """Estimate a job's input and output tokens and credits per llm step, without running it (see
    docs/invocation.md for how)."""
    estimator = estimate.Estimator(services.plans, services.pricing, services.secrets, services.limits)
    return await estimate.estimate(uow.conn, estimator, invocation.workflow, invocation.version, invocation.data)
