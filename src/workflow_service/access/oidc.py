"""Bearer JWTs from the operator's identity provider (OIDC): a token -> the `Identity` it proves.

`OidcVerifier.verify` checks, with PyJWT, the signature against the provider's published keys (its JWKS),
the issuer, the audience, the expiry (required), `nbf` and `iat` when present (all with WFS_OIDC_LEEWAY_S),
and that the token's algorithm is one of WFS_OIDC_ALGORITHMS and the one its key is for. Which user an
identity is, is for the caller to decide.

Keys are fetched with httpx (PyJWT's PyJWKClient would block the event loop) and used for WFS_OIDC_JWKS_TTL_S.
A token naming a key that is not among them makes the verifier fetch them again (the provider rotated its
keys), at most once per REFETCH_INTERVAL_S, so that a flood of made-up key ids cannot make the service
hammer the provider; a provider that could not be reached is asked again no more often. Concurrent
verifications share one fetch. While the provider cannot be reached the keys fetched last keep verifying,
even past their TTL: only a token that none of them can check gets `IdentityProviderUnavailable`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from workflow_service.config import OidcSection, Settings
from workflow_service.core.http import loggable_url

log = logging.getLogger(__name__)

REFETCH_INTERVAL_S = 30.0
"""The least time from one fetch of the keys to a refetch for an unknown key id, or to a retry after a failure."""
FETCH_TIMEOUT_S = 5.0
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+={0,2}")  # base64url; PyJWT accepts the padding some issuers add
_MAX_HEADER_CHARS = 4096  # real headers are a few hundred characters; longer is not worth decoding
_TOKEN_REQUIRES = ["exp", "iss", "aud", "sub"]

# PyJWT's errors -> the reason a caller may be shown; the first that matches wins (subclasses first).
_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidAudienceError, "the token's audience is not this service"),
    (jwt.InvalidIssuerError, "the token's issuer is not trusted"),
    (jwt.InvalidSignatureError, "the token's signature is not valid"),
    (jwt.InvalidAlgorithmError, "the token's algorithm is not allowed"),
    (jwt.InvalidIssuedAtError, "the token's issue time is not valid"),
    (jwt.DecodeError, "the token is not a JWT"),
)


@dataclass(frozen=True)
class Identity:
    """Who the identity provider says the bearer is."""

    subject: str
    """The token's `sub`: the provider's stable id of the user."""
    email: str | None
    """The WFS_OIDC_EMAIL_CLAIM claim; None when absent, or when the token says `email_verified` is false."""
    issuer: str
    """The configured issuer, which the token's `iss` is."""


class InvalidIdentityToken(Exception):
    """The token proves nothing; `reason` says why, in words safe to show the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IdentityProviderUnavailable(Exception):
    """The provider's keys (or its discovery document) could not be fetched, and no cached key can check the
    token. The message is for the operator's log: it names the URL and what went wrong."""


