"""Fields validated as one type and described, in their JSON Schema (so in the OpenAPI contract), as another."""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, Field, GetJsonSchemaHandler, TypeAdapter
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from pydantic_core import core_schema as cs


class DescribedAs:
    """`Annotated[T, DescribedAs(U)]`: a field validated as T whose JSON Schema is U's.

    For what the service validates itself, piece by piece, to report every problem with its path (a workflow
    definition and its steps): clients see the full schema, while the request is parsed exactly as before."""

    def __init__(self, described: Any) -> None:
        self.described = described

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # Asked for as the items of a list, a model comes out as a reference to its definition (asked for
        # directly, it would be written out in place).
        items: JsonSchemaValue = handler(cs.list_schema(TypeAdapter(self.described).core_schema))["items"]
        return items


def one_of(models: Iterable[type[BaseModel]], tag: str) -> Any:
    """The union of `models` told apart by their field `tag`, a Literal in each (`oneOf` with a discriminator)."""
    return Annotated[functools.reduce(operator.or_, models), Field(discriminator=tag)]
