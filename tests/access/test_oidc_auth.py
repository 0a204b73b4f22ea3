"""Signing in with an identity provider's JWT, through the app: the subject (else the verified email, then bound to
the subject) names the user, who acts in their workspace; every refusal says why."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.access.oidc_provider import AUDIENCE, Provider, SigningKey, claims_for
from tests.audit.conftest import entries_since
from tests.conftest import ClientFactory, connections, make_settings
from tests.workflows.conftest import assert_problem
from workflow_service.models import DEFAULT_WORKSPACE_ID, Membership, User, Workspace

ADA = uuid.UUID(int=0xADA)
OTHER_WORKSPACE = uuid.UUID(int=0xB)


@pytest.fixture
async def people(engine: AsyncEngine) -> None:
    """Ada, a member of the default workspace; Bo, of the default one and of `beta`."""
    now = datetime.now(UTC)
    bo = uuid.UUID(int=0xB0)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(Workspace), [{"id": OTHER_WORKSPACE, "slug": "beta", "name": "Beta", "created_at": now}]
        )
        await conn.execute(
            sa.insert(User),
            [
                {"id": ADA, "email": "ada@example.com", "name": "Ada", "created_at": now},
                {"id": bo, "email": "bo@example.com", "name": "Bo", "subject": "bo-sub", "created_at": now},
            ],
        )
        await conn.execute(
            sa.insert(Membership),
            [
                {
                    "id": uuid.uuid4(),
                    "workspace_id": DEFAULT_WORKSPACE_ID,
                    "user_id": ADA,
                    "role": "member",
                    "created_at": now,
                },
                {
                    "id": uuid.uuid4(),
                    "workspace_id": DEFAULT_WORKSPACE_ID,
                    "user_id": bo,
                    "role": "admin",
                    "created_at": now,
                },
                {
                    "id": uuid.uuid4(),
                    "workspace_id": OTHER_WORKSPACE,
                    "user_id": bo,
                    "role": "owner",
                    "created_at": now,
                },
            ],
        )


@pytest.fixture
async def connect_oidc(provider: Provider, people: None) -> AsyncIterator[ClientFactory]:
    settings = make_settings(oidc_issuer=provider.issuer, oidc_audience=AUDIENCE)
    async with connections(settings) as connect:
        yield connect


async def _subject(engine: AsyncEngine, user_id: uuid.UUID) -> str | None:
    async with engine.connect() as conn:
        subject: str | None = (await conn.execute(sa.select(User.subject).where(User.id == user_id))).scalar_one()
    return subject


async def test_the_email_finds_a_user_once_then_the_subject_does(
    connect_oidc: ClientFactory, provider: Provider, rsa_key: SigningKey, engine: AsyncEngine
) -> None:
    first = connect_oidc(rsa_key.sign(claims_for(provider, sub="ada-sub", email="Ada@Example.com")))
    response = await first.get("/v1/workflows")
    assert response.status_code == 200, response.text
    assert await _subject(engine, ADA) == "ada-sub"
    # The subject now names her, whatever email the provider sends later
    later = connect_oidc(rsa_key.sign(claims_for(provider, sub="ada-sub", email="ada@new.example.com")))
    jobs = await later.get("/v1/jobs")
    assert jobs.status_code == 200, jobs.text
    # and she is a member: she cannot do what only owners and admins do
    assert_problem(await later.get("/v1/jobs", params={"scope": "all"}), 403, "forbidden")
    # Another subject with her email is not her
    impostor = connect_oidc(rsa_key.sign(claims_for(provider, sub="someone-else", email="ada@example.com")))
    body = assert_problem(await impostor.get("/v1/workflows"), 401, "unauthorized")
    assert body["detail"] == "no user of this service has this identity"


async def test_an_unverified_email_finds_no_one(
    connect_oidc: ClientFactory, provider: Provider, ec_key: SigningKey, engine: AsyncEngine
) -> None:
    token = ec_key.sign(claims_for(provider, sub="ada-sub", email="ada@example.com", email_verified=False))
    assert_problem(await connect_oidc(token).get("/v1/workflows"), 401, "unauthorized")
    assert await _subject(engine, ADA) is None


async def test_a_user_of_several_workspaces_names_one(
    connect_oidc: ClientFactory, provider: Provider, rsa_key: SigningKey
) -> None:
    bo = connect_oidc(rsa_key.sign(claims_for(provider, sub="bo-sub", email="bo@example.com")))
    body = assert_problem(await bo.get("/v1/workflows"), 400, "workspace_required")
    assert "beta, default" in body["detail"]
    for workspace in ("beta", "default"):
        response = await bo.get("/v1/jobs", params={"scope": "all"}, headers={"Wfs-Workspace": workspace})
        assert response.status_code == 200, (workspace, response.text)  # an owner there, an admin here
    assert_problem(await bo.get("/v1/workflows", headers={"Wfs-Workspace": "gamma"}), 404, "not_found")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": 1_000_000}, "the token has expired"),
        ({"aud": "someone-else"}, "the token's audience is not this service"),
        ({"iss": "https://elsewhere.example.com"}, "the token's issuer is not trusted"),
    ],
)
async def test_an_invalid_jwt_is_a_401_that_says_why(
    connect_oidc: ClientFactory, provider: Provider, rsa_key: SigningKey, claims: dict[str, object], reason: str
) -> None:
    token = rsa_key.sign(claims_for(provider, sub="ada-sub", **claims))
    body = assert_problem(await connect_oidc(token).get("/v1/workflows"), 401, "unauthorized")
    assert body["detail"] == reason


async def test_the_provider_down_is_a_503(connect_oidc: ClientFactory, provider: Provider, rsa_key: SigningKey) -> None:
    token = rsa_key.sign(claims_for(provider, sub="ada-sub"))
    provider.stop()
    response = await connect_oidc(token).get("/v1/workflows")
    assert_problem(response, 503, "unavailable")
    assert provider.issuer not in response.text  # the provider's address stays in the logs


async def test_without_a_provider_a_jwt_is_refused(
    provider: Provider, rsa_key: SigningKey, people: None, settings: object
) -> None:
    async with connections(make_settings()) as connect:
        client: httpx.AsyncClient = connect(rsa_key.sign(claims_for(provider, sub="ada-sub")))
        body = assert_problem(await client.get("/v1/workflows"), 401, "unauthorized")
        assert body["detail"] == "the token is not valid"


async def test_a_refused_jwt_is_recorded_as_a_sign_in_failure_without_the_token(
    connect_oidc: ClientFactory, provider: Provider, rsa_key: SigningKey, engine: AsyncEngine
) -> None:
    token = rsa_key.sign(claims_for(provider, sub="ada-sub", exp=1_000_000))
    assert_problem(await connect_oidc(token).get("/v1/workflows"), 401, "unauthorized")
    [entry] = await entries_since(engine, 0)
    assert (entry["action"], entry["workspace_id"], entry["actor"], entry["actor_name"]) == (
        "auth.sign_in_failed",
        None,
        "system",
        "unknown credential",
    )
    assert entry["description"] == "sign-in failed: the token has expired"
    assert token.split(".")[1] not in str(dict(entry))
