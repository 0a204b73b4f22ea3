"""Reading a package from an upload, as hostile input: the zip (or its three files) checked before a byte of it is
trusted, each file parsed and validated against its spec model, the definition compiled, the secure values
decrypted with the passphrase. Every refusal is one of packages/errors.py, naming the file and the place in it;
nothing is read from the database and nothing is stored here.

A zip is read from memory (the upload is at most MAX_PACKAGE_BYTES): at most MAX_MEMBERS entries, each name
checked (no directory entries, `..`, absolute paths or backslashes), only stored or deflated members (a
deflate stream is decompressed a bounded chunk at a time), and the bytes read out counted against
MAX_UNCOMPRESSED_BYTES as they come, whatever the headers say the sizes are."""

from __future__ import annotations

import asyncio
import io
import json
import re
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from workflow_service.engine.definition import compile_definition
from workflow_service.errors import InvalidDefinition, json_path
from workflow_service.packages import passphrase as crypto
from workflow_service.packages.errors import (
    InvalidPackage,
    InvalidPackageFile,
    InvalidPackageJson,
    PackageExpandsTooFar,
    PackageFileMissing,
    PackageTooLarge,
    PackageTooManyFiles,
    PackageUnknownFile,
    PackageUnsafePath,
    PassphraseRequired,
    UnsupportedFormatVersion,
    WrongPassphrase,
)
from workflow_service.packages.spec import (
    APP_DEFINITION_KEYS,
    APP_FILE,
    ENV_FILE,
    FILES,
    FLOW_FILE,
    FORMAT_VERSION,
    MAX_PACKAGE_BYTES,
    MAX_UNCOMPRESSED_BYTES,
    AppFile,
    EnvFile,
    FlowFile,
    KeyDerivation,
    join_definition,
)
from workflow_service.packages.values import check_value, check_variables

MAX_MEMBERS = 16
"""The most entries a zip may list (a package has three): counted before any is looked at."""
CHUNK = 64 * 1024
"""How much of a member is decompressed at a time."""
MAX_KEY_MEMORY = 128 * 1024 * 1024
"""The most memory a package's scrypt parameters may ask for (128·n·r bytes; this release writes 32 MiB)."""
FORM_OVERHEAD = 256 * 1024
"""What an import request's body may hold besides the package: the multipart framing and the text fields."""
UPLOAD_BODY_BYTES = MAX_PACKAGE_BYTES + FORM_OVERHEAD
"""The largest body an import route reads (its own limit, not WFS_MAX_BODY_BYTES: a package may be larger)."""
M = TypeVar("M", bound=BaseModel)
_DRIVE = re.compile(r"^[A-Za-z]:")
_TOP_KEY = re.compile(r"^\$\.([A-Za-z_][A-Za-z0-9_]*)(.*)$", re.DOTALL)


class Readable(Protocol):
    """An uploaded file (FastAPI's UploadFile): read a chunk at a time."""

    async def read(self, size: int = -1) -> bytes: ...


async def read_capped(file: Readable, budget: int) -> bytes:
    """The file's bytes, read a chunk at a time; PackageTooLarge as soon as they pass `budget`."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(CHUNK):
        size += len(chunk)
        if size > budget:
            raise PackageTooLarge(
                f"a package is limited to {MAX_PACKAGE_BYTES} bytes (the zip, or its three files together)",
                limit=MAX_PACKAGE_BYTES,
            )
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class Package:
    """A package read and checked: its three files, and the secure values its passphrase decrypted, by name."""

    app: AppFile
    flow: FlowFile
    env: EnvFile
    secure_values: Mapping[str, str]

    @property
    def definition(self) -> dict[str, Any]:
        """The definition the two files were split from."""
        return join_definition(self.flow.definition, self.app.definition)


async def read(zipped: bytes | None, loose: Mapping[str, bytes], passphrase: str | None) -> Package:
    """The package an upload carried, as a zip (`zipped`) or as its three files (`loose`, by file name), checked
    whole; secure values are decrypted with `passphrase` (the scrypt work is done off the event loop)."""
    if zipped is not None and loose:
        message = "send the package either as the zip (`package`) or as its three files, not both"
        raise InvalidPackage(message, errors=[{"path": "form:package", "message": message}])
    files = unzip(zipped) if zipped is not None else dict(loose)
    missing = [name for name in FILES if name not in files]
    if missing:
        raise PackageFileMissing(
            f"the package has no {', '.join(missing)}; it needs {', '.join(FILES)}",
            errors=[{"path": name, "message": "missing"} for name in missing],
        )
    app = _validated(APP_FILE, files[APP_FILE], AppFile)
    flow = _validated(FLOW_FILE, files[FLOW_FILE], FlowFile)
    env = _validated(ENV_FILE, files[ENV_FILE], EnvFile)
    check_variables(env)
    _check_definition(join_definition(flow.definition, app.definition))
    return Package(app, flow, env, await _decrypted(env, passphrase or None))


def unzip(data: bytes) -> dict[str, bytes]:
    """The three files of a zip, by name, after every check of the module's docstring."""
    if len(data) > MAX_PACKAGE_BYTES:
        raise PackageTooLarge(f"a package is limited to {MAX_PACKAGE_BYTES} bytes", limit=MAX_PACKAGE_BYTES)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise InvalidPackage(
            f"the package is not a zip file ({exc})", errors=[{"path": "form:package", "message": "not a zip file"}]
        ) from None
    with archive:
        members = archive.infolist()
        _check_members(members)
        files: dict[str, bytes] = {}
        total = 0
        for info in members:
            files[info.filename], total = _member(archive, info, total)
    return files


