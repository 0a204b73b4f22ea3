"""The export route: what it refuses (and that a refusal records nothing), the file name it gives, who may export,
and the audit entry of every export."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from pydantic import SecretStr

from tests.apikeys.conftest import issue_key
from tests.conftest import TOKEN, connections, make_settings
from tests.packages.conftest import DEFINITION, SLUG, World, files_of
from tests.workflows.conftest import assert_problem
from workflow_service.packages.export import file_name
from workflow_service.packages.router import content_disposition

PASSPHRASE = "correct horse battery staple"


async def _exports(world: World) -> list[dict[str, Any]]:
    """The workspace's `workflow.exported` entries, newest first."""
    page = await world.ok("GET", "/v1/audit-log?action=workflow.exported&limit=200")
    items: list[dict[str, Any]] = page["items"]
    return items


@pytest.mark.parametrize(
    ("url", "headers", "status", "code", "path"),
    [
        ("/v1/workflows/missing/export", {}, 404, "not_found", None),
        (f"/v1/workflows/{SLUG}/export?version=7", {}, 404, "not_found", None),
        (f"/v1/workflows/{SLUG}/export?version=latest", {}, 422, "invalid_input", "query:version"),
        (f"/v1/workflows/{SLUG}/export?version=0", {}, 422, "invalid_input", "query:version"),
        (f"/v1/workflows/{SLUG}/export", {"X-Export-Passphrase": "short"}, 422, "invalid_input", None),
        (f"/v1/workflows/{SLUG}/export", {"X-Export-Passphrase": ""}, 422, "invalid_input", None),
        (f"/v1/workflows/{SLUG}/export", {"X-Export-Passphrase": b"\xff\xfe not utf-8"}, 422, "invalid_input", None),
        (f"/v1/workflows/{SLUG}/export?passphrase=long+enough+here", {}, 422, "invalid_request", "query:passphrase"),
    ],
)
async def test_a_refused_export_is_a_problem_naming_what_and_records_nothing(
    world: World, url: str, headers: dict[str, Any], status: int, code: str, path: str | None
) -> None:
    before = await _exports(world)
    body = assert_problem(await world.admin.get(url, headers=headers), status, code)
    if status == 422:
        [error] = body["errors"]
        assert error["path"] == (path or "header:X-Export-Passphrase"), body
    if "version=7" in url:
        assert body["detail"] == f"workflow '{SLUG}' has no version 7"
    assert await _exports(world) == before


async def test_current_of_a_workflow_never_deployed_is_409_and_its_draft_exports(world: World) -> None:
    await world.ok("POST", "/v1/workflows", {"name": "Undeployed", "definition": DEFINITION})
    body = assert_problem(await world.export("undeployed"), 409, "not_deployed")
    assert "never been deployed" in body["detail"]
    assert_problem(await world.export("undeployed", "1"), 404, "not_found")
    draft = await world.export("undeployed", "draft")
    assert draft.status_code == 200, draft.text
    assert files_of(draft.content)["app_definition.json"]["source"] == {"workflow": "undeployed", "version": "draft"}


@pytest.mark.parametrize(
    ("name", "saved_as", "fallback", "encoded"),
    [
        ("Banking Assistant", "Banking Assistant.zip", "Banking Assistant.zip", "Banking%20Assistant.zip"),
        ("Café Ünïcode 東京", "Café Ünïcode 東京.zip", "Cafe Unicode.zip", quote("Café Ünïcode 東京.zip", safe="")),
        ("東京", "東京.zip", "workflow.zip", "%E6%9D%B1%E4%BA%AC.zip"),
        ('Q3 / "North"\tReport', "Q3 _ _North__Report.zip", "Q3 _ _North__Report.zip", "Q3%20_%20_North__Report.zip"),
        ("100% ..\\up", "100% .._up.zip", "100_ .._up.zip", "100%25%20.._up.zip"),
        ("...", "workflow.zip", "workflow.zip", "workflow.zip"),
    ],
)
def test_the_file_is_named_after_the_workflow_and_made_safe(
    name: str, saved_as: str, fallback: str, encoded: str
) -> None:
    assert file_name(name) == saved_as
    assert content_disposition(saved_as) == f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


