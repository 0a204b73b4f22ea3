"""Packages on the configuration page: export (the API's zip passed on, named after the workflow), import as the
draft with conflicts resolved one by one and a backup of the draft replaced, the backups' downloads, and refusals."""

from __future__ import annotations

import html
import io
import json
import zipfile

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_settings
from tests.ui.forms import csrf_of, post_form
from tests.ui.workflows_helpers import page, read, world
from workflow_service.config import Settings

CONFIG = "/ui/workflows/greeter/configuration"


async def test_export_downloads_the_deployed_version_named_after_the_workflow(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        assert (await w.api.put("/v1/workflows/greeter/env/REGION", json={"value": "eu"})).status_code == 201
        browser = await w.operator()
        shown = await page(browser, CONFIG)
        answer = await post_form(browser, CONFIG, f"{CONFIG}/export", {"version": "current", "passphrase": ""})
    assert "selected>Deployed (version 1)" in shown.html
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"].startswith('attachment; filename="Greeter.zip"')
    assert answer.headers["cache-control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        assert archive.namelist() == ["app_definition.json", "flow_definition.json", "env_variables.json"]
        env = json.loads(archive.read("env_variables.json"))
    assert env["variables"][0]["value"] == "eu"


async def test_export_refusals_are_shown_on_the_page(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter", deploy=False)
        browser = await w.operator()
        shown = await page(browser, CONFIG)
        never_deployed = await post_form(browser, CONFIG, f"{CONFIG}/export", {"version": "current"})
        short = await post_form(browser, CONFIG, f"{CONFIG}/export", {"version": "draft", "passphrase": "short"})
        draft = await post_form(browser, CONFIG, f"{CONFIG}/export", {"version": "draft"})
    assert 'value="draft" selected' in shown.html  # nothing deployed: the draft is the default
    assert never_deployed.status_code == 409
    assert "text/html" in never_deployed.headers["content-type"]
    assert short.status_code == 422
    assert "header:X-Export-Passphrase" in read(short.text).text
    assert draft.status_code == 200


def _package_of(exported: bytes, env: list[dict[str, object]], steps_output: str) -> bytes:
    """`exported` with other variables and another step output."""
    with zipfile.ZipFile(io.BytesIO(exported)) as archive:
        files = {name: json.loads(archive.read(name)) for name in archive.namelist()}
    files["env_variables.json"]["variables"] = env
    files["flow_definition.json"]["definition"]["steps"][0]["output"] = {"text": steps_output}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, json.dumps(content))
    return buffer.getvalue()


async def test_an_import_with_conflicts_lists_them_and_proceeds_as_each_was_resolved(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        for name, value in (("REGION", "eu"), ("TONE", "dry")):
            assert (await w.api.put(f"/v1/workflows/greeter/env/{name}", json={"value": value})).status_code == 201
        exported = (await w.api.get("/v1/workflows/greeter/export")).content
        package = _package_of(
            exported,
            [
                {"name": "REGION", "notes": None, "secure": False, "value": "us"},
                {"name": "TONE", "notes": None, "secure": False, "value": "warm"},
            ],
            "Hi there",
        )
        browser = await w.operator()
        token = csrf_of((await browser.get(CONFIG)).text)
        files = {"package": ("Greeter.zip", package, "application/zip")}
        asked = await browser.post(f"{CONFIG}/import", data={"csrf_token": token, "backup": "1"}, files=files)
        untouched = (await w.api.get("/v1/workflows/greeter")).json()
        carried = html.unescape(asked.text.split('name="package_b64" value="')[1].split('"')[0])
        data = {
            "package_b64": carried,
            "package_name": "Greeter.zip",
            "backup": "1",
            "resolve.REGION": "overwrite",
            "resolve.TONE": "keep",
            "csrf_token": csrf_of(asked.text),
        }
        done = await browser.post(f"{CONFIG}/import", data=data)
        after = (await w.api.get("/v1/workflows/greeter")).json()
        env = {v["name"]: v["value"] for v in (await w.api.get("/v1/workflows/greeter/env")).json()["items"]}
        shown = await page(browser, done.headers["location"].split("#")[0])
    assert asked.status_code == 409
    assert "Conflicting variables in Greeter.zip" in read(asked.text).text
    assert "Proceed" in read(asked.text).buttons
    assert 'name="resolve.REGION" value="keep" checked' in asked.text  # existing values are kept unless replaced
    assert untouched["draft"]["steps"][0]["output"] == {"text": "Hello, {{ inputs.name }}!"}
    assert done.status_code == 303
    assert after["draft"]["steps"][0]["output"] == {"text": "Hi there"}
    assert after["current_version"] == 1
    assert env == {"REGION": "us", "TONE": "dry"}
    assert "Package imported as the draft" in shown.text
    assert "Exported_Greeter.zip" in shown.text  # the backup of the draft it replaced


async def test_backups_are_listed_and_downloaded(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        exported = (await w.api.get("/v1/workflows/greeter/export")).content
        browser = await w.operator()
        token = csrf_of((await browser.get(CONFIG)).text)
        files = {"package": ("Greeter.zip", exported, "application/zip")}
        done = await browser.post(f"{CONFIG}/import", data={"csrf_token": token, "backup": "1"}, files=files)
        backups = (await w.api.get("/v1/workflows/greeter/backups")).json()["items"]
        shown = await page(browser, CONFIG)
        download = await browser.get(f"{CONFIG}/backups/{backups[0]['id']}")
        missing = await browser.get(f"{CONFIG}/backups/00000000-0000-0000-0000-000000000000")
    assert done.status_code == 303
    assert f'href="{CONFIG}/backups/{backups[0]["id"]}"' in shown.html
    assert download.status_code == 200
    assert "Exported_Greeter.zip" in download.headers["content-disposition"]
    assert zipfile.ZipFile(io.BytesIO(download.content)).namelist()[0] == "app_definition.json"
    assert missing.status_code == 404


async def test_a_bad_package_or_none_changes_nothing(settings: Settings) -> None:
    async with world(settings) as w:
        before = await w.workflow("greeter")
        browser = await w.operator()
        token = csrf_of((await browser.get(CONFIG)).text)
        files = {"package": ("x.zip", b"PK not really", "application/zip")}
        refused = await browser.post(f"{CONFIG}/import", data={"csrf_token": token, "backup": "1"}, files=files)
        empty = await browser.post(f"{CONFIG}/import", data={"csrf_token": token}, files={"package": ("", b"")})
        garbled = await browser.post(f"{CONFIG}/import", data={"csrf_token": token, "package_b64": "%%%"})
        after = (await w.api.get("/v1/workflows/greeter")).json()
        backups = (await w.api.get("/v1/workflows/greeter/backups")).json()["items"]
    assert refused.status_code == 422
    assert "the package is not a zip file" in read(refused.text).text
    assert empty.status_code == 422
    assert "choose a package" in read(empty.text).text
    assert garbled.status_code == 422
    assert after["draft"] == before["draft"]
    assert backups == []


async def test_viewers_may_not_export_or_import(settings: Settings) -> None:
    async with world(settings) as w:
        before = await w.workflow("greeter")
        exported = (await w.api.get("/v1/workflows/greeter/export")).content
        viewer = await w.person("viewer@example.com", "viewer")
        shown = await page(viewer, CONFIG)
        token = csrf_of((await viewer.get("/ui/account")).text)
        export = await viewer.post(f"{CONFIG}/export", data={"csrf_token": token, "version": "current"})
        files = {"package": ("Greeter.zip", exported, "application/zip")}
        imported = await viewer.post(f"{CONFIG}/import", data={"csrf_token": token}, files=files)
        after = (await w.api.get("/v1/workflows/greeter")).json()
    assert "Export workflow" not in shown.text
    assert "Import a workflow" not in shown.text
    assert "Backups" not in shown.text
    assert export.status_code == 403
    assert "application/zip" not in export.headers["content-type"]
    assert imported.status_code == 403
    assert after["draft"] == before["draft"]


async def test_a_package_upload_may_pass_the_general_body_limit_as_on_the_api(engine: AsyncEngine) -> None:
    """A package may be larger than WFS_MAX_BODY_BYTES (up to its own 5 MiB): the dashboard's import forms get the
    API's own limit, so the API checks the upload and the page says what is wrong with it, not a bare 413."""
    async with world(make_settings(max_body_bytes=64 * 1024)) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        token = csrf_of((await browser.get(CONFIG)).text)
        files = {"package": ("big.zip", b"PK" + b"x" * 200_000, "application/zip")}
        refused = await browser.post(f"{CONFIG}/import", data={"csrf_token": token}, files=files)
        as_new = await browser.post(
            "/ui/workflows/import", data={"csrf_token": csrf_of((await browser.get("/ui/workflows")).text)}, files=files
        )
        too_big = await browser.post("/ui/account/tokens", data={"csrf_token": token, "name": "x" * 70_000})
    assert refused.status_code == 422
    assert "the package is not a zip file" in read(refused.text).text
    assert as_new.status_code == 422
    assert "not a zip file" in read(as_new.text).text
    assert too_big.status_code == 413  # any other form keeps the general limit
