"""The committed contract (openapi/openapi.json) must be exactly what the app serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from workflow_service.app import create_app
from workflow_service.config import Settings

CONTRACT = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    generated = create_app(Settings(admin_token=SecretStr("x"))).openapi()
    committed = json.loads(CONTRACT.read_text())
    assert json.loads(json.dumps(generated)) == committed, "run `make openapi` and commit openapi/openapi.json"


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]


def test_every_v1_route_has_a_summary_and_declares_its_problems() -> None:
    schema = create_app(Settings(admin_token=SecretStr("x"))).openapi()
    for path, method, op in _operations(schema):
        assert op.get("summary") or op.get("description"), f"{method} {path} has no docstring"
        if path.startswith("/v1/"):
            assert "401" in op["responses"], f"{method} {path} does not declare 401"
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")) and path.startswith("/v1/"):
                assert list(response["content"]) == ["application/problem+json"], f"{method} {path} {status}"
                assert response["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
