"""Hostile packages: each is refused with a 4xx problem of its own code that names what is wrong and where, before
anything is stored (the database is the same afterwards), on both import routes."""

from __future__ import annotations

import io
import json
import struct
import warnings
import zipfile
from typing import Any

import httpx
import pytest

from tests.packages.importing import (
    PASSPHRASE,
    SECRET,
    Imports,
    files_of,
    fingerprint,
    imports,
    package,
    upload,
    zip_of,
)
from tests.workflows.conftest import assert_problem
from workflow_service.packages.reader import MAX_MEMBERS
from workflow_service.packages.spec import (
    APP_FILE,
    ENV_FILE,
    FLOW_FILE,
    MAX_PACKAGE_BYTES,
    MAX_UNCOMPRESSED_BYTES,
)

__all__ = ["imports"]

NEW = "/v1/workflows/import"
EXISTING = "/v1/workflows/target/import"
URLS = [NEW, EXISTING]
FILES = files_of()


@pytest.fixture(scope="module", autouse=True)
async def target(imports: Imports) -> None:
    """The existing workflow the second route imports into."""
    await imports.workflow("target", REGION={"value": "eu"})


async def refused(
    imports: Imports, url: str, status: int, code: str, content: bytes | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Upload, expect the problem, and check that nothing was stored; the problem's body."""
    before = await fingerprint(imports.engine)
    response = await upload(imports.admin, url, content, **kwargs)
    body = assert_problem(response, status, code)
    assert await fingerprint(imports.engine) == before
    return body


def paths(body: dict[str, Any]) -> list[str]:
    return [error["path"] for error in body["errors"]]


@pytest.mark.parametrize("url", URLS)
async def test_not_a_zip(imports: Imports, url: str) -> None:
    body = await refused(imports, url, 422, "invalid_package", b"PK\x03\x04 not really a zip at all")
    assert paths(body) == ["form:package"]


@pytest.mark.parametrize("url", URLS)
async def test_a_file_missing_from_the_zip_or_the_upload(imports: Imports, url: str) -> None:
    two = {k: v for k, v in FILES.items() if k != ENV_FILE}
    assert paths(await refused(imports, url, 422, "package_file_missing", zip_of(two))) == [ENV_FILE]
    body = await refused(imports, url, 422, "package_file_missing", files={FLOW_FILE: FILES[FLOW_FILE]})
    assert paths(body) == [APP_FILE, ENV_FILE]


@pytest.mark.parametrize("extra", ["README.md", "Greeter/flow_definition.json"])
async def test_unknown_extra_files(imports: Imports, extra: str) -> None:
    body = await refused(imports, NEW, 422, "package_unknown_file", zip_of({**FILES, extra: b"{}"}))
    assert paths(body) == [extra]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("docs/", "a directory entry"),
        ("../flow_definition.json", "a `..` in the path"),
        ("x/../../etc/cron.d/evil", "a `..` in the path"),
        ("/etc/passwd", "an absolute path"),
        ("C:/Windows/evil.json", "an absolute path"),
        ("..\\evil.json", "a backslash in the path"),
    ],
)
async def test_unsafe_paths(imports: Imports, name: str, why: str) -> None:
    body = await refused(imports, NEW, 422, "package_unsafe_path", zip_of({**FILES, name: b""}))
    assert body["errors"] == [{"path": name, "message": why}]


async def test_too_many_entries_are_refused_before_any_is_read(imports: Imports) -> None:
    many = {**FILES, **{f"f{i}.json": b"{}" for i in range(MAX_MEMBERS)}}
    await refused(imports, NEW, 422, "package_too_many_files", zip_of(many))


async def test_a_file_twice_and_both_a_zip_and_files(imports: Imports) -> None:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate name it writes
        for name, data in [*FILES.items(), (FLOW_FILE, b"{}")]:
            archive.writestr(name, data)
    body = await refused(imports, NEW, 422, "invalid_package", buffer.getvalue())
    assert paths(body) == [FLOW_FILE]
    body = await refused(imports, NEW, 422, "invalid_package", package(), files=FILES)
    assert paths(body) == ["form:package"]


