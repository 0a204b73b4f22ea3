"""A local identity provider for the OIDC tests: key pairs made here, and a real HTTP server on 127.0.0.1
serving the discovery document and the JWKS (counting the requests to each), that a test can change,
slow down, break or stop."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.servers import LocalHTTPServer, QuietHandler

AUDIENCE = "workflow-service-test"
REALM = "/realms/test"
DISCOVERY_PATH = f"{REALM}/.well-known/openid-configuration"
JWKS_PATH = f"{REALM}/protocol/openid-connect/certs"


@dataclass(frozen=True)
class SigningKey:
    """A key pair of the provider: its private half signs tokens, its public half is served as a JWK."""

    kid: str
    algorithm: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))

    def jwk(self, with_alg: bool = True) -> dict[str, Any]:
        """The public key as the provider publishes it (`with_alg=False`: without its `alg`, as some do)."""
        if isinstance(self.private, rsa.RSAPrivateKey):
            jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return jwk | {"kid": self.kid, "use": "sig"} | ({"alg": self.algorithm} if with_alg else {})

    def sign(self, claims: dict[str, Any], kid: str | None = "", algorithm: str | None = None) -> str:
        """A token with `claims`, signed by this key, naming `kid` (default: this key's; None: no kid)."""
        headers = {} if kid is None else {"kid": kid or self.kid}
        return jwt.encode(claims, self.private, algorithm=algorithm or self.algorithm, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A token put together by hand, with any header and signature (`alg: none`, a forged HMAC, ...)."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"


@dataclass
class Provider:
    """The identity provider's HTTP side. Change `keys`, `jwks_status`, `jwks_body`, `discovery` or `delay_s`
    at any time; `requests` counts the GETs per path."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    jwks_status: int = 200
    jwks_body: bytes | None = None
    """Served instead of the keys, when set."""
    discovery: dict[str, Any] | None = None
    """Served instead of the real discovery document, when set."""
    delay_s: float = 0.0
    """How long the JWKS answer takes."""
    requests: Counter[str] = field(default_factory=Counter)
    _server: LocalHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    @property
    def issuer(self) -> str:
        return self.url + REALM

    @property
    def jwks_url(self) -> str:
        return self.url + JWKS_PATH

    @property
    def jwks_fetches(self) -> int:
        return self.requests[JWKS_PATH]

    def start(self) -> None:
        outer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                outer.requests[self.path] += 1
                status, body = outer._answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = LocalHTTPServer(Handler, quiet=(ConnectionError,))

    def _answer(self, path: str) -> tuple[int, bytes]:
        if path == DISCOVERY_PATH:
            document = self.discovery or {"issuer": self.issuer, "jwks_uri": self.jwks_url}
            return 200, json.dumps(document).encode()
        if path == JWKS_PATH:
            time.sleep(self.delay_s)
            return self.jwks_status, self.jwks_body or json.dumps({"keys": self.keys}).encode()
        return 404, b'{"error": "not found"}'

    def stop(self) -> None:
        """Down: connections to it are refused from now on."""
        if self._server is not None:
            self._server.stop()


def claims_for(provider: Provider, **changes: Any) -> dict[str, Any]:
    """Valid claims for a token of `provider`, with `changes` (a None value leaves the claim out)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": provider.issuer,
        "aud": AUDIENCE,
        "sub": "user-1",
        "email": "ada@example.com",
        "iat": now,
        "exp": now + 300,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


class Clock:
    """Monotonic seconds the test moves forward: the keys' TTL and the refetch interval without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
