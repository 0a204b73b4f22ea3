"""The rules of `env_variables.json` beyond its model's shape: what a variable may be to be stored as one of the
workflow's (workflows/env.py), checked before anything is stored, each refusal at its place in the file."""

from __future__ import annotations

import re

from workflow_service.packages.errors import InvalidPackageFile
from workflow_service.packages.spec import ENV_FILE, EnvFile, EnvVariable
from workflow_service.workflows.env import MAX_VALUE_BYTES, NAME_PATTERN

MAX_NOTES = 2000
"""As EnvVarWrite's `notes`."""
_NAME = re.compile(NAME_PATTERN)


def check_variables(env: EnvFile) -> None:
    """Each variable has a valid name, once; a plain one its value in clear; a secure one never in clear (absent,
    or encrypted with `encryption`'s key); values and notes as long as a variable's may be."""
    problems: list[dict[str, str]] = []
    seen: set[str] = set()
    for i, variable in enumerate(env.variables):
        found = _problems(variable, env.encryption is not None)
        if variable.name in seen:
            found.append(("name", f"{variable.name} is listed more than once"))
        seen.add(variable.name)
        problems += [{"path": f"{ENV_FILE}:$.variables[{i}].{key}", "message": message} for key, message in found]
    if problems:
        raise InvalidPackageFile(
            f"{ENV_FILE} is not valid: " + "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5]),
            errors=problems,
        )


def _problems(variable: EnvVariable, has_key: bool) -> list[tuple[str, str]]:
    """What is wrong with one variable, by its key."""
    found: list[tuple[str, str]] = []
    if not _NAME.fullmatch(variable.name):
        found.append(("name", "upper-case letters, digits and `_`, not starting with a digit (at most 128)"))
    if variable.secure and variable.value is not None:
        found.append(("value", "a secure value is never in clear: export it with a passphrase, or leave it out"))
    if not variable.secure and variable.value is None:
        found.append(("value", "a plain variable needs its value"))
    if variable.encrypted is not None and not variable.secure:
        found.append(("encrypted", "only a secure variable's value is encrypted"))
    if variable.encrypted is not None and not has_key:
        found.append(("encrypted", "an encrypted value needs the file's `encryption` (its key's parameters)"))
    if variable.value is not None and len(variable.value.encode()) > MAX_VALUE_BYTES:
        found.append(("value", f"must be at most {MAX_VALUE_BYTES} bytes as UTF-8"))
    if variable.notes is not None and len(variable.notes) > MAX_NOTES:
        found.append(("notes", f"must be at most {MAX_NOTES} characters"))
    return found


def check_value(index: int, value: str) -> str:
    """A decrypted secure value, as long as a variable's may be."""
    if len(value.encode()) > MAX_VALUE_BYTES:
        where = f"{ENV_FILE}:$.variables[{index}].encrypted"
        message = f"decrypts to more than {MAX_VALUE_BYTES} bytes"
        raise InvalidPackageFile(f"{where}: {message}", errors=[{"path": where, "message": message}])
    return value
