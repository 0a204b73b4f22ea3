from __future__ import annotations

from fastapi import APIRouter

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.core.ids import parse_uuid
from workflow_service.deliveries import service
from workflow_service.deliveries.schemas import AttemptRead, DeliveryList
from workflow_service.deps import AuthorDep, ServicesDep, UowDep
from workflow_service.errors import NotFound
from workflow_service.problems import problem_responses

router = APIRouter(prefix="/v1/jobs/{job_id}/deliveries", tags=["deliveries"])


@router.get(
    "",
    response_model=DeliveryList,
    responses=problem_responses(401, 403, 404),
    dependencies=[access.require(Action.JOB_READ, on=access.job)],
)
async def list_deliveries(job_id: str, uow: UowDep) -> DeliveryList:
    """The job's deliveries (its push callback, its own notice to its `notify_url`) with every attempt (time,
    status code, response snippet, error, duration)."""
    jid = parse_uuid(job_id)
    if jid is None:
        raise NotFound(f"job {job_id!r} does not exist")
    return await service.list_for_job(uow.conn, jid)


# No request unit of work here (the access check looks the job up, for a key only, in a short transaction of
# its own): the service reads, sends and records in short transactions of its own, none open across the
# callback, which on SQLite would hold the one write lock that its own record (and every submission) waits for.
@router.post(
    "/redeliver",
    status_code=201,
    response_model=AttemptRead,
    responses=problem_responses(401, 403, 404, 409),
    dependencies=[access.require(Action.JOB_REDELIVER, on=access.job_own_transaction)],
)
async def redeliver_callback(job_id: str, services: ServicesDep, author: AuthorDep) -> AttemptRead:
    """Send the job's callback again now (its push callback, else its own notice): a new attempt with the same
    webhook-id."""
    jid = parse_uuid(job_id)
    if jid is None:
        raise NotFound(f"job {job_id!r} does not exist")
    return await service.redeliver(services.engine, services.http, services.settings, jid, author)