async def test_a_compression_other_than_deflate_or_store(imports: Imports) -> None:
    body = await refused(imports, NEW, 422, "invalid_package", zip_of(FILES, zipfile.ZIP_BZIP2))
    assert "compression method 12" in body["errors"][0]["message"]


@pytest.mark.parametrize("url", URLS)
async def test_an_upload_over_the_package_limit(imports: Imports, url: str) -> None:
    padding = {"x.bin": bytes(MAX_PACKAGE_BYTES)}  # stored: the zip is larger than the limit
    body = await refused(imports, url, 413, "package_too_large", zip_of({**FILES, **padding}, zipfile.ZIP_STORED))
    assert body["limit"] == MAX_PACKAGE_BYTES
    big = {**FILES, FLOW_FILE: b" " * (MAX_PACKAGE_BYTES - 100) + FILES[FLOW_FILE]}
    await refused(imports, url, 413, "package_too_large", files=big)


async def test_a_body_far_over_the_limit_is_refused_before_it_is_read(imports: Imports) -> None:
    response = await imports.admin.post(
        NEW, content=b"x" * (2 * MAX_PACKAGE_BYTES), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert_problem(response, 413, "payload_too_large")


async def test_a_zip_bomb_stops_at_the_uncompressed_limit(imports: Imports) -> None:
    bomb = {**FILES, FLOW_FILE: b" " * (MAX_UNCOMPRESSED_BYTES + 1)}
    content = zip_of(bomb)
    assert len(content) < MAX_PACKAGE_BYTES // 50
    body = await refused(imports, NEW, 413, "package_uncompressed_too_large", content)
    assert (body["errors"], body["limit"]) == (
        [{"path": FLOW_FILE, "message": "too large uncompressed"}],
        MAX_UNCOMPRESSED_BYTES,
    )


def _understated(content: bytes, name: str, size: int) -> bytes:
    """The zip with `name`'s uncompressed size set to `size` in its local header and in the central directory."""
    data = bytearray(content)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        info = archive.getinfo(name)
    struct.pack_into("<I", data, info.header_offset + 22, size)
    at = data.find(b"PK\x01\x02")
    while at != -1:
        length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + length] == name.encode():
            struct.pack_into("<I", data, at + 24, size)
            return bytes(data)
        at = data.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"no {name} in the central directory")


async def test_sizes_in_the_headers_are_not_trusted(imports: Imports) -> None:
    """A bomb whose headers say it is small is read only as far as they say, and then fails its checksum."""
    content = _understated(zip_of({**FILES, FLOW_FILE: b" " * (MAX_UNCOMPRESSED_BYTES + 1)}), FLOW_FILE, 10)
    body = await refused(imports, NEW, 422, "invalid_package", content)
    assert paths(body) == [FLOW_FILE]


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{\n  "format_version": 1,\n  "definition": {\n}', {"line": 4, "column": 2}),
        (b'{"format_version": 1, "definition": {"a": NaN}}', {}),
        (b'{"format_version": 1,\n "definition": {"a": "\xff"}}', {"line": 2, "column": 23}),
    ],
)
async def test_invalid_json_names_the_file_line_and_column(imports: Imports, raw: bytes, where: dict[str, int]) -> None:
    body = await refused(imports, NEW, 422, "invalid_json", zip_of({**FILES, FLOW_FILE: raw}))
    [error] = body["errors"]
    assert error["path"] == FLOW_FILE
    assert {k: error[k] for k in where} == where


async def test_a_file_that_fails_its_model_names_the_json_path(imports: Imports) -> None:
    app = json.loads(FILES[APP_FILE])
    app["settings"]["push"]["enabled"] = "sometimes"
    del app["source"]
    app["surprise"] = 1
    body = await refused(
        imports, NEW, 422, "invalid_package_file", zip_of({**FILES, APP_FILE: json.dumps(app).encode()})
    )
    assert sorted(paths(body)) == [
        f"{APP_FILE}:$.settings.push.enabled",
        f"{APP_FILE}:$.source",
        f"{APP_FILE}:$.surprise",
    ]
    nul = zip_of({**FILES, FLOW_FILE: b'{"format_version": 1, "definition": {"steps": ["a\\u0000"]}}'})
    assert paths(await refused(imports, NEW, 422, "invalid_package_file", nul)) == [
        f"{FLOW_FILE}:$.definition.steps[0]"
    ]


