"""RFC 9457 problem+json rendering for every error the API can return."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from workflow_service.core.db import is_db_unavailable
from workflow_service.errors import DatabaseUnavailable, ProblemItem, ServiceError, json_path

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_BODY_TYPES = "application/json or application/yaml"
"""What a request body may be sent as, on every route that takes one."""
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


class ProblemError(ProblemItem):
    """One thing wrong with the request; for a body that does not parse, also where the parser stopped."""

    line: int | None = Field(default=None, description="Line of the body (from 1) where it does not parse.")
    column: int | None = Field(default=None, description="Column on that line (from 1), in characters.")
    offset: int | None = Field(default=None, description="Characters of the body before that point.")


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="Stable URI for the kind of problem: `urn:workflow-service:problem:<code>`.")
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[ProblemError] | None = None


def problem_type(code: str) -> str:
    return f"urn:workflow-service:problem:{code}"


def problem_response(
    status: int, code: str, title: str, detail: str, request: Request | None = None, **extra: Any
) -> Response:
    """A problem+json response. `headers=` go on the response; every other keyword is an extension member
    of the body (RFC 9457 §3.2), left out when None."""
    headers: dict[str, str] | None = extra.pop("headers", None)
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(orjson.dumps(body, default=str), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def payload_too_large(limit: int, request: Request | None = None, why: str = "WFS_MAX_BODY_BYTES") -> Response:
    """413 for a request body over its limit (`why` names it: WFS_MAX_BODY_BYTES, or a package upload's own).
    `Connection: close`, so that the client stops sending the rest and the server does not read it to reach the
    next request."""
    return problem_response(
        413,
        "payload_too_large",
        "Payload too large",
        f"request bodies are limited to {limit} bytes ({why})",
        request,
        headers={"Connection": "close"},
        limit=limit,
    )


def text_position(text: str, offset: int) -> tuple[int, int, int]:
    """(line, column, offset) of the character at `offset` in `text`, line and column from 1."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1, offset


def malformed_body(reason: str, request: Request | None = None, where: tuple[int, int, int] | None = None) -> Response:
    """400 for a body that does not parse (JSON, or YAML where a route takes it): `reason` says why, and
    `where` (line, column, character offset) at which point, when known."""
    item: dict[str, Any] = {"path": "$", "message": reason}
    detail = reason
    if where is not None:
        line, column, offset = where
        item.update(line=line, column=column, offset=offset)
        detail += f" at line {line}, column {column} (character {offset})"
    return problem_response(400, "malformed_body", "The request body does not parse", detail, request, errors=[item])


def _validation_items(exc: RequestValidationError) -> list[dict[str, str]]:
    items = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        if loc and loc[0] == "body":
            loc = loc[1:]
        elif loc and loc[0] in ("query", "path", "header"):
            kind = loc.pop(0)
            items.append({"path": f"{kind}:{'.'.join(str(p) for p in loc)}", "message": err["msg"]})
            continue
        items.append({"path": json_path(loc), "message": err["msg"]})
    return items


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error, expected or not, a problem+json response."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for db_error in (sa.exc.SQLAlchemyError, OSError):
        app.add_exception_handler(db_error, _database_error)
    app.add_exception_handler(Exception, _unexpected)


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    headers = {}
    if exc.status == 401:  # RFC 9110 §11.6.1: a 401 must say which authentication scheme to use.
        headers["WWW-Authenticate"] = "Bearer"
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(exc.retry_after_s)
    return problem_response(exc.status, exc.code, exc.title, exc.detail, request, headers=headers, **exc.extra)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, _first_line(exc))
    return await _service_error(
        request,
        DatabaseUnavailable(
            "the database is unreachable or dropped the connection; retry shortly (a submission with an "
            "Idempotency-Key is safe to retry)"
        ),
    )


async def _database_error(request: Request, exc: Exception) -> Response:
    # Database and socket errors: 503 when the database is not there, else a bug like any other.
    if is_db_unavailable(exc):
        return await _database_unavailable(request, exc)
    raise exc


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    syntax = next((err for err in errors if _is_body_syntax_error(err)), None)
    if syntax is not None and isinstance(exc.body, str):  # FastAPI's JSON parse failed: `body` is the text
        reason = f"the body is not valid JSON: {syntax.get('ctx', {}).get('error', syntax['msg'])}"
        return malformed_body(reason, request, text_position(exc.body, syntax["loc"][1]))
    if any(err["loc"][:1] == ("body",) and isinstance(err.get("input"), bytes) and err["input"] for err in errors):
        # FastAPI hands the route the raw bytes of a body whose Content-Type is not JSON (or none).
        return unsupported_media_type(request)
    items = _validation_items(exc)
    detail = "; ".join(f"{i['path']}: {i['message']}" for i in items[:5])
    return problem_response(422, "invalid_request", "The request is not valid", detail, request, errors=items)