def _check_members(members: list[zipfile.ZipInfo]) -> None:
    """How many entries, their names (safe, known, each once): before any is read."""
    if len(members) > MAX_MEMBERS:
        raise PackageTooManyFiles(
            f"the package lists {len(members)} entries; a package holds {len(FILES)} files (at most {MAX_MEMBERS})",
            errors=[{"path": "form:package", "message": f"{len(members)} entries"}],
        )
    unsafe = [(info.filename, why) for info in members if (why := _unsafe(info)) is not None]
    if unsafe:
        raise PackageUnsafePath(
            f"the package holds unsafe paths: {', '.join(repr(name) for name, _ in unsafe)}",
            errors=[{"path": name, "message": why} for name, why in unsafe],
        )
    unknown = [info.filename for info in members if info.filename not in FILES]
    if unknown:
        raise PackageUnknownFile(
            f"the package holds {', '.join(repr(n) for n in unknown)}; it may hold only {', '.join(FILES)}, at its "
            "top level",
            errors=[{"path": name, "message": "not a file of a package"} for name in unknown],
        )
    names = [info.filename for info in members]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise InvalidPackage(
            f"the package holds {', '.join(twice)} more than once",
            errors=[{"path": name, "message": "more than one entry"} for name in twice],
        )


def _unsafe(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if info.is_dir() or name.endswith("/"):
        return "a directory entry"
    if "\\" in name:
        return "a backslash in the path"
    if name.startswith("/") or _DRIVE.match(name):
        return "an absolute path"
    if ".." in name.split("/"):
        return "a `..` in the path"
    return None


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, total: int) -> tuple[bytes, int]:
    """A member's bytes and the running total of the bytes read out, read a chunk at a time; PackageExpandsTooFar
    when that total passes MAX_UNCOMPRESSED_BYTES."""
    name = info.filename
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise InvalidPackage(
            f"{name} is compressed with method {info.compress_type}; a package's files are stored or deflated",
            errors=[{"path": name, "message": f"compression method {info.compress_type}"}],
        )
    if info.flag_bits & 0x1:
        raise InvalidPackage(f"{name} is encrypted in the zip", errors=[{"path": name, "message": "encrypted"}])
    chunks: list[bytes] = []
    try:
        with archive.open(info) as member:
            while chunk := member.read(CHUNK):
                total += len(chunk)
                if total > MAX_UNCOMPRESSED_BYTES:
                    raise PackageExpandsTooFar(
                        f"the package's files expand to more than {MAX_UNCOMPRESSED_BYTES} bytes",
                        errors=[{"path": name, "message": "too large uncompressed"}],
                        limit=MAX_UNCOMPRESSED_BYTES,
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, EOFError, zlib.error, ValueError, RuntimeError, NotImplementedError) as exc:
        raise InvalidPackage(
            f"{name} cannot be read from the zip: {exc}", errors=[{"path": name, "message": str(exc)}]
        ) from None
    return b"".join(chunks), total