async def test_variables_that_could_not_be_stored(imports: Imports) -> None:
    variables = [
        {"name": "lower", "value": "x"},
        {"name": "CLEAR", "secure": True, "value": "in clear"},
        {"name": "PLAIN", "secure": False},
        {"name": "CLEAR", "secure": True},
    ]
    body = await refused(imports, NEW, 422, "invalid_package_file", package(variables=variables))
    assert paths(body) == [
        f"{ENV_FILE}:$.variables[{i}].{key}" for i, key in ((0, "name"), (1, "value"), (2, "value"), (3, "name"))
    ]


@pytest.mark.parametrize("url", URLS)
async def test_a_newer_format_version(imports: Imports, url: str) -> None:
    flow = {**json.loads(FILES[FLOW_FILE]), "format_version": 2}
    body = await refused(
        imports, url, 422, "unsupported_format_version", zip_of({**FILES, FLOW_FILE: json.dumps(flow).encode()})
    )
    assert paths(body) == [f"{FLOW_FILE}:$.format_version"]
    assert body["supported_format_version"] == 1
    assert "reads format version 1" in body["detail"]


async def test_a_definition_that_does_not_validate_names_its_file(imports: Imports) -> None:
    broken = {"input_schema": {"type": "nonsense"}, "steps": [{"id": "a", "type": "teleport"}]}
    body = await refused(imports, NEW, 422, "invalid_definition", package(broken))
    assert any(p.startswith(f"{FLOW_FILE}:$.definition.steps[0]") for p in paths(body)), paths(body)
    assert any(p.startswith(f"{APP_FILE}:$.definition.input_schema") for p in paths(body)), paths(body)


@pytest.mark.parametrize("url", URLS)
async def test_encrypted_values_without_the_passphrase_or_with_a_wrong_one(imports: Imports, url: str) -> None:
    content = package(variables=[{"name": "TOKEN", "secure": True, "secret": SECRET}], passphrase=PASSPHRASE)
    where = [f"{ENV_FILE}:$.variables[0].encrypted"]
    body = await refused(imports, url, 422, "passphrase_required", content)
    assert (paths(body), "TOKEN" in body["detail"]) == (where, True)
    body = await refused(imports, url, 422, "wrong_passphrase", content, passphrase="not the passphrase")
    assert (paths(body), "TOKEN" in body["detail"]) == (where, True)
    assert SECRET not in json.dumps(body)


async def test_key_parameters_that_ask_for_too_much(imports: Imports) -> None:
    files = files_of(variables=[{"name": "TOKEN", "secure": True, "secret": SECRET}], passphrase=PASSPHRASE)
    env = json.loads(files[ENV_FILE])
    env["encryption"]["r"] = 64
    hostile = zip_of({**files, ENV_FILE: json.dumps(env).encode()})
    body = await refused(imports, NEW, 422, "invalid_package_file", hostile, passphrase=PASSPHRASE)
    assert paths(body) == [f"{ENV_FILE}:$.encryption"]


async def test_a_body_that_is_not_a_form_and_fields_the_route_does_not_take(imports: Imports) -> None:
    response = await imports.admin.post(NEW, json={"package": "x"})
    assert_problem(response, 415, "unsupported_media_type")
    body = await refused(imports, EXISTING, 422, "invalid_input", package(), dryrun="true")
    assert paths(body) == ["form:dryrun"]
    body = await refused(imports, NEW, 422, "invalid_input", package(), name="Nul\x00name")
    assert paths(body) == ["form:name"]


async def test_the_three_files_import_like_the_zip(imports: Imports) -> None:
    response = await upload(imports.admin, NEW, files=FILES, slug="from-files")
    assert response.status_code == 201, response.text
    client: httpx.AsyncClient = imports.admin
    assert (await client.get("/v1/workflows/from-files")).json()["draft"] == (
        await client.get("/v1/workflows/target")
    ).json()["draft"]