def _is_body_syntax_error(err: dict[str, Any]) -> bool:
    """FastAPI's error for a JSON body that does not parse: at ("body", <character offset>)."""
    loc = err.get("loc", ())
    return err.get("type") == "json_invalid" and len(loc) == 2 and loc[0] == "body" and isinstance(loc[1], int)


def unsupported_media_type(request: Request) -> Response:
    """415 for a body sent without a JSON Content-Type (curl's `-d` alone sends a form's). YAML bodies are read
    too (app.YamlBodyMiddleware converts them), so the answer names both."""
    sent = request.headers.get("content-type")
    detail = f"send the body as {_BODY_TYPES} (with that Content-Type header); " + (
        f"this one was sent as {sent}" if sent else "this one had no Content-Type"
    )
    return problem_response(
        415,
        "unsupported_media_type",
        "Unsupported media type",
        detail,
        request,
        errors=[{"path": "header:content-type", "message": f"expected {_BODY_TYPES}"}],
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    unreadable = _unreadable_body(exc, request)
    if unreadable is not None:
        return unreadable
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    title = code.replace("_", " ").capitalize()
    return problem_response(exc.status_code, code, title, str(exc.detail), request, headers=dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    if is_db_unavailable(exc):  # e.g. raised as another type than those handled by _database_error
        return await _database_unavailable(request, exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "internal", "Internal error", "An unexpected error occurred.", request)


def _unreadable_body(exc: StarletteHTTPException, request: Request) -> Response | None:
    """The answer for a body that could not be decoded, when FastAPI's 400 is for one: JSON bytes that are not
    UTF-8, nesting deeper than the parser's recursion limit, or a multipart form (a package upload) that does not
    parse. The body's fault just as a syntax error is, so the same 400 `malformed_body` at `$`."""
    if exc.status_code != 400:
        return None
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        before = bytes(cause.object[: cause.start]).decode()  # valid up to the first bad byte
        reason = f"the body is not UTF-8 encoded JSON (invalid byte {cause.start})"
        return malformed_body(reason, request, text_position(before, len(before)))
    if isinstance(cause, RecursionError):
        return malformed_body("the JSON body is nested too deeply", request)
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return malformed_body(f"the body is not valid multipart/form-data: {str(exc.detail).rstrip('.')}", request)
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring problem+json for the given statuses."""
    return {s: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": "Problem"} for s in statuses}


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


_BODY_PROBLEMS = {
    "400": "The body does not parse (`malformed_body`): not JSON (or YAML, where the operation takes it); `errors` "
    "give the line, column and character offset where the parser stopped",
    "415": "The body was sent without a Content-Type the operation takes (`unsupported_media_type`): send it as "
    "`application/json` (YAML is read too, as `application/yaml`)",
}
"""What every operation with a request body may answer about the body itself, before reading it as its schema."""


def _database_unavailable_response() -> dict[str, Any]:
    return {
        "description": "The database is unavailable (`database_unavailable`); retry after `Retry-After` seconds",
        "headers": {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer"},
            }
        },
        "content": _problem_content(),
    }


def install_openapi_problems(app: FastAPI) -> None:
    """Make the schema tell the truth: every 4xx/5xx is `application/problem+json` with the Problem schema
    (FastAPI would document `application/json` and its own HTTPValidationError for 422)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = _with_problems(original())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_problems(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["Problem"] = problem_schema
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if "requestBody" in operation:
                for status, description in _BODY_PROBLEMS.items():
                    operation["responses"].setdefault(
                        status, {"description": description, "content": _problem_content()}
                    )
            _document_problems(operation.get("responses", {}))
    # Every /v1 request reaches the database (an API key is checked there before the route runs).
    for path, item in schema.get("paths", {}).items():
        if path.startswith("/v1/"):
            for operation in item.values():
                operation.setdefault("responses", {}).setdefault("503", _database_unavailable_response())
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def _document_problems(responses: dict[str, Any]) -> None:
    """An operation's 4xx/5xx answers declared with the Problem model or FastAPI's validation error: the
    problem+json media type, and the 422's description."""
    for status, response in responses.items():
        refs = orjson.dumps(response).decode()
        if status[:1] in ("4", "5") and ("/Problem" in refs or "/HTTPValidationError" in refs):
            response["content"] = _problem_content()
            if response.get("description") == "Validation Error":
                response["description"] = "The request is not valid"
