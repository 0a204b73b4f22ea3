from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ToolRead(BaseModel):
    name: str
    version: str
    description: str
    pure: bool = Field(description="The tool has no effect outside the job.")
    args_schema: dict[str, Any] = Field(description="JSON Schema of the tool's `args`.")


class ToolLoadError(BaseModel):
    entry_point: str = Field(description="The entry point's name in the `workflow_service.tools` group.")
    value: str = Field(description="What it points at (`module:attribute`).")
    error: str


class ToolList(BaseModel):
    items: list[ToolRead] = Field(description="Every registered tool, by name, then version (highest last).")
    errors: list[ToolLoadError] = Field(description="Entry points that failed to load; their tools are unavailable.")
