"""Unknown query parameters are refused on every route, each named in a 422.

A misspelt or unsupported filter (`GET /v1/jobs?q=…`) would otherwise be ignored and every job come back,
which reads as an answer to the question asked. The parameters a route accepts are those it and its
dependencies declare (what FastAPI reads, and the contract documents), so a new one needs declaring only."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_validation_alias
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel

UNKNOWN_QUERY_TYPE = "query_unknown"


def declared_query_params(dependant: Dependant) -> set[str]:
    """The query parameter names a route reads: its own and its dependencies' (a model's fields by alias).

    The route's own dependant: a query parameter belongs on the route or one of its dependencies, not on a
    router's (tests/api/test_query_params.py compares this with the contract, route by route)."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):
                names.update(info.alias or name for name, info in model.model_fields.items())
            else:
                names.add(get_validation_alias(field))
        stack.extend(current.dependencies)
    return names


async def reject_unknown_query_params(request: Request) -> None:
    """Every route: 422 naming each query parameter the route does not declare."""
    if not request.scope.get("query_string"):
        return  # the usual request: nothing to compare
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = declared_query_params(route.dependant)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in declared]
    if not unknown:
        return
    accepted = f"this route accepts {', '.join(sorted(declared))}" if declared else "this route accepts none"
    raise RequestValidationError(
        [
            {"type": UNKNOWN_QUERY_TYPE, "loc": ("query", name), "msg": f"unknown query parameter; {accepted}"}
            for name in unknown
        ]
    )
