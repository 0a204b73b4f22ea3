"""Importing a package into an existing workflow: the draft replaced (deployed versions untouched), environment
variables merged, and every conflict choice: `ask` (409 listing them, secure values redacted, nothing changed),
`keep`, `overwrite`, per-variable `resolutions`, and a mix; a dry run shows the definition's changes and changes
nothing; the audit entry lists the variables' changes, secure values redacted."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet

from tests.packages.importing import GREETER, KEY, PASSPHRASE, SECRET, Imports, fingerprint, imports, package, upload
from tests.workflows.conftest import assert_problem

__all__ = ["imports"]

EXISTING: dict[str, dict[str, Any]] = {
    "SAME": {"value": "a"},
    "DIFF": {"value": "old"},
    "SECRET_DIFF": {"value": "s-old", "secure": True},
    "FLAG": {"value": "x"},
    "SECRET_KEEP": {"value": "kept-secret", "secure": True},
    "ONLY_HERE": {"value": "mine"},
}
INCOMING = [
    {"name": "SAME", "value": "a"},
    {"name": "DIFF", "value": "new", "notes": "from the package"},
    {"name": "SECRET_DIFF", "secure": True, "secret": SECRET},
    {"name": "FLAG", "secure": True, "secret": "x"},
    {"name": "SECRET_KEEP", "secure": True},
    {"name": "ONLY_THERE", "value": "theirs"},
    {"name": "NO_VALUE", "secure": True},
]
CHANGED = {**GREETER, "variables": {"greeting": "Hi"}, "steps": [{**GREETER["steps"][0], "id": "say"}]}
CHANGED["output"] = {"greeting": "{{ steps.say.output.text }}"}
REDACTED = {"secure": True, "value": "[redacted]"}
CONFLICTS: list[dict[str, Any]] = [
    {"name": "DIFF", "existing": {"secure": False, "value": "old"}, "imported": {"secure": False, "value": "new"}},
    {"name": "FLAG", "existing": {"secure": False, "value": "x"}, "imported": REDACTED},
    {"name": "SECRET_DIFF", "existing": REDACTED, "imported": REDACTED},
]
CONTENT = package(CHANGED, INCOMING, passphrase=PASSPHRASE)


async def import_into(imports: Imports, slug: str, **fields: Any) -> Any:
    return await upload(imports.admin, f"/v1/workflows/{slug}/import", CONTENT, passphrase=PASSPHRASE, **fields)


async def values(imports: Imports, slug: str) -> dict[str, tuple[str, bool]]:
    """Each variable's value (secure ones decrypted) and secure flag, from the database."""
    query = sa.text(
        "SELECT e.name, e.value, e.secure FROM workflow_env e JOIN workflow w ON w.id = e.workflow_id WHERE w.slug = :s"
    )
    async with imports.engine.connect() as conn:
        rows = (await conn.execute(query, {"s": slug})).all()
    fernet = Fernet(KEY.encode())
    return {
        name: (fernet.decrypt(value.encode()).decode() if secure else value, secure) for name, value, secure in rows
    }


async def conflicted(imports: Imports) -> str:
    slug = imports.slug("conflicted")
    await imports.workflow(slug, **EXISTING)
    return slug


async def test_ask_answers_409_listing_each_conflict_and_changes_nothing(imports: Imports) -> None:
    slug = await conflicted(imports)
    before = await fingerprint(imports.engine)
    asked: list[tuple[dict[str, Any], dict[str, str]]] = [({}, {}), ({"on_conflict": "ask"}, {})]
    asked.append(({"resolutions": {"DIFF": "keep"}}, {"DIFF": "keep"}))
    for fields, resolved in asked:
        body = assert_problem(await import_into(imports, slug, **fields), 409, "env_conflicts")
        assert body["conflicts"] == [{**c, "resolution": resolved.get(c["name"], "ask")} for c in CONFLICTS]
        assert "FLAG" in body["detail"]
        assert SECRET not in json.dumps(body)
        assert "s-old" not in json.dumps(body)
    assert await fingerprint(imports.engine) == before


