"""Export: the package's three files, exactly; the zip's entries; the same bytes for the same version; secure
values left out without a passphrase and encrypted with one; never a push access token or signing secret."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
import sqlalchemy as sa

from tests.packages.conftest import DEFINITION, NAME, PUSH_TOKEN, SECRET, SLUG, World, files_of, unzip
from workflow_service.packages import passphrase
from workflow_service.packages.spec import APP_DEFINITION_KEYS, FILES, ZIP_TIMESTAMP, Encrypted, KeyDerivation

PASSPHRASE = "correct horse battery staple"

APP_FILE: dict[str, Any] = {
    "format_version": 1,
    "name": NAME,
    "description": "Our bank's helper",
    "source": {"workflow": SLUG, "version": 1},
    "definition": {key: DEFINITION[key] for key in APP_DEFINITION_KEYS},
    "settings": {
        "sync_timeout_s": 90,
        "queue_timeout_s": 600.0,
        "retention_days": 30,
        "push": {"enabled": True, "callback_url": "http://127.0.0.1:9/hook", "timeout_s": 120},
    },
}
FLOW_FILE: dict[str, Any] = {
    "format_version": 1,
    "definition": {key: DEFINITION[key] for key in ("model", "timeout_s", "steps", "output")},
}
ENV_FILE: dict[str, Any] = {
    "format_version": 1,
    "variables": [
        {"name": "API_TOKEN", "notes": "the report service's token", "secure": True, "value": None},
        {"name": "EMPTY_NOTES", "notes": None, "secure": False, "value": "x"},
        {"name": "REGION", "notes": "where reports go", "secure": False, "value": "eu-west"},
    ],
}


def written(value: Any) -> bytes:
    """A package file as the format writes it: sorted keys, two-space indents, a final newline."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


async def test_the_three_files_hold_the_version_settings_and_variables_exactly(world: World) -> None:
    response = await world.export()
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "no-store"
    files = unzip(response.content)
    assert files == {
        "app_definition.json": written(APP_FILE),
        "flow_definition.json": written(FLOW_FILE),
        "env_variables.json": written(ENV_FILE),
    }
    # Together the two parts are the deployed definition.
    flow, app = (json.loads(files[name])["definition"] for name in ("flow_definition.json", "app_definition.json"))
    assert {**flow, **app} == DEFINITION


async def test_every_entry_of_the_zip_is_deflated_with_a_fixed_time_and_permissions(world: World) -> None:
    with zipfile.ZipFile(io.BytesIO((await world.export()).content)) as archive:
        entries = archive.infolist()
        assert archive.comment == b""
    assert [e.filename for e in entries] == list(FILES)
    for entry in entries:
        assert entry.date_time == ZIP_TIMESTAMP
        assert entry.compress_type == zipfile.ZIP_DEFLATED
        assert (entry.create_system, entry.external_attr >> 16) == (3, 0o100644)
        assert entry.extra == b""


async def test_the_same_version_is_the_same_bytes_whatever_the_draft_becomes(world: World) -> None:
    definition = {"steps": [{"id": "one", "type": "transform", "output": "first"}]}
    await world.ok("POST", "/v1/workflows", {"name": "Stable", "definition": definition})
    await world.ok("POST", "/v1/workflows/stable/deploy")
    await world.ok("PUT", "/v1/workflows/stable/env/PLAIN", {"value": "kept"})
    first = (await world.export("stable", "1")).content
    assert (await world.export("stable", "1")).content == first
    assert (await world.export("stable")).content == first  # current is version 1

    edited = {"steps": [{"id": "two", "type": "transform", "output": "second"}]}
    await world.ok("PUT", "/v1/workflows/stable/draft", {"definition": edited})
    assert (await world.export("stable", "1")).content == first
    draft = files_of((await world.export("stable", "draft")).content)
    assert draft["app_definition.json"]["source"] == {"workflow": "stable", "version": "draft"}
    assert draft["flow_definition.json"]["definition"] == edited

    await world.ok("POST", "/v1/workflows/stable/deploy")
    current = files_of((await world.export("stable")).content)
    assert current["app_definition.json"]["source"]["version"] == 2
    assert current["flow_definition.json"]["definition"] == edited
    assert (await world.export("stable", "1")).content == first


async def _stored_secrets(world: World) -> list[str]:
    """What the database holds for the secure variable and the push secrets (Fernet tokens)."""
    async with world.engine.connect() as conn:
        token = (await conn.execute(sa.text("SELECT value FROM workflow_env WHERE name = 'API_TOKEN'"))).scalar_one()
        settings = (await conn.execute(sa.text("SELECT settings FROM workflow WHERE slug = :s"), {"s": SLUG})).one()[0]
    push = settings["push"]
    return [token, push["access_token"]["enc"], *(entry["secret"]["enc"] for entry in push["secrets"])]


