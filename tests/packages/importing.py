"""The import tests' helpers: one app per module (a secret key set) on an emptied database, packages made as the
format says (and hostile ones, a zip member at a time), and uploads of them."""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TOKEN, ClientFactory, connections, empty_database, make_settings
from workflow_service.packages import passphrase as crypto
from workflow_service.packages.spec import APP_FILE, ENV_FILE, FILES, FLOW_FILE, FORMAT_VERSION, split_definition

KEY = Fernet.generate_key().decode()
"""The service's WFS_SECRET_KEY."""
PASSPHRASE = "correct horse battery"
SECRET = "sk-live-77aa88bb99cc"
"""A secure value: a package carries it only encrypted."""
GREETER: dict[str, Any] = {
    "description": "Greets people",
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "variables": {"greeting": "Hello"},
    "steps": [{"id": "compose", "type": "transform", "output": {"text": "{{ vars.greeting }}, {{ inputs.name }}!"}}],
    "output": {"greeting": "{{ steps.compose.output.text }}"},
}
SETTINGS: dict[str, Any] = {
    "sync_timeout_s": 90,
    "queue_timeout_s": 600.0,
    "retention_days": 30,
    "push": {"enabled": False, "callback_url": None, "timeout_s": 120},
}


def files_of(
    definition: Mapping[str, Any] = GREETER,
    variables: list[dict[str, Any]] | None = None,
    *,
    name: str = "Greeter",
    settings: Mapping[str, Any] = SETTINGS,
    passphrase: str | None = None,
) -> dict[str, bytes]:
    """A package's three files, as the format writes them: `variables` in env_variables.json as given, except
    that a secure one's `secret` is encrypted with `passphrase`."""
    flow, app = split_definition(dict(definition))
    env: dict[str, Any] = {"format_version": FORMAT_VERSION, "variables": []}
    key = b""
    if passphrase is not None:
        derivation, key = crypto.new_key(passphrase)
        env["encryption"] = derivation.model_dump()
    for variable in variables or []:
        written = {k: v for k, v in variable.items() if k != "secret"}
        if "secret" in variable:
            written["encrypted"] = crypto.encrypt(key, variable["name"], variable["secret"]).model_dump()
        env["variables"].append(written)
    app_file = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "description": "Made for the tests",
        "source": {"workflow": "greeter", "version": 1},
        "definition": app,
        "settings": dict(settings),
    }
    files = {APP_FILE: app_file, FLOW_FILE: {"format_version": FORMAT_VERSION, "definition": flow}, ENV_FILE: env}
    return {name: (json.dumps(data, indent=2, sort_keys=True) + "\n").encode() for name, data in files.items()}


def zip_of(files: Mapping[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of `files` in their order (any names: hostile packages too)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def package(*args: Any, **kwargs: Any) -> bytes:
    """A valid package (files_of's arguments), zipped."""
    return zip_of(files_of(*args, **kwargs))


@dataclass
class Imports:
    """The module's app: the operator's client, and fresh slugs."""

    connect: ClientFactory
    admin: httpx.AsyncClient
    engine: AsyncEngine
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def slug(self, stem: str = "wf") -> str:
        return f"{stem}-{next(self.numbers)}"

    async def ok(self, method: str, url: str, body: Any = None, client: httpx.AsyncClient | None = None) -> Any:
        response = await (client or self.admin).request(method, url, json=body)
        assert response.is_success, (method, url, response.text)
        return None if response.status_code == 204 else response.json()

    async def workflow(self, slug: str, definition: Mapping[str, Any] = GREETER, **env: Any) -> dict[str, Any]:
        """A workflow with a draft (not deployed) and environment variables (`NAME={"value": ..}` bodies)."""
        made: dict[str, Any] = await self.ok(
            "POST", "/v1/workflows", {"name": slug, "slug": slug, "definition": definition}
        )
        for name, body in env.items():
            await self.ok("PUT", f"/v1/workflows/{slug}/env/{name}", body)
        return made

    async def env(self, slug: str) -> dict[str, dict[str, Any]]:
        """The workflow's variables by name (as GET env shows them)."""
        listed = await self.ok("GET", f"/v1/workflows/{slug}/env")
        return {item["name"]: item for item in listed["items"]}


async def upload(
    client: httpx.AsyncClient,
    url: str,
    content: bytes | None = None,
    files: Mapping[str, bytes] | None = None,
    **fields: Any,
) -> httpx.Response:
    """POST a package to an import route: the zip as `package`, or `files` as the fields named after them, with
    `fields` as text (a dict as JSON, a bool as true/false)."""
    parts: dict[str, tuple[str, bytes, str]] = {}
    if content is not None:
        parts["package"] = ("package.zip", content, "application/zip")
    for name, raw in (files or {}).items():
        parts[name.removesuffix(".json")] = (name, raw, "application/json")
    text = {k: json.dumps(v) if isinstance(v, dict | bool) else str(v) for k, v in fields.items() if v is not None}
    return await client.post(url, files=parts, data=text)


def multipart(content: bytes, **fields: str) -> tuple[bytes, dict[str, str]]:
    """An import request's body for the zip `content` and the text `fields`, and its Content-Type header: for a
    caller that sends bytes."""
    request = httpx.Request(
        "POST", "http://upload/", files={"package": ("package.zip", content, "application/zip")}, data=fields
    )
    return request.read(), {"content-type": request.headers["content-type"]}


@pytest.fixture(scope="module")
async def imports(session_engine: AsyncEngine, redis_client: aioredis.Redis) -> AsyncIterator[Imports]:
    """The module's app (a secret key set) on a database emptied once for the module."""
    async with session_engine.begin() as conn:
        await empty_database(conn)
    await redis_client.flushdb()
    async with connections(make_settings(secret_key=SecretStr(KEY))) as connect:
        yield Imports(connect, connect(TOKEN), session_engine)


async def fingerprint(engine: AsyncEngine) -> dict[str, Any]:
    """Every row of the tables an import could change (workflows, versions, variables, backups, members, the
    audit log), to show that a call changed none of them."""
    tables = ("workflow", "workflow_version", "workflow_env", "workflow_backup", "workflow_member", "audit_entry")
    found: dict[str, Any] = {}
    async with engine.connect() as conn:
        for table in tables:
            rows = (await conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))).all()
            found[table] = [tuple(row) for row in rows]
    return found


__all__ = ["FILES", "Imports", "files_of", "fingerprint", "imports", "multipart", "package", "upload", "zip_of"]
