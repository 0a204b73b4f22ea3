"""The client agrees with the contract (openapi/openapi.json): the committed generated modules are what the
generator makes of it, and, checked on their own (so a hand edit is caught too), every operation is a method
of Client and AsyncClient with the operation's parameters, types and request, and every schema a model with
its keys, required keys and types."""

from __future__ import annotations

import inspect
import json
import keyword
import operator
import subprocess
import sys
import typing
from collections.abc import Iterator
from functools import reduce
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.servers import EchoServer
from wfs_client import AsyncClient, Client, models
from wfs_client._operations import OPERATIONS

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "openapi" / "openapi.json"
GENERATOR = ROOT / "clients" / "python" / "scripts" / "generate.py"
PACKAGE = ROOT / "clients" / "python" / "src" / "wfs_client"
SPEC: dict[str, Any] = json.loads(CONTRACT.read_text())
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
OPS = [
    (method.upper(), path, op)
    for path, item in SPEC["paths"].items()
    for method, op in item.items()
    if method in ("get", "put", "post", "delete", "patch", "head", "options")
]


def snake(name: str) -> str:
    """The naming rule of the interface: camelCase and header names to snake_case, a keyword gets `_`."""
    out = "".join(
        f"_{c.lower()}" if c.isupper() and i and name[i - 1].islower() else c.lower() for i, c in enumerate(name)
    )
    out = out.replace("-", "_")
    return f"{out}_" if keyword.iskeyword(out) else out


def expected(schema: dict[str, Any]) -> Any:
    """The Python type a JSON Schema should be, as the run-time object typing.get_type_hints gives."""
    if "$ref" in schema:
        return getattr(models, schema["$ref"].rsplit("/", 1)[-1])
    if "const" in schema or "enum" in schema:
        return Literal[tuple(schema.get("enum", [schema.get("const")]))]
    if "anyOf" in schema or "oneOf" in schema:
        members = [expected(s) for s in schema.get("anyOf") or schema["oneOf"]]
        return Any if Any in members else reduce(operator.or_, dict.fromkeys(members))
    kind = schema.get("type")
    if kind == "string" and (schema.get("format") == "binary" or "contentMediaType" in schema):
        return bytes  # a file of a multipart form
    simple = {"string": str, "integer": int, "number": float, "boolean": bool, "null": type(None)}
    if kind in simple:
        return simple[kind]
    if kind == "array":
        return list[expected(schema.get("items", {}))]  # type: ignore[misc]
    if kind == "object":
        extra = schema.get("additionalProperties")
        value = expected(extra) if isinstance(extra, dict) and extra and "properties" not in schema else Any
        return dict[str, value]  # type: ignore[valid-type]
    return Any


def test_the_generator_reproduces_the_committed_modules(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, GENERATOR, CONTRACT, "--out", tmp_path], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for name in ("models.py", "_operations.py"):
        assert (tmp_path / name).read_bytes() == (PACKAGE / name).read_bytes(), (
            f"{name} is not what `python clients/python/scripts/generate.py` makes of openapi/openapi.json: run it"
        )


def test_a_changed_contract_changes_the_generated_modules(tmp_path: Path) -> None:
    """The reproduction check bites: an operation added to the contract is a method the committed file lacks."""
    changed = json.loads(CONTRACT.read_text())
    changed["paths"]["/v1/ping"] = {"get": {"operationId": "getPing", "description": "Ping.", "responses": {}}}
    (tmp_path / "openapi.json").write_text(json.dumps(changed))
    run = subprocess.run([sys.executable, GENERATOR, tmp_path / "openapi.json", "--out", tmp_path], capture_output=True)
    assert run.returncode == 0, run.stderr
    generated = (tmp_path / "_operations.py").read_text()
    assert "def get_ping(self) -> Any:" in generated
    assert generated != (PACKAGE / "_operations.py").read_text()


def test_the_operations_table_is_the_contract() -> None:
    assert {op["operationId"]: (method, path) for method, path, op in OPS} == OPERATIONS
    assert len(OPERATIONS) == len(OPS) == 89


