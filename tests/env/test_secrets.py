"""Secrets (MultiFernet over WFS_SECRET_KEY), key rotation with `workflow-service rotate-secrets`, the
dev mode's generated key, and the redaction of secure values from JSON values."""

from __future__ import annotations

import asyncio
import stat
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import DATABASE_URL
from tests.deliveries.conftest import ACCESS_TOKEN
from tests.env.conftest import KEY, SECRET, create_workflow, put_var, stored_value
from tests.servers import clean_env, run_cli
from workflow_service.cli import _dev_secret_key
from workflow_service.config import Settings
from workflow_service.core.http import OutboundPolicy
from workflow_service.core.secrets import Redactor, SecretKeyRequired, Secrets, SecretsError, secrets_for
from workflow_service.models import DEFAULT_WORKSPACE_ID, Workflow
from workflow_service.workflows import settings as endpoint_settings

NEW_KEY = Fernet.generate_key().decode()


def test_encrypts_with_the_newest_key_and_decrypts_with_any() -> None:
    old = Secrets([KEY])
    token = old.encrypt("value")
    assert "value" not in token
    both = Secrets([NEW_KEY, KEY])
    assert both.decrypt(token) == "value"  # made with the old key, still readable after a new one is prepended
    newer = both.encrypt("value")
    assert Secrets([NEW_KEY]).decrypt(newer) == "value"
    rotated = both.rotate(token)
    assert Secrets([NEW_KEY]).decrypt(rotated) == "value"
    with pytest.raises(SecretsError, match="cannot be decrypted with any key in WFS_SECRET_KEY"):
        Secrets([NEW_KEY]).decrypt(token)
    with pytest.raises(SecretsError, match="cannot be decrypted"):
        Secrets([KEY]).decrypt("not a token")


def test_without_a_key_nothing_is_encrypted_or_decrypted() -> None:
    none = Secrets([])
    assert not none.configured
    with pytest.raises(SecretKeyRequired, match="WFS_SECRET_KEY is required"):
        none.encrypt("value")
    with pytest.raises(SecretsError, match="WFS_SECRET_KEY is not set"):
        none.decrypt(Secrets([KEY]).encrypt("value"))


def test_settings_read_a_comma_separated_key_list() -> None:
    settings = Settings(secret_key=SecretStr(f" {NEW_KEY} , {KEY} "))
    secrets = secrets_for(settings)
    assert secrets.keys == 2
    assert secrets.decrypt(Secrets([KEY]).encrypt("v")) == "v"
    assert secrets_for(settings) is secrets  # built once
    with pytest.raises(ValidationError, match="key 2 is not a Fernet key") as bad:
        Settings(secret_key=SecretStr(f"{KEY},not-a-key-at-all"))
    assert KEY not in str(bad.value)


def test_redactor_replaces_secure_values_anywhere_in_json() -> None:
    redact = Redactor({"TOKEN": "tok-123456", "LONGER": "tok-123456-extended", "PIN": "123", "EMPTY": ""})
    value = {
        "a": "Bearer tok-123456",
        "b": ["x", {"c": "tok-123456-extended and tok-123456"}, 5, None, True],
        "tok-123456": 1.5,
    }
    assert redact(value) == {
        "a": "Bearer [redacted:TOKEN]",
        "b": ["x", {"c": "[redacted:LONGER] and [redacted:TOKEN]"}, 5, None, True],
        "[redacted:TOKEN]": 1.5,
    }
    assert value["a"] == "Bearer tok-123456"  # the original is not changed
    assert redact("PIN 123") == "PIN 123"  # shorter than 4 characters: not redacted
    assert redact.text("a.b*tok-123456") == "a.b*[redacted:TOKEN]"
    nothing = Redactor({})
    assert not nothing
    same = {"a": "b"}
    assert nothing(same) is same


def test_redactor_escapes_regex_characters() -> None:
    redact = Redactor({"S": "a.b*c(d)"})
    assert redact("xa.b*c(d)y axbbc(d)") == "x[redacted:S]y axbbc(d)"


def test_dev_mode_makes_a_key_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    key = _dev_secret_key(settings)
    path = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Secrets([key]).decrypt(Secrets([key]).encrypt("v")) == "v"
    assert _dev_secret_key(settings) == key
    assert _dev_secret_key(Settings(data_dir=tmp_path / "data", secret_key=SecretStr(KEY))) == KEY