def _validated(name: str, raw: bytes, model: type[M]) -> M:
    """The file parsed and validated as `model`; refused with where it goes wrong."""
    data = _parsed(name, raw)
    nul = _nul_location(data)
    if nul is not None:
        where = f"{name}:{json_path(nul)}"
        raise InvalidPackageFile(
            f"{where} holds the NUL character (U+0000), which cannot be stored",
            errors=[{"path": where, "message": "must not contain the NUL character (U+0000)"}],
        )
    version = data.get("format_version") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        message = f"format version {version}; this release reads format version {FORMAT_VERSION} and older"
        raise UnsupportedFormatVersion(
            f"{name} is in package {message}",
            errors=[{"path": f"{name}:$.format_version", "message": message}],
            supported_format_version=FORMAT_VERSION,
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        items = [{"path": f"{name}:{json_path(e['loc'])}", "message": e["msg"]} for e in exc.errors()]
        raise InvalidPackageFile(
            f"{name} is not valid: " + "; ".join(f"{i['path']}: {i['message']}" for i in items[:5]), errors=items
        ) from None


def _parsed(name: str, raw: bytes) -> Any:
    """The file's JSON; InvalidPackageJson with the line and column where it stops parsing."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start].decode("utf-8-sig")
        raise _bad_json(name, f"not UTF-8 (invalid byte at offset {exc.start})", before, len(before)) from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise _bad_json(name, exc.msg, text, exc.pos) from None
    except ValueError as exc:
        message = str(exc)
        raise InvalidPackageJson(
            f"{name} is not valid JSON: {message}", errors=[{"path": name, "message": message}]
        ) from None
    except RecursionError:
        message = "nested too deeply"
        raise InvalidPackageJson(f"{name} is {message}", errors=[{"path": name, "message": message}]) from None


def _no_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _bad_json(name: str, reason: str, text: str, offset: int) -> InvalidPackageJson:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    item = {"path": name, "message": reason, "line": line, "column": column, "offset": offset}
    return InvalidPackageJson(f"{name} is not valid JSON: {reason} at line {line}, column {column}", errors=[item])


def _nul_location(value: Any) -> tuple[str | int, ...] | None:
    """Where a string (a key included) holds a NUL, if one does. Iterative: files may nest deep."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack:
        loc, item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            return loc
        if isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    return (*loc, key)
                stack.append(((*loc, key), child))
        elif isinstance(item, list):
            stack.extend(((*loc, i), child) for i, child in enumerate(item))
    return None


def _check_definition(definition: dict[str, Any]) -> None:
    """The joined definition compiles; its problems are refused at their place in the file that holds them. What
    depends on the workspace it goes to (the workflows its `workflow` steps name) is the draft's problems."""
    _, problems = compile_definition(definition)
    if problems:
        errors = [{"path": file_path(p.path), "message": p.message} for p in problems]
        raise InvalidDefinition(
            f"the package's definition has {len(problems)} problem(s): "
            + "; ".join(f"{e['path']}: {e['message']}" for e in errors[:5]),
            errors=errors,
        )


def file_path(path: str) -> str:
    """A definition's JSON path as a place in the package: `$.steps[0].type` ->
    `flow_definition.json:$.definition.steps[0].type`."""
    found = _TOP_KEY.match(path)
    if found is None:
        return f"{FLOW_FILE}:$.definition"
    key, rest = found.groups()
    return f"{APP_FILE if key in APP_DEFINITION_KEYS else FLOW_FILE}:$.definition.{key}{rest}"


async def _decrypted(env: EnvFile, passphrase: str | None) -> dict[str, str]:
    """The secure values the package carries encrypted, decrypted with `passphrase`, by name."""
    encrypted = [(i, v) for i, v in enumerate(env.variables) if v.encrypted is not None]
    if not encrypted:
        return {}
    names = ", ".join(v.name for _, v in encrypted)
    if passphrase is None:
        raise PassphraseRequired(
            f"the package's secure variables {names} are encrypted: give the passphrase they were exported with "
            "(form field `passphrase`)",
            errors=[_at(i, v.name, "encrypted: needs the export's passphrase") for i, v in encrypted],
        )
    assert env.encryption is not None  # check_variables: encrypted values need it
    key = await asyncio.to_thread(_key, passphrase, env.encryption)
    values: dict[str, str] = {}
    wrong: list[tuple[int, str]] = []
    for i, variable in encrypted:
        assert variable.encrypted is not None
        try:
            values[variable.name] = check_value(i, crypto.decrypt(key, variable.name, variable.encrypted))
        except crypto.WrongPassphrase:
            wrong.append((i, variable.name))
        except UnicodeDecodeError:
            where = f"{ENV_FILE}:$.variables[{i}].encrypted"
            message = "decrypts to bytes that are not UTF-8"
            raise InvalidPackageFile(f"{where}: {message}", errors=[{"path": where, "message": message}]) from None
    if wrong:
        raise WrongPassphrase(
            f"the passphrase does not decrypt the secure variable(s) {', '.join(n for _, n in wrong)}",
            errors=[_at(i, name, "does not decrypt with this passphrase") for i, name in wrong],
        )
    return values


def _key(passphrase: str, derivation: KeyDerivation) -> bytes:
    where = f"{ENV_FILE}:$.encryption"
    if 128 * derivation.n * derivation.r > MAX_KEY_MEMORY:
        message = f"its scrypt parameters ask for more than {MAX_KEY_MEMORY} bytes of memory"
        raise InvalidPackageFile(f"{where}: {message}", errors=[{"path": where, "message": message}])
    try:
        return crypto.derive(passphrase, derivation)
    except ValueError as exc:
        raise InvalidPackageFile(f"{where}: {exc}", errors=[{"path": where, "message": str(exc)}]) from None


def _at(index: int, name: str, message: str) -> dict[str, str]:
    return {"path": f"{ENV_FILE}:$.variables[{index}].encrypted", "message": f"{name}: {message}"}
