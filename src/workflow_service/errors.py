"""Domain errors. Each class carries its HTTP status, a stable code and a title; problems.py renders them.

Free of the web framework, so that the engine and the services can say what is wrong and where
(`ProblemItem`, `json_path`) without importing FastAPI."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel


class ProblemItem(BaseModel):
    """One thing wrong with the request, with where it is (a JSON path such as `$.inputs.name`)."""

    path: str
    message: str


def json_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """Render a location tuple as a JSON path: ('inputs', 'items', 0) -> `$.inputs.items[0]`."""
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{orjson.dumps(part).decode()}]"
    return out


class ServiceError(Exception):
    status: int = 500
    code: str = "internal"
    title: str = "Internal error"
    retry_after_s: int | None = None
    """Sent as `Retry-After` when set."""

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFound(ServiceError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(ServiceError):
    status, code, title = 409, "conflict", "Conflict"


class NotDeployed(ServiceError):
    status, code, title = 409, "not_deployed", "Workflow has no deployed version"


class InvalidDefinition(ServiceError):
    status, code, title = 422, "invalid_definition", "The workflow definition is not valid"


class InvalidInput(ServiceError):
    status, code, title = 422, "invalid_input", "The request is not valid"


class GuardrailBlocked(ServiceError):
    """A `block` input guardrail matched; `errors` name the scanner and the path (never the matched text)."""

    status, code, title = 422, "guardrail_blocked", "A guardrail blocked the inputs"


class Unauthorized(ServiceError):
    status, code, title = 401, "unauthorized", "Missing or invalid credentials"


class WorkspaceRequired(ServiceError):
    """A credential that may act in several workspaces did not name one (the `Wfs-Workspace` header)."""

    status, code, title = 400, "workspace_required", "Name the workspace to act in"


class Forbidden(ServiceError):
    status, code, title = 403, "forbidden", "Not allowed"


class OutboundRefused(ServiceError):
    """An outbound request's target is not allowed (private address, bad scheme, ...)."""

    status, code, title = 422, "outbound_refused", "Outbound request refused"


class Unavailable(ServiceError):
    status, code, title = 503, "unavailable", "A dependency is unavailable"


class DatabaseUnavailable(Unavailable):
    """The database is unreachable or dropped the connection (core.db.is_db_unavailable): any route,
    at any point of the request, including its commit. The service reconnects by itself."""

    status, code, title = 503, "database_unavailable", "The database is unavailable"
    retry_after_s = 2


class PushNotConfigured(ServiceError):
    status, code, title = 409, "push_not_configured", "Push is not configured for this workflow"


class IdempotencyKeyReused(ServiceError):
    status, code, title = 422, "idempotency_key_reused", "Idempotency-Key reused with a different request"


class JobEnded(ServiceError):
    status, code, title = 409, "job_ended", "The job has already ended"


class NoOutput(ServiceError):
    """A job's output asked for as a file before the job has ended, or a step's that has none (not run, running,
    failed or skipped); `job_status` (and `step_status`) say where it stands."""

    status, code, title = 409, "no_output", "There is no output to download yet"


class JobNotNew(ServiceError):
    status, code, title = 409, "job_not_new", "Only a job in the `new` state can be started"


class VariablesLocked(JobNotNew):
    """A change of a job's variables once it has started (same code: the job is not `new`)."""

    title = "Only a job in the `new` state can have its variables changed"


class WorkflowHasActiveJobs(ServiceError):
    status, code, title = 409, "workflow_has_active_jobs", "The workflow has jobs that have not ended"


class StepsNotCompleted(ServiceError):
    status, code, title = 409, "steps_not_completed", "The source job has not completed the earlier steps"


class StepsDiffer(ServiceError):
    status, code, title = 409, "steps_differ", "The earlier steps differ between the versions"


class InvalidSignature(ServiceError):
    """An event posted to a trigger without a valid Standard Webhooks signature of the trigger's secret."""

    status, code, title = 401, "invalid_signature", "The event's signature does not verify"


class StaleTimestamp(ServiceError):
    """An event whose `webhook-timestamp` is too far from now (a replay, or a sender's clock far off)."""

    status, code, title = 401, "stale_timestamp", "The event's timestamp is outside the tolerance"


class TriggerPaused(ServiceError):
    status, code, title = 409, "trigger_paused", "The trigger is paused"


class PayloadTooLarge(ServiceError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class MalformedBody(ServiceError):
    status, code, title = 400, "malformed_body", "The request body does not parse"


class UnsupportedMediaType(ServiceError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"
