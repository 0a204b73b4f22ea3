"""The Redactor finds a secure value in the encodings it takes on the way (URL, JSON, HTML, base64 at
any offset); lines logged while a job runs are redacted; httpx's request lines carry no query string."""

from __future__ import annotations

import asyncio
import base64
import html
import json
import logging
import os
import re
import urllib.parse
from collections.abc import Callable

import pytest

from tests.servers import EchoServer
from workflow_service.core.http import OutboundPolicy, loggable_url, make_client
from workflow_service.core.secrets import NO_REDACTION, Redactor, redact_logs, redactor_for

VALUE = "tok3n/+=Kq9 é\"<&>'x"
MARKER = "[redacted:TOKEN]"


def lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


ENCODERS: dict[str, Callable[[str], str]] = {
    "as is": lambda v: v,
    "quote": lambda v: urllib.parse.quote(v, safe=""),
    "quote keeping /": urllib.parse.quote,
    "quote_plus": urllib.parse.quote_plus,
    "quote, lower-case hex": lambda v: lower_hex(urllib.parse.quote(v, safe="")),
    "quoted twice": lambda v: urllib.parse.quote(urllib.parse.quote(v, safe=""), safe=""),
    "JSON": lambda v: json.dumps(v)[1:-1],
    "JSON with \\/": lambda v: json.dumps(v)[1:-1].replace("/", "\\/"),
    "JSON in JSON": lambda v: json.dumps(json.dumps(v))[1:-1],
    "JSON, every character \\u-escaped": lambda v: "".join(
        c if c.isalnum() and c.isascii() else f"\\u{ord(c):04X}" for c in v
    ),
    "Python repr": lambda v: repr(v)[1:-1],
    "HTML": html.escape,
    "HTML, numeric": lambda v: "".join(c if c.isalnum() and c.isascii() else f"&#{ord(c)};" for c in v),
    "base64": lambda v: base64.b64encode(v.encode()).decode(),
    "base64url, unpadded": lambda v: base64.urlsafe_b64encode(v.encode()).decode().rstrip("="),
    "base64 of user:value": lambda v: base64.b64encode(f"user:{v}".encode()).decode(),
    "base64 of u:value": lambda v: base64.b64encode(f"u:{v}".encode()).decode(),
    "base64 of us:value, URL-encoded": lambda v: urllib.parse.quote(base64.b64encode(f"us:{v}".encode()).decode()),
    "base64 in the middle of other data": lambda v: base64.b64encode(f"a:{v}:rest".encode()).decode(),
}


@pytest.mark.parametrize("encoding", list(ENCODERS))
def test_each_encoding_of_a_value_is_redacted(encoding: str) -> None:
    encoded = ENCODERS[encoding](VALUE)
    assert encoded != ENCODERS["as is"](VALUE) or encoding == "as is"
    redacted = Redactor({"TOKEN": VALUE}).text(f"before {encoded} after")
    assert encoded not in redacted
    assert MARKER in redacted
    assert redacted.startswith("before ")
    assert redacted.endswith(" after")


@pytest.mark.parametrize("value", ["abcd", "tok3n/+=Kq9", "/+/+", "é€😀x"])
@pytest.mark.parametrize("before", ["", "u:", "us:", "user:"])
@pytest.mark.parametrize("after", ["", ":x", ":xy", ":xyz"])
def test_base64_at_any_offset_keeps_no_character_carrying_bits_of_the_value(
    value: str, before: str, after: str
) -> None:
    redact = Redactor({"TOKEN": value})
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(f"{before}{value}{after}".encode()).decode()
        kept_before, marker, kept_after = redact.text(encoded).partition(MARKER)
        assert marker == MARKER
        # What is left carries bits of the data around the value only (and of the padding).
        assert len(kept_before) * 6 <= len(before.encode()) * 8
        assert len(kept_after.rstrip("=")) * 6 <= len(after.encode()) * 8 + 4
        assert MARKER not in kept_after


def test_text_without_the_value_is_left_alone() -> None:
    redact = Redactor({"TOKEN": VALUE})
    blob = base64.b64encode(os.urandom(200_000)).decode()
    near = ["tok3n/+=Kq9 e", "tok3n%2F%2B%3DKq8", "TOK3N/+=KQ9 é\"<&>'X", "tok3n/+= Kq9"]
    for text in [blob, *near, "tok3n", "/+=", "%2F%2B%3D"]:
        assert redact.text(text) == text


def test_redactors_are_made_once_per_set_of_values() -> None:
    assert redactor_for({}) is NO_REDACTION
    assert redactor_for({"A": "value-one", "B": "value-two"}) is redactor_for({"B": "value-two", "A": "value-one"})
    assert redactor_for({"A": "value-one"}) is not redactor_for({"A": "value-two"})


async def test_lines_logged_in_a_jobs_context_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    log = logging.getLogger("tests.redaction")

    async def job() -> None:
        redact_logs(Redactor({"TOKEN": VALUE}))
        log.info("calling %s", urllib.parse.quote(VALUE))
        try:
            raise ValueError(f"the server said {json.dumps(VALUE)}")
        except ValueError:
            log.warning("step failed", exc_info=True)

    await asyncio.create_task(job())
    log.info("outside a job: %s", "tok3n")  # the job's redaction stays in the job's task
    assert [r.getMessage() for r in caplog.records] == [f"calling {MARKER}", "step failed", "outside a job: tok3n"]
    assert "ValueError: the server said" in caplog.text
    assert MARKER in caplog.text
    assert "tok3n/" not in caplog.text
    assert urllib.parse.quote(VALUE) not in caplog.text


def test_loggable_urls_keep_scheme_host_and_path_only() -> None:
    url = "https://user:pa%2Fss@api.example.com:8443/v1/things?token=abc%2F&x=1#frag"
    assert loggable_url(url) == "https://api.example.com:8443/v1/things"
    assert loggable_url("not a url") == "<URL>"


async def test_httpx_request_lines_carry_no_query_string(
    echo_server: EchoServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="httpx")
    caplog.set_level(logging.DEBUG, logger="httpcore")
    async with make_client(OutboundPolicy(allow_private=True)) as client:
        response = await client.get(f"{echo_server.url}/things?api_key=s3cr3t-query-value")
    assert response.status_code == 200
    host = echo_server.url.removeprefix("http://")
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx" and r.levelno == logging.INFO]
    assert lines == [f'HTTP Request: GET http://{host}/things "HTTP/1.0 200 OK"']
    assert any(r.name.startswith("httpcore") for r in caplog.records)  # httpcore's trace was on
    assert "s3cr3t-query-value" not in caplog.text
    assert echo_server.requests[0].path == "/things?api_key=s3cr3t-query-value"
