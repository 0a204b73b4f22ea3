"""A trigger's secrets: a rotation's overlap, tokens compared against every one that works, and
`workflow-service rotate-secrets` re-encrypting signing secrets with the newest key (the service then still
verifies events with them)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pydantic import SecretStr

from tests.conftest import DATABASE_URL, TOKEN, connections
from tests.servers import clean_env, run_cli
from tests.triggers.conftest import KEY, Sender, Shop, payment, shop_settings
from tests.workflows.conftest import assert_problem
from workflow_service.core.secrets import Secrets, SecretsError
from workflow_service.errors import Unauthorized
from workflow_service.triggers import credentials

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_a_rotation_keeps_the_secrets_working_now_for_the_overlap() -> None:
    keys = Secrets([KEY])
    first = credentials.stored("bearer", "wfs_hook_one", keys, NOW)
    second = credentials.rotated([first], credentials.stored("bearer", "wfs_hook_two", keys, NOW), NOW)
    assert [e["expires_at"] for e in second] == [None, (NOW + credentials.SECRET_OVERLAP).isoformat()]
    later = NOW + timedelta(hours=1)
    third = credentials.rotated(second, credentials.stored("bearer", "wfs_hook_three", keys, later), later)
    # The first keeps the end it had; none is kept past its end.
    assert [e["expires_at"] for e in third] == [
        None,
        (later + credentials.SECRET_OVERLAP).isoformat(),
        second[1]["expires_at"],
    ]
    for token in ("wfs_hook_one", "wfs_hook_two", "wfs_hook_three"):
        credentials.check_bearer(third, f"Bearer {token}", later)
    after = NOW + credentials.SECRET_OVERLAP + timedelta(seconds=1)
    assert len(credentials.active(third, after)) == 2
    with pytest.raises(Unauthorized):
        credentials.check_bearer(third, "Bearer wfs_hook_one", after)
    credentials.check_bearer(third, "bearer  wfs_hook_three ", after)  # the scheme in any case, spaces around


async def test_rotate_secrets_reencrypts_trigger_secrets(shop: Shop) -> None:
    trigger, sender = await shop.sender()
    await shop.sender(auth="bearer")  # a token's hash is no secret to re-encrypt
    new_key = Fernet.generate_key().decode()
    env = clean_env(WFS_SECRET_KEY=f"{new_key},{KEY}", WFS_DATABASE_URL=DATABASE_URL)
    done = await asyncio.to_thread(run_cli, ["rotate-secrets"], env)
    assert done.returncode == 0, done.stderr
    assert "(and 1 trigger secret(s))" in done.stdout
    async with shop.engine.connect() as conn:
        stmt = sa.text("SELECT secrets FROM event_trigger WHERE id = :id")
        [entry] = (await conn.execute(stmt, {"id": uuid.UUID(trigger["id"])})).scalar_one()
    assert Secrets([new_key]).decrypt(entry["value"]["enc"]) == trigger["secret"]
    with pytest.raises(SecretsError):
        Secrets([KEY]).decrypt(entry["value"]["enc"])
    # The service with only the old key cannot read it: the operator's doing, a 503 (not the sender's, not recorded).
    assert_problem(await sender.send(), 503, "unavailable")
    assert await shop.events(trigger) == []
    async with connections(shop_settings(secret_key=SecretStr(new_key))) as connect:
        renewed = Sender(connect(TOKEN), sender.url, sender.secret)
        del renewed.client.headers["Authorization"]
        assert (await renewed.send(payment())).status_code == 202
