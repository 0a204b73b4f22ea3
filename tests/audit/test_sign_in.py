"""Sign-in failures: a refused credential is recorded once per client address and reason per 10 s, in its
workspace as its holder when the credential is known, else in the deployment's log; never the token itself.
A request with no credential at all records nothing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.apikeys.conftest import issue_key
from tests.audit.conftest import entries_since, last_entry_id, make_user
from tests.conftest import ClientFactory
from tests.jobs.conftest import GREETER, deploy_workflow
from workflow_service.audit.recorder import Origin
from workflow_service.audit.sign_in import FailureLimiter, SignInFailure, SignInFailures
from workflow_service.core.clock import utcnow
from workflow_service.core.db import make_engine
from workflow_service.models import DEFAULT_WORKSPACE_ID, ApiKey, PersonalToken

BAD = "wfs_key_0123456789ab_" + "x" * 43
"""Shaped like an API key, but no key has its prefix."""


async def _refused(engine: AsyncEngine, client: httpx.AsyncClient, **headers: str) -> list[Mapping[str, Any]]:
    """GET /v1/workflows, refused 401; the entries it wrote."""
    before = await last_entry_id(engine)
    response = await client.get("/v1/workflows", headers=headers)
    assert response.status_code == 401, response.text
    return await entries_since(engine, before)


def _shows(entry: Mapping[str, Any], text: str) -> bool:
    return text in orjson.dumps(dict(entry), default=str).decode()


async def test_an_unknown_token_is_recorded_in_the_deployments_log(connect: ClientFactory, engine: AsyncEngine) -> None:
    [entry] = await _refused(engine, connect(BAD), **{"X-Request-Id": "bad-1"})
    assert (entry["action"], entry["category"]) == ("auth.sign_in_failed", "auth")
    assert (entry["chain"], entry["workspace_id"]) == ("deployment", None)
    assert (entry["actor"], entry["actor_name"]) == ("system", "unknown credential")
    assert (entry["request_id"], entry["client_address"]) == ("bad-1", "127.0.0.1")
    assert entry["description"] == "sign-in failed: the token is not valid"
    assert not _shows(entry, BAD[:20])


async def test_an_expired_or_revoked_credential_is_recorded_as_its_holders(
    admin: httpx.AsyncClient, connect: ClientFactory, engine: AsyncEngine
) -> None:
    await deploy_workflow(admin, "greeter", GREETER)
    expired = await issue_key(admin, "greeter", "old key")
    revoked = await issue_key(admin, "greeter", "dropped key")
    async with engine.begin() as conn:
        past = utcnow() - timedelta(minutes=1)
        await conn.execute(sa.update(ApiKey).where(ApiKey.id == expired["id"]).values(expires_at=past))
    assert (await admin.delete(f"/v1/workflows/greeter/api-keys/{revoked['id']}")).status_code == 204
    person = await make_user(engine, "ada@example.com", "owner")
    async with engine.begin() as conn:
        await conn.execute(sa.update(PersonalToken).values(revoked_at=utcnow()))
    cases = (
        (expired["key"], f"key:{expired['id']}", "old key", "the API key has expired"),
        (revoked["key"], f"key:{revoked['id']}", "dropped key", "the API key has been revoked"),
        (person.token, person.actor, person.email, "the token has been revoked"),
    )
    for token, actor, name, reason in cases:
        [entry] = await _refused(engine, connect(token))
        assert (entry["workspace_id"], entry["actor"], entry["actor_name"]) == (DEFAULT_WORKSPACE_ID, actor, name)
        assert entry["description"] == f"sign-in failed: {reason}"
        assert not _shows(entry, token.rsplit("_", 1)[1])


async def test_no_credential_is_no_sign_in(connect: ClientFactory, engine: AsyncEngine) -> None:
    anonymous = connect("unused")
    del anonymous.headers["Authorization"]
    assert await _refused(engine, anonymous) == []
    assert await _refused(engine, anonymous, Authorization="Basic dXNlcjpwdw==") == []


async def test_a_flood_of_bad_tokens_records_one_entry_per_reason(connect: ClientFactory, engine: AsyncEngine) -> None:
    written = []
    for n in range(20):
        written += await _refused(engine, connect(f"not-a-token-{n}"))
    written += await _refused(engine, connect("wfs_pat_0123456789ab_" + "y" * 43))
    assert [e["description"] for e in written] == ["sign-in failed: the token is not valid"]


def test_the_limiter_lets_one_failure_per_address_and_reason_through_each_window() -> None:
    now = [0.0]
    limiter = FailureLimiter(window_s=10.0, max_tracked=3, clock=lambda: now[0])
    assert limiter.allow("10.0.0.1", "expired")
    assert not limiter.allow("10.0.0.1", "expired")
    assert limiter.allow("10.0.0.1", "revoked")
    assert limiter.allow("10.0.0.2", "expired")
    assert not limiter.allow("10.0.0.3", "expired")  # three tracked in this window: no room for a fourth
    now[0] = 9.9
    assert not limiter.allow("10.0.0.1", "expired")
    now[0] = 10.0
    assert limiter.allow("10.0.0.1", "expired")  # its window is over
    assert limiter.allow("10.0.0.3", "expired")  # the others' windows ended: room again


async def test_a_failure_to_record_never_fails_the_answer() -> None:
    unreachable = make_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    try:
        recorded = await SignInFailures().record(unreachable, SignInFailure("the token is not valid"), Origin())
    finally:
        await unreachable.dispose()
    assert recorded is False