async def test_keep_leaves_every_conflict_as_it_was(imports: Imports) -> None:
    slug = await conflicted(imports)
    response = await import_into(imports, slug, on_conflict="keep")
    assert response.status_code == 200, response.text
    assert response.json()["workflow"]["draft"] == CHANGED
    assert response.json()["report"]["env"] == {
        "added": ["ONLY_THERE"],
        "overwritten": [],
        "kept": ["DIFF", "FLAG", "ONLY_HERE", "SAME", "SECRET_DIFF", "SECRET_KEEP"],
        "needs_value": ["NO_VALUE"],
        "conflicts": [{**c, "resolution": "keep"} for c in CONFLICTS],
    }
    assert await values(imports, slug) == {
        **{name: (body["value"], bool(body.get("secure"))) for name, body in EXISTING.items()},
        "ONLY_THERE": ("theirs", False),
    }


async def test_overwrite_takes_every_conflict_from_the_package(imports: Imports) -> None:
    slug = await conflicted(imports)
    response = await import_into(imports, slug, on_conflict="overwrite")
    assert response.status_code == 200, response.text
    env = response.json()["report"]["env"]
    assert (env["overwritten"], env["kept"]) == (["DIFF", "FLAG", "SECRET_DIFF"], ["ONLY_HERE", "SAME", "SECRET_KEEP"])
    found = await values(imports, slug)
    assert (found["DIFF"], found["FLAG"], found["SECRET_DIFF"]) == (("new", False), ("x", True), (SECRET, True))
    assert found["SECRET_KEEP"] == ("kept-secret", True)  # the package has it without a value: kept
    assert "NO_VALUE" not in found
    assert (await imports.env(slug))["DIFF"]["notes"] == "from the package"


async def test_resolutions_per_variable_and_mixed_with_a_default(imports: Imports) -> None:
    slug = await conflicted(imports)
    each = {"DIFF": "overwrite", "FLAG": "keep", "SECRET_DIFF": "overwrite"}
    response = await import_into(imports, slug, resolutions=each)
    assert response.status_code == 200, response.text
    assert [(c["name"], c["resolution"]) for c in response.json()["report"]["env"]["conflicts"]] == list(each.items())
    found = await values(imports, slug)
    assert (found["DIFF"], found["FLAG"], found["SECRET_DIFF"]) == (("new", False), ("x", False), (SECRET, True))

    mixed = await conflicted(imports)
    response = await import_into(imports, mixed, on_conflict="overwrite", resolutions={"SECRET_DIFF": "keep"})
    assert response.status_code == 200, response.text
    assert response.json()["report"]["env"]["overwritten"] == ["DIFF", "FLAG"]
    found = await values(imports, mixed)
    assert (found["DIFF"], found["FLAG"], found["SECRET_DIFF"]) == (("new", False), ("x", True), ("s-old", True))


async def test_resolutions_that_are_not_an_object_of_choices_or_name_no_variable(imports: Imports) -> None:
    slug = await conflicted(imports)
    before = await fingerprint(imports.engine)
    for raw, path in (
        ("[1]", "form:resolutions"),
        ('{"DIFF": "maybe"}', "form:resolutions"),
        ('{"NOPE": "keep"}', "form:resolutions.NOPE"),
    ):
        response = await upload(
            imports.admin, f"/v1/workflows/{slug}/import", CONTENT, passphrase=PASSPHRASE, resolutions=raw
        )
        body = assert_problem(response, 422, "invalid_input")
        assert [e["path"] for e in body["errors"]] == [path]
    body = assert_problem(await import_into(imports, slug, on_conflict="sometimes"), 422, "invalid_request")
    assert [e["path"] for e in body["errors"]] == ["$.on_conflict"]
    assert await fingerprint(imports.engine) == before


