"""What an import does to a workflow's environment variables: pure rules, from the variables the workflow has
(secure values decrypted) and those the package carries.

- A variable only in the package is added; a secure one whose value the package does not carry is not created
  and is listed as `needs_value`.
- A variable only in the workflow is kept.
- One in both conflicts when its value or its secure flag differs (secure values compared decrypted). A secure
  variable in the package without a value conflicts with nothing: the workflow's is kept.
- A conflict is resolved by `resolutions` (per variable), else by `on_conflict`; `ask` leaves it unresolved, and
  an import with an unresolved conflict changes nothing (409 `env_conflicts`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

from workflow_service.audit.redact import REDACTED
from workflow_service.errors import InvalidInput, ServiceError

OnConflict = Literal["ask", "keep", "overwrite"]
Resolution = Literal["keep", "overwrite"]
RESOLUTIONS_PATH = "form:resolutions"


@dataclass(frozen=True, slots=True)
class Variable:
    """A variable on one side: its value (decrypted when secure; None: not known, for a secure one the package
    does not carry or the service cannot decrypt), whether it is secure, its notes."""

    name: str
    value: str | None
    secure: bool
    notes: str | None = None


class Side(BaseModel):
    secure: bool
    value: str | None = Field(description=f"The value; `{REDACTED}` for a secure one.")


class EnvConflict(BaseModel):
    """A variable whose value or secure flag differs between the workflow and the package."""

    name: str
    existing: Side
    imported: Side
    resolution: OnConflict = Field(description="What the import does with it; `ask`: unresolved.")


class EnvConflicts(ServiceError):
    """An import with conflicts that neither `resolutions` nor `on_conflict` resolves: nothing was changed."""

    status, code, title = 409, "env_conflicts", "Environment variables conflict"


@dataclass(slots=True)
class EnvPlan:
    """What the import does to each variable; each list by name."""

    added: list[Variable] = field(default_factory=list)
    overwritten: list[Variable] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    needs_value: list[str] = field(default_factory=list)
    conflicts: list[EnvConflict] = field(default_factory=list)

    @property
    def writes(self) -> list[Variable]:
        """The variables to write, by name."""
        return sorted([*self.added, *self.overwritten], key=lambda v: v.name)

    @property
    def unresolved(self) -> list[EnvConflict]:
        return [c for c in self.conflicts if c.resolution == "ask"]

    def refuse_unresolved(self) -> None:
        """409 `env_conflicts` listing every conflict (secure values redacted) when one is unresolved."""
        if self.unresolved:
            names = ", ".join(c.name for c in self.unresolved)
            raise EnvConflicts(
                f"environment variable(s) {names} differ between the workflow and the package: import again with "
                '`on_conflict` (keep or overwrite) or `resolutions` ({"NAME": "keep" | "overwrite"})',
                conflicts=[c.model_dump(mode="json") for c in self.conflicts],
            )


def plan(
    existing: Mapping[str, Variable],
    incoming: Sequence[Variable],
    on_conflict: OnConflict,
    resolutions: Mapping[str, Resolution],
) -> EnvPlan:
    """What importing `incoming` over `existing` does, each conflict resolved as asked."""
    unknown = sorted(set(resolutions) - set(existing) - {v.name for v in incoming})
    if unknown:
        raise InvalidInput(
            f"`resolutions` names variables neither the workflow nor the package has: {', '.join(unknown)}",
            errors=[{"path": f"{RESOLUTIONS_PATH}.{name}", "message": "no such variable"} for name in unknown],
        )
    result = EnvPlan()
    imported = {v.name for v in incoming}
    result.kept = sorted(name for name in existing if name not in imported)
    for new in incoming:
        old = existing.get(new.name)
        if old is None:
            if new.value is None:
                result.needs_value.append(new.name)
            else:
                result.added.append(new)
        elif new.value is None or (old.value == new.value and old.secure == new.secure):
            result.kept.append(new.name)
        else:
            resolution: OnConflict = resolutions.get(new.name, on_conflict)
            sides = {"existing": _side(old), "imported": _side(new)}
            result.conflicts.append(EnvConflict(name=new.name, resolution=resolution, **sides))
            if resolution == "overwrite":
                result.overwritten.append(new)
            elif resolution == "keep":
                result.kept.append(new.name)
    result.added.sort(key=lambda v: v.name)
    result.overwritten.sort(key=lambda v: v.name)
    result.conflicts.sort(key=lambda c: c.name)
    result.kept.sort()
    result.needs_value.sort()
    return result


def _side(variable: Variable) -> Side:
    return Side(secure=variable.secure, value=REDACTED if variable.secure else variable.value)
