"""Tools: Python functions a `tool` step calls by name and version.

A tool is a `Tool` object published under the entry-point group `workflow_service.tools`; the
service's built-ins (`builtin.py`) are published the same way in its own pyproject.toml, so a package
adds tools exactly as the service does. The registry is discovered once per process; an entry point
that fails to load is logged and skipped, and listed (with its error) by `GET /v1/tools`.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import inspect
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

log = logging.getLogger(__name__)

GROUP = "workflow_service.tools"

ArgsT = TypeVar("ArgsT", bound=BaseModel)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")


class ToolError(Exception):
    """Raised by a tool for a failure the workflow author can act on; its message is shown as is."""


@dataclass(frozen=True, slots=True)
class Tool(Generic[ArgsT]):
    """A callable tool: `fn(args)` gets the validated `args` model and returns a JSON value.

    `fn` may be sync (run in a worker thread, so it never blocks the event loop) or async. `pure` says
    the tool has no effect outside the job; it is reported, but `tool` steps are checkpointed anyway
    (see engine/steps/tool.py).
    """

    name: str
    version: str
    description: str
    args: type[ArgsT]
    fn: Callable[[ArgsT], Any]
    pure: bool = True

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    async def call(self, args: ArgsT) -> Any:
        """Run the tool on validated args; a pydantic model result is dumped to JSON."""
        if inspect.iscoroutinefunction(self.fn):
            result = await self.fn(args)
        else:
            result = await asyncio.to_thread(self.fn, args)
            if inspect.isawaitable(result):  # a sync callable that returned a coroutine
                result = await result
        if isinstance(result, BaseModel):
            return result.model_dump(mode="json")
        return result


# Versions compare with packaging's PEP 440 rules when packaging is installed (it usually is, through
# pip tooling, but the service does not depend on it); otherwise as tuples of integers ("1.10.0").
try:
    from packaging.version import InvalidVersion, Version

    def version_key(version: str) -> Any:
        """A sort key for a version string (final releases above pre-releases); ValueError if invalid."""
        try:
            parsed = Version(version)
        except InvalidVersion as exc:
            raise ValueError(f"invalid version {version!r}: {exc}") from exc
        return (not parsed.is_prerelease, parsed)

except ImportError:  # pragma: no cover - depends on the environment

    def version_key(version: str) -> Any:
        """A sort key for a version string of dot-separated integers; ValueError if invalid."""
        if not re.fullmatch(r"\d+(?:\.\d+)*", version):
            raise ValueError(f"invalid version {version!r}: expected numbers separated by dots, like 1.0.0")
        return tuple(int(part) for part in version.split("."))


class ToolNotFound(LookupError):
    """No tool by that name, or not in that version; `field` is `tool` or `version`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(frozen=True, slots=True)
class LoadError:
    """An entry point that did not give a usable tool."""

    entry_point: str
    value: str
    error: str


@dataclass(slots=True)
class Registry:
    tools: dict[str, dict[str, Tool[Any]]] = field(default_factory=dict)
    """name -> version -> tool."""
    errors: list[LoadError] = field(default_factory=list)

    def add(self, tool: Tool[Any]) -> None:
        """Register a tool; ValueError if it is malformed or already registered in that version."""
        if not isinstance(tool, Tool):
            raise ValueError(f"expected a workflow_service.engine.tools.Tool, got {type(tool).__name__}")
        if not _NAME.match(tool.name):
            raise ValueError(f"invalid tool name {tool.name!r}: dot-separated identifiers, like text.split")
        version_key(tool.version)
        if not (isinstance(tool.args, type) and issubclass(tool.args, BaseModel)):
            raise ValueError(f"{tool.key}: args must be a pydantic model class")
        if not callable(tool.fn):
            raise ValueError(f"{tool.key}: fn is not callable")
        versions = self.tools.setdefault(tool.name, {})
        if tool.version in versions:
            raise ValueError(f"{tool.key} is registered twice")
        versions[tool.version] = tool

    def resolve(self, name: str, version: str | None = None) -> Tool[Any]:
        """The tool `name` in `version`, or its highest version when `version` is None."""
        versions = self.tools.get(name)
        if not versions:
            known = ", ".join(sorted(self.tools)) or "none"
            raise ToolNotFound("tool", f"unknown tool {name!r}; registered tools: {known}")
        if version is None:
            return versions[max(versions, key=version_key)]
        if version not in versions:
            have = ", ".join(sorted(versions, key=version_key))
            raise ToolNotFound("version", f"tool {name!r} has no version {version!r}; versions: {have}")
        return versions[version]

    def all(self) -> list[Tool[Any]]:
        """Every tool, by name, then version (highest last)."""
        return [
            t
            for name in sorted(self.tools)
            for t in sorted(self.tools[name].values(), key=lambda t: version_key(t.version))
        ]


def discover() -> Iterable[importlib.metadata.EntryPoint]:
    """The installed entry points of the tools group (tests replace this)."""
    return importlib.metadata.entry_points(group=GROUP)


def load(entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> Registry:
    """Load every entry point into a new registry; one that fails is logged and recorded, not raised."""
    registry = Registry()
    for ep in sorted(discover() if entry_points is None else entry_points, key=lambda ep: (ep.name, ep.value)):
        try:
            registry.add(ep.load())
        except Exception as exc:  # an import error, a bad object: that tool is unavailable, nothing else
            error = f"{type(exc).__name__}: {exc}"
            log.warning("tool entry point %s = %s skipped: %s", ep.name, ep.value, error)
            registry.errors.append(LoadError(entry_point=ep.name, value=ep.value, error=error))
    return registry


@functools.cache
def registry() -> Registry:
    """The process's registry, discovered on first use."""
    return load()


__all__ = ["GROUP", "LoadError", "Registry", "Tool", "ToolError", "ToolNotFound", "load", "registry", "version_key"]
