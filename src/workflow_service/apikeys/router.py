from __future__ import annotations

from fastapi import APIRouter, Response

from workflow_service.access import routes as access
from workflow_service.access.policy import Action
from workflow_service.apikeys import service
from workflow_service.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyList
from workflow_service.audit.recorder import Entry
from workflow_service.deps import AuditDep, UowDep, WorkflowPathDep
from workflow_service.problems import problem_responses

router = APIRouter(prefix="/v1/workflows/{workflow}/api-keys", tags=["api-keys"])


@router.post(
    "",
    dependencies=[access.require(Action.APIKEY_MANAGE, on=access.workflow)],
    status_code=201,
    response_model=ApiKeyCreated,
    responses=problem_responses(401, 403, 404, 422),
)
async def create_api_key(workflow: WorkflowPathDep, data: ApiKeyCreate, audit: AuditDep) -> ApiKeyCreated:
    """Issue an API key for the workflow's endpoints, optionally expiring; the response is the only time the key
    is shown."""
    created = await service.create(audit.uow.conn, workflow, data, audit.principal.actor)
    expiring = f", expiring {created.expires_at.isoformat()}" if created.expires_at is not None else ""
    entry = Entry(
        action="apikey.created",
        description=f"issued API key {created.name!r} ({created.prefix}) for workflow {created.workflow.slug!r}"
        + expiring,
        target_id=str(created.id),
        target_name=created.name,
        workflow_id=created.workflow.id,
    )
    await audit.record(entry)
    return created


@router.get(
    "",
    dependencies=[access.require(Action.APIKEY_MANAGE, on=access.workflow)],
    response_model=ApiKeyList,
    responses=problem_responses(401, 403, 404),
)
async def list_api_keys(workflow: WorkflowPathDep, uow: UowDep) -> ApiKeyList:
    """List the workflow's active API keys: name, prefix and last use, never the key."""
    return await service.list_keys(uow.conn, workflow)


@router.delete(
    "/{key_id}",
    dependencies=[access.require(Action.APIKEY_MANAGE, on=access.workflow)],
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404),
)
async def revoke_api_key(workflow: WorkflowPathDep, key_id: str, audit: AuditDep) -> Response:
    """Revoke an API key; requests using it are refused from the next one on."""
    revoked = await service.revoke(audit.uow.conn, workflow, key_id)
    entry = Entry(
        action="apikey.revoked",
        description=f"revoked API key {revoked.name!r} of workflow {revoked.workflow.slug!r}",
        target_id=str(revoked.id),
        target_name=revoked.name,
        workflow_id=revoked.workflow.id,
    )
    await audit.record(entry)
    return Response(status_code=204)