@pytest.mark.parametrize("client_class", [Client, AsyncClient])
def test_every_operation_is_a_method_with_the_operations_parameters(client_class: type[Any]) -> None:
    for _, path, op in OPS:
        function = getattr(client_class, snake(op["operationId"]), None)
        assert function is not None, f"{client_class.__name__} has no method for {op['operationId']}"
        assert inspect.iscoroutinefunction(function) == (client_class is AsyncClient)
        parameters = list(inspect.signature(function).parameters.values())[1:]
        hints = typing.get_type_hints(function)
        in_path = [name.strip("{}") for name in path.split("/") if name.startswith("{")]
        positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
        assert positional == in_path + (["body"] if "requestBody" in op else []), op["operationId"]
        named = {p["name"]: p for p in op.get("parameters", []) if p["in"] in ("query", "header")}
        keywords = [p for p in parameters if p.kind is p.KEYWORD_ONLY]
        assert [p.name for p in keywords] == [snake(name) for name in named], op["operationId"]
        assert all(p.default is None for p in keywords)
        for parameter in op.get("parameters", []):
            hint, schema = hints[snake(parameter["name"])], expected(parameter["schema"])
            optional = schema if schema is Any or parameter["in"] == "path" else schema | None
            assert hint == optional, (op["operationId"], parameter)
        if "requestBody" in op:
            assert hints["body"] == expected(body_schema(op)), op["operationId"]
        assert hints["return"] == returns(op), op["operationId"]


def body_schema(op: dict[str, Any]) -> dict[str, Any]:
    """The schema of the operation's request body: JSON, or a multipart form (an import's package)."""
    content = op["requestBody"]["content"]
    schema: dict[str, Any] = (content.get("application/json") or content["multipart/form-data"])["schema"]
    return schema


def is_form(op: dict[str, Any]) -> bool:
    return "multipart/form-data" in op.get("requestBody", {}).get("content", {})


def returns(op: dict[str, Any]) -> Any:
    answers = [a for status, a in sorted(op["responses"].items()) if status.startswith("2")]
    found = [_answer(a.get("content", {})) for a in answers]
    return reduce(operator.or_, dict.fromkeys(found)) if found else Any


def _answer(content: dict[str, Any]) -> Any:
    """What the method returns for an answer's content: its JSON's type, bytes for a file, None for no body."""
    if "application/json" in content:
        return expected(content["application/json"]["schema"])
    if any(c["schema"].get("format") == "binary" for c in content.values()):
        return bytes
    assert not content, content
    return type(None)


def test_every_schema_is_a_model_with_its_keys_required_keys_and_types() -> None:
    for name, schema in SCHEMAS.items():
        model = getattr(models, name, None)
        assert model is not None, f"no model for the schema {name}"
        if "properties" not in schema:
            assert model == expected({k: v for k, v in schema.items() if k != "title"}), name
            continue
        assert typing.is_typeddict(model), name
        assert list(model.__annotations__) == list(schema["properties"]), name
        assert model.__required_keys__ == frozenset(schema.get("required", [])), name
        hints = typing.get_type_hints(model)
        for key, property_schema in schema["properties"].items():
            assert hints[key] == expected(property_schema), f"{name}.{key}"
    typing_names = {"Any", "Literal", "NotRequired", "TypeAlias", "TypedDict"}
    assert {n for n in vars(models) if n[0].isupper()} - set(SCHEMAS) <= typing_names


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    server.start()
    yield server
    server.stop()


def path_value(name: str) -> str:
    """What a path parameter is given: a space and a slash, which the client must escape."""
    return f"p {name}/x"