async def _assert_holds_no_secret(world: World, content: bytes) -> None:
    secrets = [SECRET, PUSH_TOKEN, *world.signing_secrets, *(await _stored_secrets(world))]
    assert len(secrets) == 8  # the value, the token, two signing secrets; and each as stored
    texts = [content, *unzip(content).values()]
    for secret in secrets:
        for text in texts:
            assert secret.encode() not in text
    assert all(b"whsec_" not in text for text in texts)


async def test_without_a_passphrase_no_secret_is_in_any_byte_of_the_package(world: World) -> None:
    for version in ("1", "current", "draft"):
        content = (await world.export(version=version)).content
        await _assert_holds_no_secret(world, content)
        [token] = [v for v in files_of(content)["env_variables.json"]["variables"] if v["name"] == "API_TOKEN"]
        assert token == {"name": "API_TOKEN", "notes": "the report service's token", "secure": True, "value": None}
        assert "encryption" not in files_of(content)["env_variables.json"]


def _encrypted(content: bytes) -> tuple[KeyDerivation, dict[str, Any]]:
    env = files_of(content)["env_variables.json"]
    return KeyDerivation.model_validate(env["encryption"]), {v["name"]: v for v in env["variables"]}


async def test_with_a_passphrase_the_secure_values_decrypt_with_it_and_with_no_other(world: World) -> None:
    response = await world.export(passphrase=PASSPHRASE)
    assert response.status_code == 200, response.text
    await _assert_holds_no_secret(world, response.content)
    derivation, variables = _encrypted(response.content)
    assert (derivation.scheme, derivation.n, derivation.r, derivation.p) == ("scrypt+aes-256-gcm", 2**15, 8, 1)
    token = variables["API_TOKEN"]
    assert (token["secure"], token["value"], sorted(token["encrypted"])) == (True, None, ["ciphertext", "nonce"])
    assert variables["REGION"] == {"name": "REGION", "notes": "where reports go", "secure": False, "value": "eu-west"}
    encrypted = Encrypted.model_validate(token["encrypted"])
    assert passphrase.decrypt(passphrase.derive(PASSPHRASE, derivation), "API_TOKEN", encrypted) == SECRET
    with pytest.raises(passphrase.WrongPassphrase):
        passphrase.decrypt(passphrase.derive("another passphrase", derivation), "API_TOKEN", encrypted)

    # The other files are the same bytes as without a passphrase; a second export has a new salt and nonce.
    plain = unzip((await world.export()).content)
    files = unzip(response.content)
    assert [files[name] == plain[name] for name in FILES] == [True, True, False]
    again, again_variables = _encrypted((await world.export(passphrase=PASSPHRASE)).content)
    assert again.salt != derivation.salt
    assert again_variables["API_TOKEN"]["encrypted"] != token["encrypted"]


async def test_a_passphrase_is_read_from_the_headers_bytes_as_utf8(world: World) -> None:
    words = "pässwörd 東京 🔑"
    response = await world.admin.get(f"/v1/workflows/{SLUG}/export", headers={b"X-Export-Passphrase": words.encode()})
    assert response.status_code == 200, response.text
    derivation, variables = _encrypted(response.content)
    encrypted = Encrypted.model_validate(variables["API_TOKEN"]["encrypted"])
    assert passphrase.decrypt(passphrase.derive(words, derivation), "API_TOKEN", encrypted) == SECRET


async def test_a_workflow_without_secure_variables_needs_no_key_derivation(world: World) -> None:
    await world.ok("POST", "/v1/workflows", {"name": "Plain", "definition": DEFINITION})
    await world.ok("PUT", "/v1/workflows/plain/env/REGION", {"value": "eu"})
    env = files_of((await world.export("plain", "draft", PASSPHRASE)).content)["env_variables.json"]
    assert env == {
        "format_version": 1,
        "variables": [{"name": "REGION", "notes": None, "secure": False, "value": "eu"}],
    }
    settings = files_of((await world.export("plain", "draft")).content)["app_definition.json"]["settings"]
    assert settings == {
        "sync_timeout_s": 180,
        "queue_timeout_s": None,
        "retention_days": None,
        "push": {"enabled": False, "callback_url": None, "timeout_s": 180},
    }
    await world.ok("PATCH", "/v1/workflows/plain/settings", {"retention_days": "forever"})
    settings = files_of((await world.export("plain", "draft")).content)["app_definition.json"]["settings"]
    assert settings["retention_days"] == "forever"
