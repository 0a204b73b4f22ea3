"""Fetching the identity provider's keys: cached for their TTL, fetched again for a new key at most once per
interval, shared by concurrent verifications, kept while the provider is down. The provider is a real local
HTTP server counting its requests; time is the test's clock."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.access.conftest import VerifierFactory
from tests.access.oidc_provider import DISCOVERY_PATH, JWKS_PATH, Clock, Provider, SigningKey, claims_for
from workflow_service.access.oidc import (
    REFETCH_INTERVAL_S,
    IdentityProviderUnavailable,
    InvalidIdentityToken,
    OidcVerifier,
)

TTL_S = 300.0


async def _unavailable(verifier: OidcVerifier, token: str) -> str:
    with pytest.raises(IdentityProviderUnavailable) as unavailable:
        await verifier.verify(token)
    return str(unavailable.value)


async def test_a_new_key_of_the_provider_is_fetched_when_a_token_names_it(
    provider: Provider, rsa_key: SigningKey, clock: Clock, verifier_for: VerifierFactory
) -> None:
    verifier = verifier_for()
    await verifier.verify(rsa_key.sign(claims_for(provider)))
    rotated = SigningKey.rsa("rsa-2")
    provider.keys = [rotated.jwk(), rsa_key.jwk()]
    clock.advance(REFETCH_INTERVAL_S)

    identity = await verifier.verify(rotated.sign(claims_for(provider, sub="after-rotation")))

    assert identity.subject == "after-rotation"
    assert provider.jwks_fetches == 2


async def test_made_up_kids_make_at_most_one_fetch_per_interval(
    provider: Provider, rsa_key: SigningKey, clock: Clock, verifier_for: VerifierFactory
) -> None:
    verifier = verifier_for()
    await verifier.verify(rsa_key.sign(claims_for(provider)))
    bogus = [rsa_key.sign(claims_for(provider), kid=f"made-up-{n}") for n in range(40)]

    async def refused(token: str) -> str:
        with pytest.raises(InvalidIdentityToken) as refusal:
            await verifier.verify(token)
        return refusal.value.reason

    clock.advance(REFETCH_INTERVAL_S / 2)  # too soon after the first fetch: none
    assert {await refused(token) for token in bogus[:10]} == {"the token names an unknown signing key"}
    assert provider.jwks_fetches == 1

    clock.advance(REFETCH_INTERVAL_S / 2)  # one for the whole flood, concurrent or not
    reasons = await asyncio.gather(*(refused(token) for token in bogus[10:30]))
    assert set(reasons) == {"the token names an unknown signing key"}
    assert {await refused(token) for token in bogus[30:]} == {"the token names an unknown signing key"}
    assert provider.jwks_fetches == 2

    clock.advance(REFETCH_INTERVAL_S)
    await refused(bogus[0])
    assert provider.jwks_fetches == 3
    assert (await verifier.verify(rsa_key.sign(claims_for(provider)))).subject == "user-1"  # known keys still work


async def test_concurrent_verifications_with_no_keys_yet_share_one_fetch(
    provider: Provider, rsa_key: SigningKey, ec_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    provider.delay_s = 0.2  # every verification starts while the fetch is under way
    verifier = verifier_for()
    tokens = [key.sign(claims_for(provider, sub=f"u-{n}")) for n in range(10) for key in (rsa_key, ec_key)]

    identities = await asyncio.gather(*(verifier.verify(token) for token in tokens))

    assert sorted({identity.subject for identity in identities}) == sorted(f"u-{n}" for n in range(10))
    assert provider.requests == {DISCOVERY_PATH: 1, JWKS_PATH: 1}


async def test_keys_are_fetched_again_when_their_ttl_is_over(
    provider: Provider, rsa_key: SigningKey, clock: Clock, verifier_for: VerifierFactory
) -> None:
    verifier = verifier_for(oidc_jwks_ttl_s=TTL_S)
    token = rsa_key.sign(claims_for(provider))
    await verifier.verify(token)

    clock.advance(TTL_S - 1)
    await verifier.verify(token)
    assert provider.jwks_fetches == 1

    clock.advance(1)
    await verifier.verify(token)
    assert provider.jwks_fetches == 2


async def test_an_unreachable_provider_with_no_keys_cached_is_unavailable(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    verifier = verifier_for(oidc_jwks_url=provider.jwks_url)
    provider.stop()

    reason = await _unavailable(verifier, rsa_key.sign(claims_for(provider)))

    assert provider.jwks_url in reason
    assert "ConnectError" in reason


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (503, b"{}", "answered 503"),
        (200, b"<html>keys</html>", "did not answer JSON"),
        (200, b"[]", "did not answer a JSON object"),
        (200, json.dumps({"keys": []}).encode(), "holds no usable keys"),
        (200, json.dumps({"keys": [{"kty": "RSA", "kid": "broken"}]}).encode(), "holds no usable keys"),
        (200, json.dumps({"keys": {"kty": "RSA"}}).encode(), "holds no usable keys"),
    ],
)
async def test_a_provider_answering_no_usable_keys_is_unavailable(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory, status: int, body: bytes, reason: str
) -> None:
    provider.jwks_status, provider.jwks_body = status, body

    assert reason in await _unavailable(verifier_for(), rsa_key.sign(claims_for(provider)))


@pytest.mark.parametrize(
    ("discovery", "reason"),
    [
        ({"issuer": "https://elsewhere.example", "jwks_uri": "http://127.0.0.1:1/certs"}, "is for the issuer"),
        ({"jwks_uri": "http://127.0.0.1:1/certs"}, "is for the issuer None"),
        ({"issuer": None}, "has no `jwks_uri` URL"),
        ({"issuer": None, "jwks_uri": "file:///etc/passwd"}, "has no `jwks_uri` URL"),
        ({"issuer": None, "jwks_uri": 5}, "has no `jwks_uri` URL"),
    ],
)
async def test_a_discovery_document_without_a_usable_jwks_uri_is_unavailable(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory, discovery: dict[str, object], reason: str
) -> None:
    provider.discovery = {key: provider.issuer if value is None else value for key, value in discovery.items()}

    assert reason in await _unavailable(verifier_for(), rsa_key.sign(claims_for(provider)))
    assert provider.jwks_fetches == 0


async def test_a_missing_discovery_document_is_unavailable(
    provider: Provider, rsa_key: SigningKey, verifier_for: VerifierFactory
) -> None:
    verifier = verifier_for(oidc_issuer=provider.url + "/realms/other")

    reason = await _unavailable(verifier, rsa_key.sign(claims_for(provider, iss=provider.url + "/realms/other")))

    assert "/realms/other/.well-known/openid-configuration answered 404" in reason


async def test_a_failed_fetch_is_not_repeated_before_the_interval(
    provider: Provider, rsa_key: SigningKey, clock: Clock, verifier_for: VerifierFactory
) -> None:
    verifier = verifier_for(oidc_jwks_url=provider.jwks_url)
    token = rsa_key.sign(claims_for(provider))
    provider.jwks_status = 500
    await _unavailable(verifier, token)

    clock.advance(REFETCH_INTERVAL_S - 1)
    assert "answered 500" in await _unavailable(verifier, token)
    assert provider.jwks_fetches == 1

    provider.jwks_status = 200
    clock.advance(1)
    assert (await verifier.verify(token)).subject == "user-1"
    assert provider.jwks_fetches == 2


async def test_cached_keys_keep_verifying_while_the_provider_is_down(
    provider: Provider, rsa_key: SigningKey, clock: Clock, verifier_for: VerifierFactory
) -> None:
    verifier = verifier_for(oidc_jwks_ttl_s=TTL_S)
    await verifier.verify(rsa_key.sign(claims_for(provider)))
    provider.stop()

    clock.advance(TTL_S / 2)  # within the TTL: the provider is not asked
    assert (await verifier.verify(rsa_key.sign(claims_for(provider, sub="within")))).subject == "within"

    clock.advance(TTL_S)  # past it: asked, unreachable, and the keys it gave last still verify
    assert (await verifier.verify(rsa_key.sign(claims_for(provider, sub="past")))).subject == "past"
    assert (await verifier.verify(rsa_key.sign(claims_for(provider, sub="again")))).subject == "again"

    # A key it may have added since cannot be checked: that is the provider's unavailability, not a bad token.
    assert "ConnectError" in await _unavailable(verifier, rsa_key.sign(claims_for(provider), kid="rsa-new"))
    assert provider.jwks_fetches == 1
