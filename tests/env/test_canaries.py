"""Secret canaries: a secure variable used in every place a job can use one (an http step's URL
query, headers, body and basic auth; an llm step's prompt and system message; a transform's output;
a tool's arguments; the push callback; the error message of a server that echoes the request) is
never found, in any of the encodings it takes on the way, in any API response, callback body,
database row or log line."""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import secrets
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import WorkerFactory, wait_for_job
from tests.deliveries.conftest import FAST, WebhookReceiver, enable_push, submit_push
from tests.env.conftest import put_var
from tests.jobs.conftest import deploy_workflow
from tests.llm.conftest import ModelServer
from tests.servers import LocalHTTPServer, QuietHandler

# One canary per place a secure value can be used: each has `/`, `+` and `=` (which URL encoding, JSON
# escaping and base64 change) and, where the place takes any text, a space, a quote and a non-ASCII letter.
PLACES = {
    "QUERY": "/+= é",
    "HEADER": "/+=",
    "BODY": '/+= é"<>',
    "BASIC": "/+=",
    "LLM_PROMPT": "/+= é",
    "LLM_SYSTEM": "/+= é",
    "TRANSFORM": "/+= é<&>'\"",
    "TOOL": "/+=é",
    "CALLBACK": "/+=",
    "ECHOED_ERROR": "/+= é",
}


def make_canaries() -> dict[str, str]:
    """NAME -> value: random (never twice the same), recognisable in a dump, with the place's characters."""
    return {name: f"cnry{secrets.token_hex(6)}{name.lower()}{chars}z9" for name, chars in PLACES.items()}


