"""Importing a package as a new workflow: its draft (never deployed), name, description, endpoint settings and
environment variables (secure ones encrypted at rest; those without a value listed, not created), the audit entry,
and what refuses it with nothing created (a slug taken, a callback URL the outbound policy refuses, settings this
service does not take, a secure value without WFS_SECRET_KEY); a dry run changes nothing."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet

from tests.conftest import TOKEN, connections, make_settings
from tests.packages.importing import (
    GREETER,
    KEY,
    PASSPHRASE,
    SECRET,
    SETTINGS,
    Imports,
    fingerprint,
    imports,
    package,
    upload,
)
from tests.workflows.conftest import assert_problem

__all__ = ["imports"]

NEW = "/v1/workflows/import"
VARIABLES = [
    {"name": "REGION", "value": "eu-west", "notes": "where to"},
    {"name": "API_TOKEN", "secure": True, "secret": SECRET, "notes": "the token"},
    {"name": "LATER", "secure": True, "notes": "exported without a passphrase"},
]


async def stored(imports: Imports, workflow_id: str, name: str) -> tuple[str, bool]:
    """A variable's value column and secure flag, as they are in the database."""
    query = sa.text("SELECT value, secure FROM workflow_env WHERE workflow_id = :w AND name = :n")
    async with imports.engine.connect() as conn:
        value, secure = (await conn.execute(query, {"w": workflow_id, "n": name})).one()
    return str(value), bool(secure)


async def entries(imports: Imports, workflow_id: str) -> list[dict[str, Any]]:
    listed = await imports.ok("GET", f"/v1/workflows/{workflow_id}/audit-log")
    return list(listed["items"])


async def test_a_package_becomes_a_new_workflow_with_its_draft_settings_and_variables(imports: Imports) -> None:
    response = await upload(
        imports.admin,
        NEW,
        package(variables=VARIABLES, name="Greeter Deluxe", passphrase=PASSPHRASE),
        passphrase=PASSPHRASE,
    )
    assert response.status_code == 201, response.text
    answer = response.json()
    made = answer["workflow"]
    assert response.headers["Location"] == f"http://testserver/v1/workflows/{made['slug']}"
    assert (made["slug"], made["name"], made["description"]) == (
        "greeter-deluxe",
        "Greeter Deluxe",
        "Made for the tests",
    )
    assert (made["draft"], made["current_version"], made["endpoints"], made["draft_problems"]) == (
        GREETER,
        None,
        None,
        [],
    )
    assert (await imports.ok("GET", f"/v1/workflows/{made['slug']}/versions"))["items"] == []
    report = answer["report"]
    assert report["origin"] == {"workflow": "greeter", "version": 1, "format_version": 1}
    assert report["env"] == {
        "added": ["API_TOKEN", "REGION"],
        "overwritten": [],
        "kept": [],
        "needs_value": ["LATER"],
        "conflicts": [],
    }
    assert (report["dry_run"], report["definition"], report["settings_applied"], report["backup"]) == (
        False,
        None,
        True,
        None,
    )

    settings = await imports.ok("GET", f"/v1/workflows/{made['slug']}/settings")
    assert (settings["sync_timeout_s"], settings["queue_timeout_s"], settings["retention_days"]) == (90, 600.0, 30)
    assert (settings["push"]["enabled"], settings["push"]["timeout_s"]) == (False, 120)
    env = await imports.env(made["slug"])
    assert sorted(env) == ["API_TOKEN", "REGION"]
    assert (env["REGION"]["value"], env["REGION"]["notes"]) == ("eu-west", "where to")
    assert (env["API_TOKEN"]["secure"], env["API_TOKEN"]["value"], env["API_TOKEN"]["has_value"]) == (True, None, True)
    value, secure = await stored(imports, made["id"], "API_TOKEN")
    assert secure
    assert value != SECRET
    assert Fernet(KEY.encode()).decrypt(value.encode()).decode() == SECRET

    [entry] = await entries(imports, made["id"])
    assert (entry["action"], entry["actor"], entry["target_id"]) == ("workflow.imported", "admin", made["id"])
    changes = entry["changes"]
    assert changes["slug"] == {"before": None, "after": "greeter-deluxe"}
    assert changes["env.API_TOKEN.value"] == {"before": None, "after": "[redacted]"}
    assert changes["env.REGION.value"] == {"before": None, "after": "eu-west"}
    assert changes["settings.sync_timeout_s"] == {"before": 180, "after": 90}
    assert SECRET not in json.dumps(entry)
    assert SECRET not in response.text
    assert (await imports.admin.post(f"/v1/workflows/{made['slug']}/deploy")).status_code == 201