def looks_like_jwt(token: str) -> bool:
    """True for three base64url segments whose first decodes to a JSON object with an `alg`: cheap enough to
    route a bearer token to the verifier without trying other kinds of credential first."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[0]) > _MAX_HEADER_CHARS:
        return False
    header_part, payload_part, signature_part = parts
    if not (_SEGMENT.fullmatch(header_part) and _SEGMENT.fullmatch(payload_part)):
        return False
    if signature_part and not _SEGMENT.fullmatch(signature_part):  # empty for `alg: none`, refused later
        return False
    header = _json_segment(header_part)
    return isinstance(header, dict) and isinstance(header.get("alg"), str)


def _json_segment(segment: str) -> Any:
    stripped = segment.rstrip("=")
    try:
        return json.loads(base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        return None


def verifier_of(settings: Settings) -> OidcVerifier | None:
    """The verifier the settings configure, or None when no issuer is (bearer JWTs are not accepted)."""
    return OidcVerifier(settings.oidc) if settings.oidc.issuer else None


class OidcVerifier:
    """Verifies bearer JWTs of one identity provider; `aclose()` it when done."""

    def __init__(
        self,
        section: OidcSection,
        client: httpx.AsyncClient | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`client` defaults to a plain one the verifier owns and closes: not the guarded outbound client,
        which refuses private addresses, since the operator chose this provider. `clock` (monotonic seconds)
        times the keys' TTL and the refetch interval."""
        if not section.issuer or not section.audience:
            raise ValueError("an OIDC verifier needs an issuer and an audience")
        self._section = section
        self._issuer = section.issuer
        self._audience = section.audience
        self._jwks_url = section.jwks_url
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=True)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._keys: jwt.PyJWKSet | None = None
        self._fetched_at: float | None = None  # the last fetch that succeeded
        self._attempted_at: float | None = None  # the last fetch, whatever came of it
        self._attempts = 0
        self._failure: str | None = None  # why the last fetch failed, if it did

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def verify(self, token: str) -> Identity:
        """The identity `token` proves. Raises InvalidIdentityToken (with a reason to show),
        or IdentityProviderUnavailable when the keys to check it cannot be had."""
        if not looks_like_jwt(token):
            raise InvalidIdentityToken("the token is not a JWT")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidIdentityToken(_reason(exc)) from exc
        algorithm = header.get("alg")
        if algorithm not in self._section.algorithms:  # `none`, HS*, or one the operator did not allow
            raise InvalidIdentityToken("the token's algorithm is not allowed")
        key = await self._key(header.get("kid"))
        if key.algorithm_name != algorithm:
            raise InvalidIdentityToken("the token's algorithm is not the one its signing key is for")
        return self._identity(self._claims(token, key))

    def _claims(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._section.leeway_s,
                # The subject is checked by `_identity`, the same with every PyJWT version.
                options={"require": _TOKEN_REQUIRES, "verify_sub": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidIdentityToken(_reason(exc)) from exc

    def _identity(self, claims: dict[str, Any]) -> Identity:
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise InvalidIdentityToken("the token's subject is not valid")
        email = claims.get(self._section.email_claim)
        # An address the provider has not verified could be anyone's: never let it name a user.
        if not isinstance(email, str) or not email or claims.get("email_verified") in (False, "false"):
            email = None
        return Identity(subject=subject, email=email, issuer=self._issuer)

    async def _key(self, kid: object) -> jwt.PyJWK:
        """The cached key `kid` names, fetching the keys when they are due or when it is unknown."""
        if self._due():
            await self._refresh()
        key = self._find(kid)
        if key is None and self._may_refetch():
            log.info("an identity token names a key not among the provider's known keys: fetching them again")
            await self._refresh()
            key = self._find(kid)
        if key is not None:
            return key
        if self._failure is not None:  # the key may be new: without the provider's keys, nobody can tell
            raise IdentityProviderUnavailable(self._failure)
        raise InvalidIdentityToken("the token names an unknown signing key")

    def _due(self) -> bool:
        """True when there are no keys or their TTL is over, unless the last fetch failed too recently."""
        if self._failure is not None and not self._may_refetch():
            return False
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._section.jwks_ttl_s

    def _may_refetch(self) -> bool:
        return self._attempted_at is None or self._clock() - self._attempted_at >= REFETCH_INTERVAL_S

    def _find(self, kid: object) -> jwt.PyJWK | None:
        """The signing key `kid` names (a key published for encryption only is none)."""
        keys = [key for key in self._keys or () if key.public_key_use in (None, "sig")]
        if kid is None:  # a token may leave out its key id when the provider has one key
            return keys[0] if len(keys) == 1 else None
        return next((key for key in keys if key.key_id == kid), None)

    async def _refresh(self) -> None:
        """Fetch the keys, or share the fetch another verification started while this one waited. When it
        fails, the keys fetched before are kept and `_failure` says why."""
        seen = self._attempts
        async with self._lock:
            if self._attempts == seen:
                try:
                    keys = await self._fetch_keys()
                except IdentityProviderUnavailable as exc:
                    log.warning("the identity provider's keys could not be fetched: %s", exc)
                    self._failure = str(exc)
                else:
                    self._keys, self._fetched_at, self._failure = keys, self._clock(), None
                self._attempted_at = self._clock()
                self._attempts += 1

    async def _fetch_keys(self) -> jwt.PyJWKSet:
        url = self._jwks_url or await self._discover()
        document = await self._get_json(url)
        try:
            return jwt.PyJWKSet.from_dict(document)
        except jwt.PyJWTError as exc:
            raise IdentityProviderUnavailable(f"{loggable_url(url)} holds no usable keys: {exc}") from exc

    async def _discover(self) -> str:
        """The JWKS URL from the issuer's discovery document (kept once found)."""
        url = f"{self._issuer.rstrip('/')}/.well-known/openid-configuration"
        document = await self._get_json(url)
        if document.get("issuer") != self._issuer:  # OpenID Connect Discovery 1.0, section 4.3
            raise IdentityProviderUnavailable(
                f"{loggable_url(url)} is for the issuer {document.get('issuer')!r}, not {self._issuer!r}"
            )
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise IdentityProviderUnavailable(f"{loggable_url(url)} has no `jwks_uri` URL")
        self._jwks_url = jwks_uri
        return jwks_uri

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise IdentityProviderUnavailable(f"{loggable_url(url)}: {type(exc).__name__} {exc}") from exc
        if response.status_code != 200:
            raise IdentityProviderUnavailable(f"{loggable_url(url)} answered {response.status_code}")
        try:
            document = response.json()
        except ValueError as exc:
            raise IdentityProviderUnavailable(f"{loggable_url(url)} did not answer JSON") from exc
        if not isinstance(document, dict):
            raise IdentityProviderUnavailable(f"{loggable_url(url)} did not answer a JSON object")
        return document


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the token has no `{exc.claim}` claim"
    return next((reason for kind, reason in _REASONS if isinstance(exc, kind)), "the token is not valid")
