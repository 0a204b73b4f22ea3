from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from workflow_service.deps import ActorDep, ServicesDep, UowDep
from workflow_service.jobs import service
from workflow_service.jobs.schemas import JobCreate, JobEventList, JobPage, JobRead
from workflow_service.problems import problem_responses

router = APIRouter(tags=["jobs"])


@router.post(
    "/v1/workflows/{workflow}/versions/{version}/async",
    status_code=202,
    response_model=JobRead,
    responses=problem_responses(401, 404, 409, 422),
)
async def submit_async(
    workflow: str,
    version: str,
    data: JobCreate,
    uow: UowDep,
    services: ServicesDep,
    actor: ActorDep,
    response: Response,
) -> JobRead:
    """Submit a job to a deployed version (a number or `current`); poll its Location for the result."""
    job = await service.submit(
        uow,
        services.plans,
        services.dispatcher,
        workflow,
        version,
        data,
        actor=actor,
        max_attempts=services.settings.max_attempts,
    )
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job


@router.get("/v1/jobs", response_model=JobPage, responses=problem_responses(401, 404, 422))
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


@router.get("/v1/jobs/{job_id}", response_model=JobRead, responses=problem_responses(401, 404))
async def get_job(job_id: str, uow: UowDep) -> JobRead:
    """Get a job: status, inputs, output, error and every step's record."""
    return await service.get(uow.conn, job_id)


@router.get("/v1/jobs/{job_id}/events", response_model=JobEventList, responses=problem_responses(401, 404))
async def job_events(job_id: str, uow: UowDep) -> JobEventList:
    """The job's status history: every transition with its time, actor and reason."""
    return await service.events(uow.conn, job_id)
