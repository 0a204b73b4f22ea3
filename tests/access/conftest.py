"""The access tests' fixtures: the app with one client per bearer token (API keys), and a local identity
provider with its key pairs and verifiers of its tokens (OIDC)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tests.access.oidc_provider import AUDIENCE, Clock, Provider, SigningKey
from tests.apikeys.conftest import admin, connect, issue_key
from tests.conftest import ClientFactory
from workflow_service.access.oidc import OidcVerifier
from workflow_service.config import Settings

__all__ = ["ClientFactory", "admin", "connect", "issue_key"]

VerifierFactory = Callable[..., OidcVerifier]


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    return SigningKey.rsa("rsa-1")


@pytest.fixture(scope="session")
def ec_key() -> SigningKey:
    return SigningKey.ec("ec-1")


@pytest.fixture
def provider(rsa_key: SigningKey, ec_key: SigningKey) -> Iterator[Provider]:
    """The identity provider, serving the RSA and the EC key."""
    served = Provider(keys=[rsa_key.jwk(), ec_key.jwk()])
    served.start()
    yield served
    served.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def verifier_for(provider: Provider, clock: Clock) -> AsyncIterator[VerifierFactory]:
    """Makes a verifier of `provider`'s tokens on the test's clock, from settings (default: discovery from
    the issuer); closed at the end."""
    made: list[OidcVerifier] = []

    def make(**settings: Any) -> OidcVerifier:
        values = {"oidc_issuer": provider.issuer, "oidc_audience": AUDIENCE} | settings
        verifier = OidcVerifier(Settings(**values).oidc, clock=clock)
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        await verifier.aclose()
