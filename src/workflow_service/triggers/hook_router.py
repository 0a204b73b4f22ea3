"""The public URL of an event trigger: `POST /v1/hooks/{trigger_id}`.

It is the one /v1 route the service's credentials do not open: the authentication middleware passes it by (its
path is `middleware.HOOK_PATH`) and it is not under the authenticated router, so a bearer token is not read as
the caller's. The event authenticates by the trigger's own secret instead (triggers/receive.py), and an unknown
or deleted trigger is a 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from workflow_service.deps import BaseUrlDep, OwnBodyRoute, ServicesDep
from workflow_service.problems import problem_responses
from workflow_service.triggers import receive
from workflow_service.triggers.schemas import HookAccepted

router = APIRouter(tags=["hooks"], route_class=OwnBodyRoute)
LOCATION = {"Location": {"description": "The job's absolute URL.", "schema": {"type": "string", "format": "uri"}}}
EVENT_BODY = {
    "requestBody": {
        "required": True,
        "description": "The event: any JSON value, read by the trigger's mapping as `event`.",
        "content": {"application/json": {"schema": {}}},
    },
    "parameters": [
        {
            "name": name,
            "in": "header",
            "required": False,
            "description": description,
            "schema": {"type": "string"},
        }
        for name, description in (
            ("webhook-id", "The event's id (Standard Webhooks): a redelivery with the same id makes no second job."),
            ("webhook-timestamp", "When it was sent, in Unix seconds: at most 5 minutes from now."),
            (
                "webhook-signature",
                "`v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the trigger's `whsec_…` secret.",
            ),
            ("Idempotency-Key", "For a bearer trigger without `webhook-id`: the event's id, for the same purpose."),
        )
    ],
}


@router.post(
    "/v1/hooks/{trigger_id}",
    status_code=202,
    response_model=HookAccepted,
    responses={
        200: {
            "model": HookAccepted,
            "description": "A redelivery: the job the first delivery created",
            "headers": LOCATION,
        },
        202: {"description": "The event created a job", "headers": LOCATION},
        **problem_responses(400, 401, 404, 409, 413, 415, 422),
    },
    openapi_extra=EVENT_BODY,
)
async def receive_event(
    trigger_id: str, request: Request, services: ServicesDep, base_url: BaseUrlDep, response: Response
) -> HookAccepted:
    """Post an event to a trigger, authenticated by the trigger's secret (a Standard Webhooks signature, or
    `Authorization: Bearer <the trigger's token>`), not by the service's credentials: 202 with the job it created,
    200 with the same job for a redelivery; a refused event gets its problem, and is recorded in the trigger's
    events."""
    posted = receive.Posted(trigger_id, request.headers, request.stream())
    received = await receive.receive(services, posted)
    response.headers["Location"] = f"{base_url}/v1/jobs/{received.job_id}"
    if received.duplicate:
        response.status_code = 200
    return HookAccepted(job_id=received.job_id, duplicate=received.duplicate, webhook_id=received.webhook_id)