def arguments(path: str, op: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """A value for every parameter of the operation: positional (path, body) and keywords (query, headers)."""
    positional: list[Any] = [path_value(name.strip("{}")) for name in path.split("/") if name.startswith("{")]
    if is_form(op):
        positional.append({"probe": op["operationId"], "package": b"PK\x05\x06", "dry_run": True})
    elif "requestBody" in op:
        positional.append({"probe": op["operationId"]})
    keywords = {
        snake(p["name"]): ["a", "b"] if "array" in json.dumps(p["schema"]) else f"v-{p['name']}"
        for p in op.get("parameters", [])
        if p["in"] in ("query", "header")
    }
    return positional, keywords


def assert_sent(echo: EchoServer, method: str, path: str, op: dict[str, Any]) -> None:
    """The last request the echo server received is the operation's, with every parameter where it belongs."""
    sent = echo.requests[-1]
    url = urlsplit(sent.path)
    for name in [name.strip("{}") for name in path.split("/") if name.startswith("{")]:
        path = path.replace("{" + name + "}", quote(path_value(name), safe=""))
    assert (sent.method, url.path) == (method, path), op["operationId"]
    query = parse_qs(url.query)
    _, keywords = arguments(path, op)
    for parameter in (p for p in op.get("parameters", []) if p["in"] == "query"):
        given = keywords[snake(parameter["name"])]
        assert query.pop(parameter["name"]) == (given if isinstance(given, list) else [given]), op["operationId"]
    assert query == {}, op["operationId"]
    headers = {k.lower(): v for k, v in sent.headers.items()}
    for parameter in (p for p in op.get("parameters", []) if p["in"] == "header"):
        assert headers[parameter["name"].lower()] == keywords[snake(parameter["name"])], op["operationId"]
    if is_form(op):
        assert headers["content-type"].startswith("multipart/form-data; boundary="), op["operationId"]
        for part in (b'name="probe"\r\n\r\n' + op["operationId"].encode(), b'name="dry_run"\r\n\r\ntrue'):
            assert part in sent.body, op["operationId"]
        assert b'name="package"; filename="package"' in sent.body
        return
    assert (sent.json() if sent.body else None) == ({"probe": op["operationId"]} if "requestBody" in op else None)


def test_every_method_sends_its_operations_request(echo: EchoServer) -> None:
    with Client(echo.url) as client:
        for method, path, op in OPS:
            positional, keywords = arguments(path, op)
            getattr(client, snake(op["operationId"]))(*positional, **keywords)
            assert_sent(echo, method, path, op)


async def test_every_async_method_sends_its_operations_request(echo: EchoServer) -> None:
    async with AsyncClient(echo.url) as client:
        for method, path, op in OPS:
            positional, keywords = arguments(path, op)
            await getattr(client, snake(op["operationId"]))(*positional, **keywords)
            assert_sent(echo, method, path, op)


def test_a_submission_without_a_key_gets_a_fresh_one_and_a_given_key_is_sent(echo: EchoServer) -> None:
    keyed = [
        op["operationId"] for _, _, op in OPS if any(p["name"] == "Idempotency-Key" for p in op.get("parameters", []))
    ]
    assert {"submitAsync", "submitSync", "submitPush", "receiveEvent"} == set(keyed)
    with Client(echo.url, "a-token") as client:
        client.submit_async("wf", "current", {"inputs": {}})
        client.submit_sync("wf", "current", {"inputs": {}})
        client.submit_push("wf", "3", {"inputs": {}}, idempotency_key="mine")
    first, second, given = (r.headers["Idempotency-Key"] for r in echo.requests[-3:])
    assert len({first, second}) == 2
    assert all(len(k) == 36 for k in (first, second))
    assert given == "mine"
    assert echo.requests[-1].headers["Authorization"] == "Bearer a-token"


def test_the_library_imports_nothing_of_the_server() -> None:
    """A CI runner installs only httpx and typer with the client: the library must not need the server's
    packages."""
    code = "import sys, wfs_client; print('\\n'.join(sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in run.stdout.split()}
    assert "httpx" in loaded
    assert not loaded & {"workflow_service", "pydantic", "sqlalchemy", "yaml", "fastapi", "redis", "arq", "orjson"}