async def test_a_non_ascii_name_reaches_the_client_in_both_forms(world: World) -> None:
    await world.ok("POST", "/v1/workflows", {"name": "Café 東京", "slug": "cafe", "definition": DEFINITION})
    response = await world.export("cafe", "draft")
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"Cafe.zip\"; filename*=UTF-8''" + quote("Café 東京.zip", safe="")
    )
    assert files_of(response.content)["app_definition.json"]["name"] == "Café 東京"


async def test_every_export_is_in_the_audit_log_with_what_it_did_to_the_secure_values(world: World) -> None:
    cases = [
        ({}, f"exported version 1 of workflow '{SLUG}', its 1 secure value(s) left out"),
        ({"X-Export-Passphrase": PASSPHRASE}, f"exported version 1 of workflow '{SLUG}', its 1 secure value(s) "
         "encrypted with a passphrase"),
    ]  # fmt: skip
    for headers, described in cases:
        response = await world.admin.get(f"/v1/workflows/{SLUG}/export", headers=headers)
        assert response.status_code == 200, response.text
        entry = (await _exports(world))[0]
        assert entry["request_id"] == response.headers["x-request-id"]
        assert entry["description"] == described
        assert (entry["action"], entry["category"], entry["actor"]) == ("workflow.exported", "workflow", "admin")
        assert (entry["target_id"], entry["target_name"], entry["workflow_id"]) == (
            world.workflow_id,
            SLUG,
            world.workflow_id,
        )
        assert PASSPHRASE not in str(entry)
    await world.ok("POST", "/v1/workflows", {"name": "Nothing secure", "definition": DEFINITION})
    assert (await world.export("nothing-secure", "draft")).status_code == 200
    assert (await _exports(world))[0]["description"] == "exported the draft of workflow 'nothing-secure'"
    in_its_log = await world.ok("GET", f"/v1/workflows/{SLUG}/audit-log?action=workflow.exported")
    assert {e["workflow_id"] for e in in_its_log["items"]} == {world.workflow_id}
    assert (await world.ok("GET", "/v1/audit-log/verify"))["ok"] is True


async def test_a_secure_value_the_service_key_cannot_decrypt_is_409_with_a_passphrase_only(world: World) -> None:
    other_key = "x" * 43 + "="  # a well-formed Fernet key, not the one the values were encrypted with
    async with connections(make_settings(secret_key=SecretStr(other_key))) as connect:
        admin = connect(TOKEN)
        headers = {"X-Export-Passphrase": PASSPHRASE}
        body = assert_problem(
            await admin.get(f"/v1/workflows/{SLUG}/export", headers=headers), 409, "secure_value_unreadable"
        )
        assert body["detail"].startswith("secure variable API_TOKEN: ")
        assert (await admin.get(f"/v1/workflows/{SLUG}/export")).status_code == 200


async def _member(world: World, role: str | None, workspace_role: str = "member") -> httpx.AsyncClient:
    """A user of the workspace with `workspace_role`, invited to the workflow as `role` (None: not invited)."""
    made = await world.ok(
        "POST", "/v1/users", {"email": f"{workspace_role}-{role}@bank.example", "name": "P", "role": workspace_role}
    )
    if role is not None:
        await world.ok("PUT", f"/v1/workflows/{SLUG}/members/{made['id']}", {"role": role})
    return world.connect(made["token"])


async def test_owners_editors_and_workspace_admins_may_export_viewers_runners_and_keys_may_not(world: World) -> None:
    callers = {
        "owner": await _member(world, "owner"),
        "editor": await _member(world, "editor"),
        "runner": await _member(world, "runner"),
        "viewer": await _member(world, "viewer"),
        "uninvited": await _member(world, None),
        "admin": await _member(world, None, "admin"),
        "key": world.connect((await issue_key(world.admin, SLUG))["key"]),
    }  # fmt: skip
    got = {}
    for name, client in callers.items():
        before = await _exports(world)
        response = await client.get(f"/v1/workflows/{SLUG}/export", headers={"X-Export-Passphrase": PASSPHRASE})
        got[name] = response.status_code
        if response.status_code == 200:
            assert len(await _exports(world)) == len(before) + 1
        else:
            assert_problem(response, response.status_code, {403: "forbidden", 404: "not_found"}[response.status_code])
            assert await _exports(world) == before
    assert got == {
        "owner": 200, "editor": 200, "runner": 403, "viewer": 403, "uninvited": 404, "admin": 200, "key": 403,
    }  # fmt: skip
