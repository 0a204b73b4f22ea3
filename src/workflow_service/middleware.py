"""The ASGI middleware that runs before any route: who is calling (before a body is read), and the request id.

`RequestIdMiddleware` gives every request an id: the client's `X-Request-Id` when it is a short token, else a
new one; it is sent back in the response's `X-Request-Id` and recorded in the audit entries the request writes
(`request_id`).

`AuthenticationMiddleware` records every refused credential (invalid, expired, revoked) in the audit log as a
sign-in failure (audit/sign_in.py); a request sending no credential at all is no sign-in, and records nothing.
"""

from __future__ import annotations

import re
import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workflow_service.access.credentials import WORKSPACE_HEADER, Authenticator, InvalidCredentials
from workflow_service.audit.recorder import Actor
from workflow_service.audit.sign_in import SignInFailure, SignInFailures
from workflow_service.deps import (
    AUTH_ERROR_SCOPE_KEY,
    IN_PROCESS_SCOPE_KEY,
    PRINCIPAL_SCOPE_KEY,
    REQUEST_ID_SCOPE_KEY,
    request_origin,
)
from workflow_service.errors import Unauthorized
from workflow_service.problems import problem_response

_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,100}")


class RequestIdMiddleware:
    """Every HTTP request gets an id (deps.REQUEST_ID_SCOPE_KEY), echoed in the `X-Request-Id` response header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = given.decode() if given is not None and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope[REQUEST_ID_SCOPE_KEY] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


HOOK_PATH = re.compile(r"/v1/hooks/[^/]+")
"""The path of an event trigger's URL (triggers/hook_router.py): authenticated by the trigger's own secret."""


def _routed_path(scope: Scope) -> str:
    """The request's path as the router will see it (under any root_path)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path


def _is_v1(scope: Scope) -> bool:
    """Whether the request is for a /v1 route."""
    path = _routed_path(scope)
    return path == "/v1" or path.startswith("/v1/")


PACKAGE_UPLOAD_PATH = re.compile(r"/v1/workflows(?:/[^/]+)?/import|/ui/workflows(?:/[^/]+/configuration)?/import")
"""The paths of the package imports (packages/import_router.py, and the dashboard's forms that post to them),
whose bodies may be larger than others'."""


def is_package_upload(scope: Scope) -> bool:
    """Whether the request posts a package to import."""
    return scope.get("method") == "POST" and PACKAGE_UPLOAD_PATH.fullmatch(_routed_path(scope)) is not None


def is_hook(scope: Scope) -> bool:
    """Whether the request is for an event trigger's URL, the one /v1 route the service's credentials do not open."""
    return HOOK_PATH.fullmatch(_routed_path(scope)) is not None


class AuthenticationMiddleware:
    """Resolve the caller of every /v1 request before anything reads its body: a request without valid
    credentials is answered 401 at once and its body is never read. The `authenticate` dependency returns
    what was resolved here (deps.PRINCIPAL_SCOPE_KEY). A refused credential is recorded as a sign-in failure.
    An event trigger's URL is passed by: its `Authorization`, if any, is the trigger's token, checked by the route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.failures = SignInFailures()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_v1(scope) or is_hook(scope) or _in_process(scope):
            await self.app(scope, receive, send)
            return
        authenticator: Authenticator = scope["app"].state.authenticator
        authorization, workspace = _credential_headers(scope)
        try:
            principal = await authenticator.resolve(authorization, workspace)
        except Unauthorized as exc:
            if isinstance(exc, InvalidCredentials):
                await self.failures.record(authenticator.engine, sign_in_failure(exc), request_origin(Request(scope)))
            await problem_response(
                exc.status, exc.code, exc.title, exc.detail, Request(scope), headers={"WWW-Authenticate": "Bearer"}
            )(scope, receive, send)
            return
        except Exception as exc:
            # Not an answer about the credentials (the database is unavailable, say): `authenticate` raises it
            # inside the app, where the problem handlers answer it; the app sees an empty body meanwhile.
            scope[AUTH_ERROR_SCOPE_KEY] = exc
            receive = _without_body(receive)
        else:
            scope[PRINCIPAL_SCOPE_KEY] = principal
        await self.app(scope, receive, send)


_WORKSPACE_HEADER = WORKSPACE_HEADER.lower().encode()


def _in_process(scope: Scope) -> bool:
    """A request the dashboard made in-process as its signed-in person (ui/api.py): its caller is resolved."""
    return scope.get(IN_PROCESS_SCOPE_KEY) is True and scope.get(PRINCIPAL_SCOPE_KEY) is not None


def sign_in_failure(exc: InvalidCredentials) -> SignInFailure:
    """The sign-in failure of a refused credential: its holder's, when the credential is known."""
    if exc.actor is None:
        return SignInFailure(exc.detail, exc.workspace_id)
    return SignInFailure(exc.detail, exc.workspace_id, Actor(exc.actor, exc.actor_name or exc.actor))


def _credential_headers(scope: Scope) -> tuple[str | None, str | None]:
    """The `Authorization` and `Wfs-Workspace` headers of a request."""
    authorization = workspace = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == _WORKSPACE_HEADER:
            workspace = value.decode("latin-1")
    return authorization, workspace


def _without_body(receive: Receive) -> Receive:
    first = True

    async def replay() -> Message:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    return replay