async def test_no_variables_on_either_side_is_no_conflict(imports: Imports) -> None:
    slug = imports.slug("bare")
    await imports.workflow(slug)
    response = await upload(imports.admin, f"/v1/workflows/{slug}/import", package(CHANGED))
    assert response.status_code == 200, response.text
    assert response.json()["report"]["env"] == {
        "added": [],
        "overwritten": [],
        "kept": [],
        "needs_value": [],
        "conflicts": [],
    }


async def test_a_dry_run_shows_the_changes_and_changes_nothing(imports: Imports) -> None:
    slug = await conflicted(imports)
    before = await fingerprint(imports.engine)
    response = await import_into(imports, slug, dry_run=True)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["workflow"] is None
    report = answer["report"]
    assert report["dry_run"] is True
    assert report["definition"] == {
        "changes": [
            {"path": "$.output.greeting", "change": "changed", "before": "{{ steps.compose.output.text }}",
             "after": "{{ steps.say.output.text }}"},
            {"path": "$.steps[0].id", "change": "changed", "before": "compose", "after": "say"},
            {"path": "$.variables.greeting", "change": "changed", "before": "Hello", "after": "Hi"},
        ],
        "total": 3,
    }  # fmt: skip
    assert [(c["name"], c["resolution"]) for c in report["env"]["conflicts"]] == [
        ("DIFF", "ask"),
        ("FLAG", "ask"),
        ("SECRET_DIFF", "ask"),
    ]
    assert (report["env"]["added"], report["env"]["needs_value"]) == (["ONLY_THERE"], ["NO_VALUE"])
    again = await import_into(imports, slug, dry_run=True, on_conflict="overwrite", backup=True)
    assert again.json()["report"]["env"]["overwritten"] == ["DIFF", "FLAG", "SECRET_DIFF"]
    assert again.json()["report"]["backup"] is None
    assert await fingerprint(imports.engine) == before


async def test_deployed_versions_name_and_settings_are_untouched(imports: Imports) -> None:
    slug = await conflicted(imports)
    await imports.ok("PATCH", f"/v1/workflows/{slug}/settings", {"sync_timeout_s": 200})
    deployed = await imports.ok("POST", f"/v1/workflows/{slug}/deploy")
    response = await import_into(imports, slug, on_conflict="keep")
    assert response.status_code == 200, response.text
    made = response.json()["workflow"]
    assert (made["current_version"], made["name"], made["draft"]) == (1, slug, CHANGED)
    assert (
        (await imports.ok("GET", f"/v1/workflows/{slug}/versions/1"))["definition"] == deployed["definition"] == GREETER
    )
    assert (await imports.ok("GET", f"/v1/workflows/{slug}/settings"))["sync_timeout_s"] == 200
    assert response.json()["report"]["settings_applied"] is False


async def test_the_audit_entry_lists_what_changed_secure_values_redacted(imports: Imports) -> None:
    slug = await conflicted(imports)
    response = await import_into(imports, slug, on_conflict="overwrite")
    workflow_id = response.json()["workflow"]["id"]
    [entry, *_] = (await imports.ok("GET", f"/v1/workflows/{slug}/audit-log"))["items"]
    assert (entry["action"], entry["category"], entry["target_id"]) == ("workflow.imported", "workflow", workflow_id)
    changes = entry["changes"]
    assert set(changes) == {
        "content_hash",
        "env.DIFF.value",
        "env.DIFF.notes",
        "env.FLAG.value",
        "env.FLAG.secure",
        "env.SECRET_DIFF.value",
        "env.ONLY_THERE.value",
        "env.ONLY_THERE.secure",
    }
    assert changes["env.DIFF.value"] == {"before": "old", "after": "new"}
    assert changes["env.FLAG.value"] == {"before": "x", "after": "[redacted]"}
    assert changes["env.SECRET_DIFF.value"] == {"before": "[redacted]", "after": "[redacted]"}
    assert SECRET not in json.dumps(entry)
    assert "s-old" not in json.dumps(entry)