async def test_the_slug_and_name_given_and_a_slug_taken(imports: Imports) -> None:
    response = await upload(imports.admin, NEW, package(), slug="chosen", name="Chosen One")
    assert response.status_code == 201, response.text
    assert (response.json()["workflow"]["slug"], response.json()["workflow"]["name"]) == ("chosen", "Chosen One")
    before = await fingerprint(imports.engine)
    for dry_run in (False, True):
        body = assert_problem(
            await upload(imports.admin, NEW, package(), slug="chosen", dry_run=dry_run), 409, "conflict"
        )
        assert "chosen" in body["detail"]
    body = assert_problem(await upload(imports.admin, NEW, package(), slug="Not A Slug"), 422, "invalid_input")
    assert [e["path"] for e in body["errors"]] == ["form:slug"]
    assert await fingerprint(imports.engine) == before


async def test_a_dry_run_creates_nothing_and_says_what_it_would(imports: Imports) -> None:
    before = await fingerprint(imports.engine)
    response = await upload(
        imports.admin,
        NEW,
        package(variables=VARIABLES, passphrase=PASSPHRASE),
        passphrase=PASSPHRASE,
        slug="dry",
        dry_run=True,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["workflow"] is None
    assert answer["report"]["dry_run"] is True
    assert (answer["report"]["env"]["added"], answer["report"]["env"]["needs_value"]) == (
        ["API_TOKEN", "REGION"],
        ["LATER"],
    )
    assert await fingerprint(imports.engine) == before
    assert (await imports.admin.get("/v1/workflows/dry")).status_code == 404


async def test_push_is_left_off_with_the_callback_url_kept(imports: Imports) -> None:
    push = {"enabled": True, "callback_url": "http://127.0.0.1:9/hook", "timeout_s": 300}
    response = await upload(imports.admin, NEW, package(settings={**SETTINGS, "push": push}), slug="pushy")
    assert response.status_code == 201, response.text
    assert response.json()["report"]["push_left_disabled"] is True
    settings = await imports.ok("GET", "/v1/workflows/pushy/settings")
    assert settings["push"] | {"signing_secrets": 0} == {
        "enabled": False,
        "callback_url": "http://127.0.0.1:9/hook",
        "has_access_token": False,
        "timeout_s": 300,
        "disabled_reason": None,
        "signing_secrets": 0,
    }


async def test_settings_the_service_refuses_create_nothing(imports: Imports) -> None:
    before = await fingerprint(imports.engine)
    private = {**SETTINGS, "push": {"enabled": False, "callback_url": "http://10.1.2.3/hook", "timeout_s": 120}}
    for dry_run in (False, True):
        response = await upload(imports.admin, NEW, package(settings=private), slug="refused", dry_run=dry_run)
        body = assert_problem(response, 422, "invalid_input")
        assert [e["path"] for e in body["errors"]] == ["$.push.callback_url"]
    body = assert_problem(
        await upload(imports.admin, NEW, package(settings={**SETTINGS, "sync_timeout_s": 5})),
        422,
        "invalid_package_file",
    )
    assert [e["path"] for e in body["errors"]] == ["app_definition.json:$.settings.sync_timeout_s"]
    assert await fingerprint(imports.engine) == before


async def test_a_secure_value_needs_the_services_secret_key(imports: Imports) -> None:
    """Without WFS_SECRET_KEY a secure value cannot be stored: 409, and the workflow is not created either."""
    content = package(variables=VARIABLES[:2], passphrase=PASSPHRASE)
    before = await fingerprint(imports.engine)
    async with connections(make_settings()) as connect:
        response = await upload(connect(TOKEN), NEW, content, passphrase=PASSPHRASE, slug="keyless")
    assert_problem(response, 409, "secret_key_required")
    assert await fingerprint(imports.engine) == before


async def test_a_workflow_step_naming_a_workflow_missing_here_is_a_draft_problem(imports: Imports) -> None:
    parent = {"steps": [{"id": "child", "type": "workflow", "workflow": "not-here", "inputs": {}}]}
    response = await upload(imports.admin, NEW, package(parent), slug="parent")
    assert response.status_code == 201, response.text
    problems = response.json()["report"]["draft_problems"]
    assert problems == response.json()["workflow"]["draft_problems"]
    assert problems == [{"path": "$.steps[0].workflow", "message": "there is no workflow 'not-here'"}]
    assert_problem(await imports.admin.post("/v1/workflows/parent/deploy"), 422, "invalid_definition")
