"""RFC 9457 problem+json rendering for every error the API can return."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from workflow_service.errors import ServiceError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
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


class ProblemItem(BaseModel):
    """One thing wrong with the request, with where it is (a JSON path such as `$.inputs.name`)."""

    path: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="Stable URI for the kind of problem: `urn:workflow-service:problem:<code>`.")
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    errors: list[ProblemItem] | None = None


def problem_type(code: str) -> str:
    return f"urn:workflow-service:problem:{code}"


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    request: Request | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
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


def payload_too_large(limit: int, request: Request | None = None) -> Response:
    """413 for a request body over WFS_MAX_BODY_BYTES. `Connection: close`, so that the client stops sending
    the rest and the server does not read it to reach the next request."""
    return problem_response(
        413,
        "payload_too_large",
        "Payload too large",
        f"request bodies are limited to {limit} bytes (WFS_MAX_BODY_BYTES)",
        request,
        headers={"Connection": "close"},
        limit=limit,
    )


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

    async def service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        # RFC 9110 §11.6.1: a 401 must say which authentication scheme to use.
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return problem_response(exc.status, exc.code, exc.title, exc.detail, request, headers=headers, **exc.extra)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        items = _validation_items(exc)
        detail = "; ".join(f"{i['path']}: {i['message']}" for i in items[:5])
        return problem_response(422, "invalid_request", "The request is not valid", detail, request, errors=items)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        title = code.replace("_", " ").capitalize()
        return problem_response(exc.status_code, code, title, str(exc.detail), request, headers=dict(exc.headers or {}))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(500, "internal", "Internal error", "An unexpected error occurred.", request)

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring problem+json for the given statuses."""
    return {s: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": "Problem"} for s in statuses}


def install_openapi_problems(app: FastAPI) -> None:
    """Make the schema tell the truth: every 4xx/5xx is `application/problem+json` with the Problem schema
    (FastAPI would document `application/json` and its own HTTPValidationError for 422)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(problem_schema.pop("$defs", {}))
        components["Problem"] = problem_schema
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                for status, response in operation.get("responses", {}).items():
                    refs = orjson.dumps(response).decode()
                    if status[:1] in ("4", "5") and ("/Problem" in refs or "/HTTPValidationError" in refs):
                        response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
                        if response.get("description") == "Validation Error":
                            response["description"] = "The request is not valid"
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
