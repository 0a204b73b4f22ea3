"""Backups of the drafts imports replace (made, listed, downloaded, imported back), who may import and read them,
and the import routes in the embedded mode (a real `workflow-service dev` process on SQLite)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from tests.apikeys.conftest import issue_key
from tests.packages.importing import GREETER, PASSPHRASE, SECRET, Imports, files_of, imports, package, upload
from tests.test_embedded import admin_client, embedded
from tests.workflows.conftest import assert_problem
from workflow_service.packages.spec import ENV_FILE, FILES

__all__ = ["imports"]

CHANGED = {**GREETER, "variables": {"greeting": "Bonjour"}}


def unzip(content: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.namelist() == list(FILES)
        return {name: json.loads(archive.read(name)) for name in FILES}


async def test_a_backup_is_made_listed_downloaded_and_imports_back(imports: Imports) -> None:
    slug = imports.slug("backed")
    await imports.workflow(slug, REGION={"value": "eu"}, TOKEN={"value": SECRET, "secure": True})
    await imports.ok("PUT", f"/v1/workflows/{slug}/draft", {"definition": GREETER, "name": "Café Crème"})
    url = f"/v1/workflows/{slug}"
    response = await upload(imports.admin, f"{url}/import", package(CHANGED), backup=True)
    assert response.status_code == 200, response.text
    backup = response.json()["report"]["backup"]
    assert (backup["file_name"], backup["created_by"]) == ("Exported_Café Crème.zip", "admin")
    assert (await imports.ok("GET", f"{url}/backups"))["items"] == [backup]

    downloaded = await imports.admin.get(f"{url}/backups/{backup['id']}")
    assert downloaded.status_code == 200
    assert downloaded.headers["content-type"] == "application/zip"
    assert downloaded.headers["content-disposition"] == (
        "attachment; filename=\"Exported_Cafe Creme.zip\"; filename*=UTF-8''" + quote("Exported_Café Crème.zip")
    )
    assert len(downloaded.content) == backup["size"]
    files = unzip(downloaded.content)
    assert files["app_definition.json"]["definition"]["variables"] == {"greeting": "Hello"}
    assert files["app_definition.json"]["source"] == {"workflow": slug, "version": "draft"}
    assert {v["name"]: v.get("value") for v in files[ENV_FILE]["variables"]} == {"REGION": "eu", "TOKEN": None}
    assert SECRET.encode() not in downloaded.content

    restored = await upload(imports.admin, f"{url}/import", downloaded.content)
    assert restored.status_code == 200, restored.text  # TOKEN is in it without a value: no conflict, kept
    assert restored.json()["workflow"]["draft"] == GREETER
    assert restored.json()["report"]["env"]["kept"] == ["REGION", "TOKEN"]
    assert (await imports.ok("GET", f"{url}/backups"))["items"] == [backup]  # no backup unless asked for

    again = await upload(imports.admin, f"{url}/import", package(CHANGED), backup=True)
    listed = (await imports.ok("GET", f"{url}/backups"))["items"]
    assert [b["id"] for b in listed] == [again.json()["report"]["backup"]["id"], backup["id"]]


async def test_an_unknown_backup_is_not_found(imports: Imports) -> None:
    slug = imports.slug("none")
    await imports.workflow(slug)
    for backup_id in ("01a24850-0000-7000-8000-000000000000", "not-an-id"):
        assert_problem(await imports.admin.get(f"/v1/workflows/{slug}/backups/{backup_id}"), 404, "not_found")
    assert_problem(await imports.admin.get("/v1/workflows/missing/backups"), 404, "not_found")


async def person(imports: Imports, role: str = "member") -> tuple[str, httpx.AsyncClient]:
    """A new user of the workspace: their id and a client with their token."""
    made = await imports.ok(
        "POST", "/v1/users", {"email": f"{imports.slug('p')}@example.com", "name": "P", "role": role}
    )
    return str(made["id"]), imports.connect(made["token"])


async def test_who_may_import_and_read_backups(imports: Imports) -> None:
    slug = imports.slug("shared")
    await imports.workflow(slug, REGION={"value": "eu"})
    url = f"/v1/workflows/{slug}"
    await upload(imports.admin, f"{url}/import", package(CHANGED), backup=True)
    backup_id = (await imports.ok("GET", f"{url}/backups"))["items"][0]["id"]
    clients: dict[str, httpx.AsyncClient] = {}
    for role in ("viewer", "runner", "editor"):
        user_id, clients[role] = await person(imports)
        await imports.ok("PUT", f"{url}/members/{user_id}", {"role": role})
    clients["uninvited"] = (await person(imports))[1]
    clients["admin"] = (await person(imports, "admin"))[1]
    clients["key"] = imports.connect((await issue_key(imports.admin, slug))["key"])
    expected = {"viewer": 403, "runner": 403, "editor": 200, "uninvited": 404, "admin": 200, "key": 403}
    content = package(CHANGED, [{"name": "REGION", "value": "us"}])
    for who, status in expected.items():
        client = clients[who]
        got = [
            (await upload(client, f"{url}/import", content, on_conflict="overwrite", backup=True)).status_code,
            (await client.get(f"{url}/backups")).status_code,
            (await client.get(f"{url}/backups/{backup_id}")).status_code,
        ]
        assert got == [status] * 3, who

    # A workspace member may import a workflow of their own, and is made its owner; a key may not.
    member = clients["uninvited"]
    made = await upload(member, "/v1/workflows/import", package(), slug=imports.slug("own"))
    assert made.status_code == 201, made.text
    mine = made.json()["workflow"]["slug"]
    assert (await member.get(f"/v1/workflows/{mine}/backups")).status_code == 200
    assert (await upload(member, f"/v1/workflows/{mine}/import", package(CHANGED), backup=True)).status_code == 200
    assert_problem(await upload(clients["key"], "/v1/workflows/import", package()), 403, "forbidden")


async def test_the_import_routes_in_the_embedded_mode(tmp_path: Path) -> None:
    """On SQLite, through a real process: a new workflow from the three files, an import into it with a conflict
    (409, then overwritten with a backup), a dry run, its backups listed and downloaded; each answers at once."""
    with embedded(tmp_path) as service:
        async with admin_client(service, request_timeout_s=10) as api:
            secured: list[dict[str, Any]] = [
                {"name": "TOKEN", "secure": True, "secret": SECRET},
                {"name": "REGION", "value": "eu"},
            ]
            made = await upload(
                api,
                "/v1/workflows/import",
                files=files_of(variables=secured, passphrase=PASSPHRASE),
                passphrase=PASSPHRASE,
            )
            assert made.status_code == 201, made.text
            assert made.json()["report"]["env"]["added"] == ["REGION", "TOKEN"]
            url = f"/v1/workflows/{made.json()['workflow']['slug']}"
            changed = package(CHANGED, [{"name": "REGION", "value": "us"}])
            assert_problem(await upload(api, f"{url}/import", changed), 409, "env_conflicts")
            dry = await upload(api, f"{url}/import", changed, dry_run=True)
            assert dry.json()["report"]["definition"]["total"] == 1
            done = await upload(api, f"{url}/import", changed, resolutions={"REGION": "overwrite"}, backup=True)
            assert done.status_code == 200, done.text
            [backup] = (await api.get(f"{url}/backups")).json()["items"]
            downloaded = await api.get(f"{url}/backups/{backup['id']}")
            assert unzip(downloaded.content)["app_definition.json"]["definition"]["variables"] == {"greeting": "Hello"}
            env = {v["name"]: v for v in (await api.get(f"{url}/env")).json()["items"]}
            assert (env["REGION"]["value"], env["TOKEN"]["secure"]) == ("us", True)
            deployed = await api.post(f"{url}/deploy")
            assert deployed.status_code == 201, deployed.text
