"""Verifying identity-provider JWTs: what a token must be to prove an identity, against a real local provider
(discovery and JWKS over HTTP) with key pairs made here. Fetching and caching the keys: test_oidc_keys.py."""

from __future__ import annotations

import hashlib
import hmac
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from tests.access.conftest import VerifierFactory
from tests.access.oidc_provider import (
    AUDIENCE,
    DISCOVERY_PATH,
    JWKS_PATH,
    Provider,
    SigningKey,
    b64,
    claims_for,
    unsigned,
)
from tests.servers import clean_env, free_port, run_cli
from workflow_service.access.oidc import Identity, InvalidIdentityToken, OidcVerifier, looks_like_jwt, verifier_of
from workflow_service.config import Settings


async def test_a_valid_rs256_token_proves_its_subject_and_email(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    identity = await verifier_for().verify(rsa_key.sign(claims_for(provider, sub="u-42", email="lin@example.com")))

    assert identity == Identity(subject="u-42", email="lin@example.com", issuer=provider.issuer)


async def test_a_valid_es256_token_is_accepted(
    provider: Provider, ec_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    identity = await verifier_for().verify(ec_key.sign(claims_for(provider, sub="u-ec")))

    assert (identity.subject, identity.email) == ("u-ec", "ada@example.com")


async def test_the_keys_are_found_through_the_issuers_discovery_document(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    verifier = verifier_for()

    await verifier.verify(rsa_key.sign(claims_for(provider)))
    await verifier.verify(rsa_key.sign(claims_for(provider)))

    assert provider.requests == {DISCOVERY_PATH: 1, JWKS_PATH: 1}


async def test_a_configured_jwks_url_is_used_without_discovery(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    await verifier_for(oidc_jwks_url=provider.jwks_url).verify(rsa_key.sign(claims_for(provider)))

    assert provider.requests == {JWKS_PATH: 1}


async def _refused(verifier: OidcVerifier, token: str) -> str:
    with pytest.raises(InvalidIdentityToken) as refused:
        await verifier.verify(token)
    assert str(refused.value) == refused.value.reason
    return refused.value.reason


async def test_a_token_signed_by_another_key_under_the_same_kid_is_refused(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    impostor = SigningKey.rsa(rsa_key.kid)

    reason = await _refused(verifier_for(), impostor.sign(claims_for(provider)))

    assert reason == "the token's signature is not valid"


async def test_a_token_of_another_issuer_is_refused(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    token = rsa_key.sign(claims_for(provider, iss="https://elsewhere.example/realms/test"))

    assert await _refused(verifier_for(), token) == "the token's issuer is not trusted"


@pytest.mark.parametrize("audience", ["another-service", ["another-service", "a-third"]])
async def test_a_token_for_another_audience_is_refused(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory, audience: str | list[str]
) -> None:
    token = rsa_key.sign(claims_for(provider, aud=audience))

    assert await _refused(verifier_for(), token) == "the token's audience is not this service"


async def test_a_token_for_several_audiences_including_this_service_is_accepted(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    identity = await verifier_for().verify(rsa_key.sign(claims_for(provider, aud=["another-service", AUDIENCE])))

    assert identity.subject == "user-1"


async def test_an_expired_token_is_refused_but_not_within_the_leeway(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    verifier = verifier_for(oidc_leeway_s=30)
    now = int(time.time())

    assert await _refused(verifier, rsa_key.sign(claims_for(provider, exp=now - 60))) == "the token has expired"
    assert (await verifier.verify(rsa_key.sign(claims_for(provider, exp=now - 10)))).subject == "user-1"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
async def test_a_token_not_valid_yet_is_refused_but_not_within_the_leeway(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory, claim: str
) -> None:
    verifier = verifier_for(oidc_leeway_s=30)
    now = int(time.time())

    reason = await _refused(verifier, rsa_key.sign(claims_for(provider, **{claim: now + 120})))

    assert reason == "the token is not valid yet"
    assert (await verifier.verify(rsa_key.sign(claims_for(provider, **{claim: now + 10})))).subject == "user-1"


@pytest.mark.parametrize("claim", ["sub", "exp", "iss", "aud"])
async def test_a_token_without_a_required_claim_is_refused(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory, claim: str
) -> None:
    token = rsa_key.sign(claims_for(provider, **{claim: None}))

    assert await _refused(verifier_for(), token) == f"the token has no `{claim}` claim"


async def test_a_token_with_an_empty_or_non_text_subject_is_refused(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    verifier = verifier_for()

    assert await _refused(verifier, rsa_key.sign(claims_for(provider, sub=""))) == "the token's subject is not valid"
    assert await _refused(verifier, rsa_key.sign(claims_for(provider, sub=42))) == "the token's subject is not valid"


async def test_an_unsigned_token_is_refused_without_asking_the_provider(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    token = unsigned({"alg": "none", "typ": "JWT", "kid": rsa_key.kid}, claims_for(provider))
    assert looks_like_jwt(token)

    assert await _refused(verifier_for(), token) == "the token's algorithm is not allowed"
    assert not provider.requests


async def test_an_hs256_token_keyed_with_the_providers_public_key_is_refused(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    """Algorithm confusion: the public key is no secret, so an HMAC keyed with it proves nothing."""
    public_pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = unsigned({"alg": "HS256", "typ": "JWT", "kid": rsa_key.kid}, claims_for(provider))
    signing_input = token.rsplit(".", 1)[0]
    forged = f"{signing_input}.{b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"

    assert await _refused(verifier_for(), forged) == "the token's algorithm is not allowed"


async def test_a_token_signed_with_another_algorithm_than_its_keys_is_refused(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    """The JWK says RS256; RS384 is allowed, but not with this key."""
    token = rsa_key.sign(claims_for(provider), algorithm="RS384")

    reason = await _refused(verifier_for(oidc_algorithms=["RS256", "RS384"]), token)

    assert reason == "the token's algorithm is not the one its signing key is for"


async def test_an_algorithm_the_operator_did_not_allow_is_refused(
    provider: Provider, ec_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    token = ec_key.sign(claims_for(provider))

    assert await _refused(verifier_for(oidc_algorithms=["RS256"]), token) == "the token's algorithm is not allowed"
    assert not provider.requests


@pytest.mark.parametrize(
    "token",
    [
        "wfs_key_0123456789ab_" + "x" * 43,
        "not a token",
        "",
        "a.b",
        "a.b.c.d",
        "!!!.e30.sig",
        b64(b"not json") + ".e30.sig",
        b64(b"[1, 2]") + ".e30.sig",
        b64(b"{}") + ".e30.sig",
        b64(b'{"alg": 5}') + ".e30.sig",
        b64(b'{"alg": "RS256"}') + "..sig",
        b64(b'{"alg": "RS256"}') + ".e30.s!g",
        b64(b'{"alg": "RS256"' + b" " * 5000 + b"}") + ".e30.sig",
    ],
)
async def test_what_is_not_a_jwt_is_told_apart_cheaply_and_refused(
    provider: Provider, verifier_for: VerifierFactory, token: str
) -> None:
    assert not looks_like_jwt(token)
    assert await _refused(verifier_for(), token) == "the token is not a JWT"
    assert not provider.requests


async def test_a_jwt_whose_payload_is_not_json_is_refused(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    token = jwt.PyJWS().encode(b"not json", rsa_key.private, algorithm="RS256", headers={"kid": rsa_key.kid})
    assert looks_like_jwt(token)

    assert await _refused(verifier_for(), token) == "the token is not a JWT"


async def test_a_token_without_a_kid_uses_the_providers_only_key(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    token = rsa_key.sign(claims_for(provider), kid=None)
    assert await _refused(verifier_for(), token) == "the token names an unknown signing key"  # two keys served

    provider.keys = [rsa_key.jwk(with_alg=False)]  # and without its `alg`: RS256 for an RSA key
    assert (await verifier_for().verify(token)).subject == "user-1"


async def test_a_key_published_for_encryption_does_not_verify_tokens(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    provider.keys = [rsa_key.jwk() | {"use": "enc"}]

    assert (
        await _refused(verifier_for(), rsa_key.sign(claims_for(provider))) == "the token names an unknown signing key"
    )


@pytest.mark.parametrize(
    ("claims", "settings", "email"),
    [
        ({"email": "ada@example.com", "email_verified": True}, {}, "ada@example.com"),
        ({"email": "ada@example.com", "email_verified": False}, {}, None),
        ({"email": "ada@example.com", "email_verified": "false"}, {}, None),
        ({"email": None}, {}, None),
        ({"email": ["ada@example.com"]}, {}, None),
        ({"upn": "ada@corp.example"}, {"oidc_email_claim": "upn"}, "ada@corp.example"),
    ],
)
async def test_the_email_is_read_from_the_configured_claim_when_not_unverified(
    provider: Provider,
    rsa_key: SigningKey,
    verifier_for: VerifierFactory,
    claims: dict[str, object],
    settings: dict[str, object],
    email: str | None,
) -> None:
    identity = await verifier_for(**settings).verify(rsa_key.sign(claims_for(provider, **claims)))

    assert identity.email == email


def test_oidc_is_off_without_an_issuer() -> None:
    settings = Settings()

    assert settings.oidc.issuer is None
    assert (settings.oidc.algorithms, settings.oidc.email_claim) == (("RS256", "ES256"), "email")
    assert (settings.oidc.leeway_s, settings.oidc.jwks_ttl_s) == (30, 300)
    assert verifier_of(settings) is None
    with pytest.raises(ValueError, match="needs an issuer and an audience"):
        OidcVerifier(settings.oidc)


async def test_the_settings_make_a_verifier_when_an_issuer_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WFS_OIDC_ISSUER", "https://idp.example/realms/x")
    monkeypatch.setenv("WFS_OIDC_AUDIENCE", "wfs")
    monkeypatch.setenv("WFS_OIDC_ALGORITHMS", " RS256, ES384 ")

    settings = Settings()
    verifier = verifier_of(settings)

    assert settings.oidc.algorithms == ("RS256", "ES384")
    assert isinstance(verifier, OidcVerifier)
    await verifier.aclose()


def test_an_issuer_without_an_audience_is_refused() -> None:
    with pytest.raises(ValidationError, match="WFS_OIDC_AUDIENCE is required with WFS_OIDC_ISSUER"):
        Settings(oidc_issuer="https://idp.example/realms/x")


@pytest.mark.parametrize("algorithms", ["none", "HS256", "RS256,HS512", "rs256", ""])
def test_algorithms_other_than_asymmetric_signatures_are_refused(algorithms: str) -> None:
    with pytest.raises(ValidationError, match="WFS_OIDC_ALGORITHMS"):
        Settings(oidc_algorithms=algorithms)


def test_the_service_refuses_to_start_with_an_issuer_but_no_audience() -> None:
    env = clean_env(WFS_ADMIN_TOKEN="admin-token-not-to-show", WFS_OIDC_ISSUER="https://idp.example/realms/x")

    finished = run_cli(["serve", "--port", str(free_port())], env)

    assert finished.returncode != 0
    assert "WFS_OIDC_AUDIENCE is required with WFS_OIDC_ISSUER" in finished.stderr
    assert "admin-token" not in finished.stderr + finished.stdout  # the error shows no other setting