async def rotate_cli(keys: str) -> tuple[int, str, str]:
    env = clean_env(WFS_SECRET_KEY=keys, WFS_DATABASE_URL=DATABASE_URL)
    done = await asyncio.to_thread(run_cli, ["rotate-secrets"], env)
    return done.returncode, done.stdout, done.stderr


async def test_rotate_secrets_reencrypts_with_the_newest_key(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await create_workflow(client)
    assert (await put_var(client, "TOKEN", SECRET, secure=True)).status_code == 201
    assert (await put_var(client, "PLAIN", "plain")).status_code == 201
    response = await client.patch(
        "/v1/workflows/wf/settings",
        json={"push": {"enabled": True, "callback_url": "http://127.0.0.1:9/hook", "access_token": ACCESS_TOKEN}},
    )
    assert response.status_code == 200, response.text
    signing_secret = response.json()["signing_secret"]
    before = await stored_value(engine, "TOKEN")

    code, out, err = await rotate_cli(f"{NEW_KEY},{KEY}")
    assert code == 0, err
    assert "re-encrypted 1 secure variable(s) and 2 push secret(s)" in out
    assert SECRET not in out + err

    after = await stored_value(engine, "TOKEN")
    assert after != before
    assert Secrets([NEW_KEY]).decrypt(after) == SECRET  # the old key can be dropped
    with pytest.raises(SecretsError):
        Secrets([KEY]).decrypt(after)
    assert await stored_value(engine, "PLAIN") == "plain"
    workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.select(workflow_t.c.settings))).scalar_one()
    assert endpoint_settings.access_token(stored, Secrets([NEW_KEY])) == ACCESS_TOKEN
    assert endpoint_settings.active_secrets(stored, Secrets([NEW_KEY])) == [signing_secret]
    # The operator's action, in the deployment's audit log
    [entry] = (await client.get("/v1/audit-log", params={"chain": "deployment"})).json()["items"]
    assert (entry["action"], entry["actor"], entry["workspace_id"]) == ("settings.secrets_reencrypted", "admin", None)
    assert "1 secure variable(s) and 2 push secret(s)" in entry["description"]

    # Without the key that encrypted them, nothing changes and the command says why (and records nothing).
    code, _, err = await rotate_cli(Fernet.generate_key().decode())
    assert code == 1
    assert "cannot be decrypted" in err
    assert await stored_value(engine, "TOKEN") == after
    assert len((await client.get("/v1/audit-log", params={"chain": "deployment"})).json()["items"]) == 1


async def test_rotate_secrets_encrypts_push_secrets_stored_plain(engine: AsyncEngine) -> None:
    workflow_t: sa.Table = Workflow.__table__  # type: ignore[assignment]
    plain = Secrets([])
    update = endpoint_settings.SettingsUpdate(
        push=endpoint_settings.PushSettingsUpdate(enabled=True, callback_url="http://127.0.0.1:9/h", access_token="t0k")
    )
    stored, secret = await endpoint_settings.apply({}, update, OutboundPolicy(allow_private=True), plain)
    assert stored["push"]["access_token"] == "t0k"  # no key: stored as it is (what `serve` without a key does)
    assert secret is not None
    async with engine.begin() as conn:
        await conn.execute(
            workflow_t.insert().values(
                id=uuid.uuid4(), workspace_id=DEFAULT_WORKSPACE_ID, slug="old", name="old", draft={}, settings=stored,
                created_at=sa.func.now(), updated_at=sa.func.now(),
            )
        )  # fmt: skip
    code, out, err = await rotate_cli(KEY)
    assert code == 0, err
    assert "0 secure variable(s) and 2 push secret(s)" in out
    async with engine.connect() as conn:
        now = (await conn.execute(sa.select(workflow_t.c.settings))).scalar_one()
    assert set(now["push"]["access_token"]) == {"enc"}
    assert endpoint_settings.access_token(now, Secrets([KEY])) == "t0k"
    assert endpoint_settings.active_secrets(now, Secrets([KEY])) == [secret]


async def test_rotate_secrets_needs_a_key() -> None:
    done = await asyncio.to_thread(run_cli, ["rotate-secrets"], clean_env(WFS_DATABASE_URL=DATABASE_URL))
    assert done.returncode == 2
    assert "WFS_SECRET_KEY" in done.stderr
