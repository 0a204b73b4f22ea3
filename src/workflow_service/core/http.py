"""The one outbound HTTP client: every step, callback and model call goes through it.

It resolves the host, refuses non-public addresses (loopback, private, link-local, CGNAT,
metadata, IPv4-mapped, ...) unless the operator allows them, connects to the address it checked
(so DNS cannot change between check and connect), never follows redirects, and caps the size of
what it reads.

httpx logs a line for every request at INFO; through `_RequestLineFilter` it shows the method,
scheme, host, port and path of the URL, never its query string, user or fragment.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


_URL_PARTS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?:[^@/?#]*@)?(?P<host>[^/?#]*)(?P<path>[^?#]*)")


def loggable_url(url: httpx.URL | str) -> str:
    """`url` as a log line may show it: scheme, host, port and path; never its query string, user
    info or fragment (a query parameter or a password may be a secret)."""
    match = _URL_PARTS.match(str(url))
    return "".join(match.group("scheme", "host", "path")) if match else "<URL>"


_REQUEST_LINE = re.compile(r"(HTTP Request: \S+ )(\S+)")


class _RequestLineFilter(logging.Filter):
    """httpx's line for each request, `HTTP Request: GET <url> "HTTP/1.1 200 OK"`, with the URL made
    loggable. The message is formatted here (a job's log redaction may have done it already)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # not a line httpx makes; the handler reports the bad call
            return True
        if message.startswith("HTTP Request: "):
            record.msg, record.args = (
                _REQUEST_LINE.sub(lambda m: m.group(1) + loggable_url(m.group(2)), message, 1),
                None,
            )
        return True


_request_line_filter = _RequestLineFilter()
logging.getLogger("httpx").addFilter(_request_line_filter)  # the logger httpx's clients log their requests to


class OutboundError(Exception):
    """The request was refused before it was sent, or its response broke a limit."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class OutboundPolicy:
    allow_private: bool = False
    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def from_settings(cls, allow_private: bool, allowlist: Iterable[str]) -> OutboundPolicy:
        hosts, networks = set(), []
        for entry in allowlist:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(allow_private, frozenset(hosts), tuple(networks))

    def address_allowed(self, host: str, address: IPAddress) -> bool:
        if self.allow_private or host.lower().rstrip(".") in self.allow_hosts:
            return True
        if any(address in net for net in self.allow_networks):
            return True
        return is_public(address)

    async def resolve(self, host: str, port: int) -> IPAddress:
        """Resolve `host` and return an address that may be contacted, or raise OutboundError."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise OutboundError("dns_error", f"cannot resolve {host}: {exc.strerror}") from exc
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        for address in addresses:
            if not self.address_allowed(host, address):
                raise OutboundError(
                    "outbound_refused",
                    f"{host} resolves to {address}, a non-public address; set WFS_ALLOW_PRIVATE_NETWORKS "
                    "or add it to WFS_OUTBOUND_ALLOWLIST to allow it",
                )
        return addresses[0]


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_public(mapped)
        if address.teredo is not None:
            return False
    return address.is_global and not (address.is_multicast or address.is_reserved)


async def check_url(policy: OutboundPolicy, url: str) -> None:
    """Refuse a URL whose scheme is not http(s) or whose host is not allowed (used when saving URLs)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise OutboundError("invalid_url", f"invalid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise OutboundError("invalid_url", "URL must be absolute http or https")
    await policy.resolve(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks every request's destination, then connects to the checked address."""

    def __init__(self, policy: OutboundPolicy, **transport_kwargs: object) -> None:
        self._policy = policy
        self._inner = httpx.AsyncHTTPTransport(**transport_kwargs)  # type: ignore[arg-type]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise OutboundError("invalid_url", f"scheme {url.scheme!r} is not allowed; use http or https")
        host = url.host
        address = await self._policy.resolve(host, url.port or (443 if url.scheme == "https" else 80))
        if str(address) != host.strip("[]"):
            request.url = url.copy_with(host=str(address))
            if url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def make_client(policy: OutboundPolicy, timeout_s: float = 30.0) -> httpx.AsyncClient:
    """The guarded client. trust_env is off so proxy variables cannot route around the checks."""
    return httpx.AsyncClient(
        transport=GuardedTransport(policy),
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(timeout_s),
        headers={"User-Agent": "workflow-service"},
    )


async def send_capped(client: httpx.AsyncClient, request: httpx.Request, max_bytes: int) -> httpx.Response:
    """Send and read the body, refusing to read more than `max_bytes`."""
    response = await client.send(request, stream=True)
    try:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            raise OutboundError("response_too_large", f"response of {declared} bytes exceeds {max_bytes}")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():  # decoded, so a compressed bomb is capped too
            size += len(chunk)
            if size > max_bytes:
                raise OutboundError("response_too_large", f"response exceeds {max_bytes} bytes")
            chunks.append(chunk)
    finally:
        await response.aclose()
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code, headers=headers, content=b"".join(chunks), request=request, extensions=response.extensions
    )
