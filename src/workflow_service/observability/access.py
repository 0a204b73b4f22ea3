"""Who may read the metrics (WFS_METRICS): `open`, anyone; `off`, no one (the route is not served); `token`, the
scraper's own token (WFS_METRICS_TOKEN) or a principal the access policy lets read them (`metrics.read`: the
operator only, since the metrics name every workspace's workflows).

The API resolves any other credential as /v1 does (access/credentials.py): a refused one is a 401 recorded
as a sign-in failure, a valid one the policy refuses (a user, an API key) a 403. A worker's own metrics port
(observability/worker_port.py) has no database lookups: it takes the scraper's token or the operator's."""

from __future__ import annotations

import hmac

from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import Request

from workflow_service.access.credentials import Authenticator, InvalidCredentials
from workflow_service.access.policy import SERVICE, Action
from workflow_service.access.routes import check
from workflow_service.audit.sign_in import SignInFailures
from workflow_service.config import Settings
from workflow_service.deps import request_origin
from workflow_service.errors import Unauthorized
from workflow_service.middleware import sign_in_failure

ASK = "send `Authorization: Bearer <token>` with WFS_METRICS_TOKEN or the operator token"


def _bearer(authorization: str | None) -> str | None:
    scheme, token = get_authorization_scheme_param(authorization)
    return token if authorization and token and scheme.lower() == "bearer" else None


def _matches(token: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(token.encode(), expected.encode())


def scrape_token(settings: Settings, authorization: str | None, *, operator: bool = False) -> bool:
    """Whether the `Authorization` header carries WFS_METRICS_TOKEN (or, with `operator`, the operator token)."""
    token = _bearer(authorization)
    if token is None:
        return False
    secrets = [settings.metrics_token, settings.admin_token if operator else None]
    return any(_matches(token, s.get_secret_value()) for s in secrets if s is not None)


async def authorize(request: Request, settings: Settings, failures: SignInFailures) -> None:
    """Raise unless the request may read the API's metrics (see the module docstring)."""
    if settings.metrics == "open":
        return
    authorization = request.headers.get("authorization")
    if scrape_token(settings, authorization):
        return
    if _bearer(authorization) is None:
        raise Unauthorized(ASK)
    authenticator: Authenticator = request.app.state.authenticator
    try:
        principal = await authenticator.resolve(authorization, None)
    except InvalidCredentials as exc:
        await failures.record(authenticator.engine, sign_in_failure(exc), request_origin(request))
        raise
    check(principal, Action.METRICS_READ, SERVICE)
