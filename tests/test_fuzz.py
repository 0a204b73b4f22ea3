"""Schemathesis over every operation of the committed contract (openapi/openapi.json), against the app over
ASGI on the test database: no request, valid or not, gets a 5xx, and every answer matches the contract (its
status code, content type, headers and body schema). Once with the admin token, once with an API key.

A few examples per operation, derandomized, so the module is quick and never flaky; docs/operations.md
("Fuzzing") shows how to run schemathesis at length against a running service. Path parameters hit existing
objects (a deployed workflow, its jobs, its API key, its variables) as well as missing ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python.asgi import shutdown_lifespans
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TOKEN, empty_database, make_settings, serving
from workflow_service.app import create_app
from workflow_service.config import Settings

CONTRACT = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"
EXAMPLES = {"admin": 6, "api_key": 3}
"""Examples per operation and caller (most operations refuse an API key before reading the request)."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
GREETER: dict[str, Any] = {
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "variables": {"greeting": "Hello"},
    "steps": [{"id": "compose", "type": "transform", "output": {"text": "{{ vars.greeting }}, {{ inputs.name }}!"}}],
    "output": {"greeting": "{{ steps.compose.output.text }}"},
}
MISSING_ID = "01900000-0000-7000-8000-000000000000"


def fuzz_settings() -> Settings:
    # No Redis: jobs run in the app's own worker, so that sync submissions end at once.
    return make_settings(redis_url=None, secret_key=SecretStr(Fernet.generate_key().decode()))


async def _seed(app_settings: Settings) -> dict[str, list[str]]:
    """A deployed workflow with variables, API keys, jobs from the admin and from a key, a schedule; returns the values
    each path parameter is drawn from (existing objects and missing ones) and the key the API-key calls use."""
    async with serving(app_settings) as admin:
        created = await admin.post("/v1/workflows", json={"name": "greeter", "definition": GREETER})
        assert created.status_code == 201, created.text
        assert (await admin.post("/v1/workflows/greeter/deploy")).status_code == 201
        for name, body in (("GREETING", {"value": "Hi"}), ("TOKEN", {"value": "s3cr3t", "secure": True})):
            assert (await admin.put(f"/v1/workflows/greeter/env/{name}", json=body)).status_code == 201
        # One key calls the API; the other is what the admin's calls name (and may delete).
        key, named_key = [await admin.post("/v1/workflows/greeter/api-keys", json={"name": n}) for n in "ab"]
        assert key.status_code == named_key.status_code == 201, (key.text, named_key.text)
        jobs = []
        for token in (TOKEN, key.json()["key"]):
            submitted = await admin.post(
                "/v1/workflows/greeter/versions/current/sync",
                json={"inputs": {"name": "Ada"}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert submitted.status_code == 200, submitted.text
            jobs.append(submitted.json()["id"])
        schedule = await admin.post(
            "/v1/workflows/greeter/schedules", json={"interval": 3600, "inputs": {"name": "Ada"}}
        )
        assert schedule.status_code == 201, schedule.text
    return {
        "workflow": ["greeter", "missing"],
        "job_id": [*jobs, MISSING_ID],
        "step": ["compose", "missing"],
        "key_id": [named_key.json()["id"], MISSING_ID],
        "schedule_id": [schedule.json()["id"], MISSING_ID],
        "name": ["GREETING", "TOKEN", "MISSING"],
        "version": ["1", "current", "2"],
        "api_key": [key.json()["key"]],
    }


@pytest.fixture(scope="module")
async def seeded(
    database: str, session_engine: AsyncEngine, redis_client: aioredis.Redis
) -> tuple[Settings, dict[str, list[str]]]:
    async with session_engine.begin() as conn:
        await empty_database(conn)
    await redis_client.flushdb()
    app_settings = fuzz_settings()
    return app_settings, await _seed(app_settings)


@pytest.fixture(scope="module")
def fuzz_schema(seeded: tuple[Settings, dict[str, list[str]]]) -> Iterator[BaseSchema]:
    """The committed contract, served by a fresh app (its lifespan runs in schemathesis' own event loop)."""
    schema = schemathesis.openapi.from_dict(json.loads(CONTRACT.read_text()))
    schema.app = create_app(seeded[0])
    yield schema
    shutdown_lifespans()


OPERATIONS = [
    (method.upper(), path)
    for path, item in json.loads(CONTRACT.read_text())["paths"].items()
    for method in item
    if method in ("get", "put", "post", "patch", "delete")
]
FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("caller", ["admin", "api_key"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_answers_without_server_error_and_as_documented(
    fuzz_schema: BaseSchema, seeded: tuple[Settings, dict[str, list[str]]], method: str, path: str, caller: str
) -> None:
    values = seeded[1]
    token = TOKEN if caller == "admin" else values["api_key"][0]
    operation = fuzz_schema[path][method]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(FUZZ, max_examples=EXAMPLES[caller])
    @given(case=cases, data=st.data())
    def call(case: Case[Any], data: st.DataObject) -> None:
        # Each path parameter names an existing object (or a missing one) half of the time.
        for name in list(case.path_parameters or {}):
            if name in values and data.draw(st.booleans(), label=f"{name} from the seeded objects"):
                case.path_parameters[name] = data.draw(st.sampled_from(values[name]), label=name)
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    call()
