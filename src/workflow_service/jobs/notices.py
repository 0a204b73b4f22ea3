"""A job's own completion notice: a submission may name a `notify_url`, and when the job ends a signed webhook
goes there, besides the workflow's push callback.

The notice is a delivery like a push callback (deliveries/): queued in the transaction that ends the job (the
`notify_delivery` follow-up, jobs/follow_ups.py), signed per Standard Webhooks with the workflow's signing
secrets, sent and retried on the same schedule, every attempt recorded. It differs in two ways: it goes to the
job's URL (stored on the delivery), and it carries no `Authorization` header, since the workflow's push access
token is for the workflow's own callback URL, not for a URL each submitter chooses.

The URL is checked when the job is submitted, like a callback URL in the settings: absolute http(s), to a host
the outbound policy allows (resolved now; the sender checks again when it connects). The workflow must have a
signing secret then (made by enabling push, or by `rotate-signing-secret`): a notice is never sent unsigned.
"""

from __future__ import annotations

from typing import Any

from workflow_service.core.http import OutboundError, OutboundPolicy, check_url
from workflow_service.errors import InvalidInput
from workflow_service.workflows import settings as endpoint_settings

PATH = "$.notify_url"


async def check_notify_url(policy: OutboundPolicy, url: str | None) -> None:
    """422 naming `notify_url` unless it is an absolute http(s) URL to a host the outbound policy allows."""
    if url is None:
        return
    try:
        await check_url(policy, url)
    except OutboundError as exc:
        raise InvalidInput(f"notify_url: {exc}", errors=[{"path": PATH, "message": str(exc)}]) from exc


def check_signable(slug: str, stored_settings: dict[str, Any]) -> None:
    """422 naming `notify_url` when the workflow has no signing secret to sign the notice with."""
    if not endpoint_settings.can_sign(stored_settings):
        message = (
            f"workflow {slug!r} has no signing secret to sign notices with; enable push, or make one with "
            "POST /v1/workflows/{workflow}/settings/rotate-signing-secret"
        )
        raise InvalidInput(f"notify_url: {message}", errors=[{"path": PATH, "message": message}])