def encodings(value: str) -> set[str]:
    """The forms a value can take between the job and what is stored, sent or logged."""
    raw = value.encode()
    quoted = urllib.parse.quote(value, safe="")
    found = {
        value,
        quoted,
        urllib.parse.quote(value),  # `/` kept (also Jinja's `urlencode`)
        urllib.parse.quote_plus(value),
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted),
        urllib.parse.quote(quoted, safe=""),  # encoded twice
        json.dumps(value)[1:-1],  # JSON, non-ASCII as \\u escapes
        json.dumps(value, ensure_ascii=False)[1:-1],
        json.dumps(value)[1:-1].replace("/", "\\/"),  # JSON as PHP and others write it
        json.dumps(json.dumps(value))[1:-1],  # a JSON text inside a JSON string
        html.escape(value),
        repr(value)[1:-1],
    }
    for prefix in (b"", b"user:"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(prefix + raw).decode()
            found |= {encoded, encoded.rstrip("="), urllib.parse.quote(encoded, safe="")}
    return found


class EscapingEcho:
    """Answers every request with a JSON description of it (method, path, headers, body) written as
    PHP writes JSON: `/` as `\\/` and non-ASCII as `\\u` escapes. Paths: `/json...` answers 200 as
    application/json; `/fail...` answers 400 as text; anything else 200 as text."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class Handler(QuietHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = dict(self.headers.items())
                outer.requests.append((self.path, headers, body))
                # The body and path first: an error message keeps the start of the answer.
                described = {
                    "body": body.decode(errors="replace"),
                    "path": self.path,
                    "method": self.command,
                    "headers": headers,
                }
                payload = json.dumps(described).replace("/", "\\/").encode()
                status = 400 if self.path.startswith("/fail") else 200
                ctype = "application/json" if self.path.startswith("/json") else "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

        self._server = LocalHTTPServer(Handler)

    @property
    def host(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture
def escaping_echo() -> Iterator[EscapingEcho]:
    server = EscapingEcho()
    yield server
    server.stop()


INPUTS = {"type": "object", "properties": {"host": {"type": "string"}}, "required": ["host"]}

EVERYWHERE: dict[str, Any] = {
    "input_schema": INPUTS,
    "model": {"provider": "openai", "name": "gpt-test"},
    "steps": [
        {  # query: in the URL as written, and merged from `query` (httpx encodes it)
            "id": "query",
            "type": "http",
            "url": "http://{{ inputs.host }}/json/q?key={{ env.QUERY }}&enc={{ env.QUERY | urlencode }}",
            "query": {"merged": "{{ env.QUERY }}"},
        },
        {  # the same request answered as text: the echo stays escaped in the step's output
            "id": "query_text",
            "type": "http",
            "url": "http://{{ inputs.host }}/text/q?key={{ env.QUERY | urlencode }}",
            "query": {"merged": "{{ env.QUERY }}"},
        },
        {
            "id": "header",
            "type": "http",
            "url": "http://{{ inputs.host }}/json/h",
            "headers": {"Authorization": "Bearer {{ env.HEADER }}", "X-Token": "{{ env.HEADER }}"},
        },
        {
            "id": "header_text",
            "type": "http",
            "url": "http://{{ inputs.host }}/text/h",
            "headers": {"X-Token": "{{ env.HEADER }}"},
        },
        {
            "id": "body",
            "type": "http",
            "method": "POST",
            "url": "http://{{ inputs.host }}/json/b",
            "json": {"token": "{{ env.BODY }}", "nested": ["x-{{ env.BODY }}-y"]},
        },
        {
            "id": "body_text",
            "type": "http",
            "method": "POST",
            "url": "http://{{ inputs.host }}/text/b",
            "body": "token={{ env.BODY | urlencode }}&raw={{ env.BODY }}",
        },
        {  # basic auth from the URL's user info (httpx sends it as `Authorization: Basic ...`)
            "id": "basic",
            "type": "http",
            "url": "http://user:{{ env.BASIC | urlencode | replace('/', '%2F') }}@{{ inputs.host }}/json/a",
        },
        {
            "id": "basic_text",
            "type": "http",
            "url": "http://user:{{ env.BASIC | urlencode | replace('/', '%2F') }}@{{ inputs.host }}/text/a",
        },
        {
            "id": "ask",
            "type": "llm",
            "system": "You keep {{ env.LLM_SYSTEM }} safe.",
            "prompt": "Repeat {{ env.LLM_PROMPT }} and {{ env.LLM_SYSTEM }}",
        },
        {
            "id": "tool",
            "type": "tool",
            "tool": "text.split",
            "args": {"text": "a {{ env.TOOL }} b", "separator": " "},
        },
        {
            "id": "shape",
            "type": "transform",
            "output": {
                "raw": "{{ env.TRANSFORM }}",
                "url": "{{ env.TRANSFORM | urlencode }}",
                "json": "{{ env.TRANSFORM | tojson }}",
                "html": "{{ env.TRANSFORM | e }}",
            },
        },
    ],
    "output": {
        "steps": {
            "query": "{{ steps.query.output }}",
            "query_text": "{{ steps.query_text.output }}",
            "header": "{{ steps.header.output }}",
            "header_text": "{{ steps.header_text.output }}",
            "body": "{{ steps.body.output }}",
            "body_text": "{{ steps.body_text.output }}",
            "basic": "{{ steps.basic.output }}",
            "basic_text": "{{ steps.basic_text.output }}",
            "ask": "{{ steps.ask.output }}",
            "shape": "{{ steps.shape.output }}",
            "tool": "{{ steps.tool.output }}",
        },
        "callback": ["{{ env.CALLBACK }}", "{{ env.CALLBACK | urlencode }}", "{{ env.CALLBACK | tojson }}"],
    },
}

ECHOED_ERROR: dict[str, Any] = {
    "input_schema": INPUTS,
    "steps": [
        {
            "id": "call",
            "type": "http",
            "method": "POST",
            "url": "http://{{ inputs.host }}/fail?key={{ env.ECHOED_ERROR | urlencode }}",
            "headers": {"X-Token": "{{ env.ECHOED_ERROR | urlencode }}"},
            "json": {"token": "{{ env.ECHOED_ERROR }}"},
        }
    ],
}


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included, as it is decoded."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def searchable(documents: list[str]) -> str:
    """JSON documents as they are written, then every string in them decoded (a value escaped once
    more by being stored in a JSON string is found in its decoded form)."""
    decoded = [text for document in documents for text in strings(json.loads(document))]
    return "\n".join(documents + decoded)


async def dump_database(engine: AsyncEngine) -> str:
    """Every row of every table of the test database (each row as a JSON object)."""
    rows: list[str] = []
    async with engine.connect() as conn:
        tables = (
            await conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"))
        ).scalars()
        for table in list(tables):
            rows += (await conn.execute(sa.text(f'SELECT to_jsonb(t)::text FROM "{table}" t'))).scalars().all()
    assert any('"job_id"' in row for row in rows)
    return searchable(rows)


async def api_responses(client: httpx.AsyncClient, slugs: list[str], job_ids: list[str]) -> str:
    """Every read endpoint's answer about these workflows and jobs (each must answer 200)."""
    paths = ["/v1/jobs", "/v1/jobs?limit=100", "/v1/workflows", "/v1/agents", "/v1/tools"]
    for slug in slugs:
        paths += [
            f"/v1/workflows/{slug}",
            f"/v1/workflows/{slug}/versions",
            f"/v1/workflows/{slug}/versions/1",
            f"/v1/workflows/{slug}/env",
            f"/v1/workflows/{slug}/settings",
            f"/v1/workflows/{slug}/api-keys",
        ]
        paths += [f"/v1/workflows/{slug}/env/{name}" for name in PLACES]
    for job_id in job_ids:
        paths += [f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/events", f"/v1/jobs/{job_id}/deliveries"]
    texts = []
    for path in paths:
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)
        texts.append(response.text)
    return searchable(texts)


def leaks(canaries: dict[str, str], haystacks: dict[str, str]) -> list[str]:
    """Where each encoding of each canary was found."""
    return [
        f"{name} as {form!r} in {where}"
        for name, value in canaries.items()
        for form in sorted(encodings(value))
        for where, text in haystacks.items()
        if form in text
    ]


async def test_secure_values_are_found_in_no_response_callback_row_or_log_line(
    client: httpx.AsyncClient,
    start_worker: WorkerFactory,
    model_server: ModelServer,
    receiver: WebhookReceiver,
    escaping_echo: EscapingEcho,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # every logger, httpx's request lines included
    canaries = make_canaries()
    submitted: list[str] = []
    for slug, definition in (("everywhere", EVERYWHERE), ("echoed", ECHOED_ERROR)):
        await deploy_workflow(client, slug, definition)
        for name, value in canaries.items():
            response = await put_var(client, name, value, slug=slug, secure=True)
            submitted.append(response.text)
            assert response.status_code == 201, response.text
        receiver.secrets.append(await enable_push(client, slug, receiver.url))
    await start_worker(openai_base_url=f"{model_server.url}/v1", openai_api_key=SecretStr("sk-test-model-key"), **FAST)

    inputs = {"host": escaping_echo.host}
    jobs = [await submit_push(client, slug, inputs=inputs) for slug in ("everywhere", "echoed")]
    submitted += [json.dumps(job) for job in jobs]
    done = [await wait_for_job(client, job["id"], wait_s=30) for job in jobs]
    callbacks = await receiver.wait_for(2, wait_s=30)

    # The canaries did reach their targets, in the forms the redaction must know.
    everywhere, echoed = done
    assert everywhere["status"] == "completed", everywhere
    assert echoed["status"] == "failed", echoed
    sent = "\n".join(path for path, _, _ in escaping_echo.requests)
    queries = {p.path: urllib.parse.parse_qs(p.query) for p in map(urllib.parse.urlsplit, sent.split())}
    assert queries["/json/q"]["merged"] == queries["/json/q"]["enc"] == queries["/text/q"]["key"] == [canaries["QUERY"]]
    headers = {path: headers for path, headers, _ in escaping_echo.requests}
    assert headers["/json/h"]["Authorization"] == f"Bearer {canaries['HEADER']}"
    basic = base64.b64encode(f"user:{canaries['BASIC']}".encode()).decode()
    assert headers["/json/a"]["Authorization"] == f"Basic {basic}"
    bodies = [json.loads(body) for path, _, body in escaping_echo.requests if path == "/json/b"]
    assert bodies == [{"token": canaries["BODY"], "nested": [f"x-{canaries['BODY']}-y"]}]
    prompts = json.dumps([call.body for call in model_server.calls], ensure_ascii=False)
    assert canaries["LLM_PROMPT"] in prompts
    assert canaries["LLM_SYSTEM"] in prompts
    assert echoed["error"]["code"] == "http_status", echoed["error"]
    assert "\\/" in echoed["error"]["message"]  # the server's escaped echo is in the message
    assert "[redacted:ECHOED_ERROR]" in echoed["error"]["message"]
    assert {c.json()["data"]["id"] for c in callbacks} == {job["id"] for job in jobs}
    assert all(c.verified_by for c in callbacks)

    log_text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    # httpx's request lines were captured, without their query strings.
    assert f'HTTP Request: GET http://{escaping_echo.host}/json/q "HTTP/1.0 200 OK"' in log_text
    haystacks = {
        "the API's answers": await api_responses(client, ["everywhere", "echoed"], [job["id"] for job in jobs]),
        "the submissions' answers": searchable(submitted),
        "the callbacks": searchable([c.body.decode() for c in callbacks]) + json.dumps([c.headers for c in callbacks]),
        "the database": await dump_database(engine),
        "the logs": log_text,
    }
    assert leaks(canaries, haystacks) == []
    for name in PLACES:  # each place shows the redaction marker instead of the value
        assert f"[redacted:{name}]" in json.dumps(everywhere) + json.dumps(echoed), name
