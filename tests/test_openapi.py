"""The committed contract (openapi/openapi.json) must be exactly what the app serves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from workflow_service.app import create_app
from workflow_service.config import Settings
from workflow_service.engine.guardrails import SCANNER_KINDS
from workflow_service.engine.steps import STEP_TYPES
from workflow_service.models.tables import AGENT_STATUSES, DELIVERY_STATUSES, JOB_STATUSES, STEP_STATUSES

CONTRACT = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    generated = create_app(Settings(admin_token=SecretStr("x"))).openapi()
    committed = json.loads(CONTRACT.read_text())
    assert json.loads(json.dumps(generated)) == committed, (
        "run `make openapi` and commit openapi/openapi.json with the client modules it regenerates"
    )


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


OPERATION_ID = re.compile(r"^[a-z][a-zA-Z0-9]{0,39}$")


def test_every_operation_has_a_short_unique_camel_case_operation_id_and_one_tag() -> None:
    schema = create_app(Settings(admin_token=SecretStr("x"))).openapi()
    ids = [op.get("operationId", "") for _, _, op in _operations(schema)]
    assert [i for i in ids if not OPERATION_ID.match(i)] == [], "camelCase, at most 40 characters"
    assert len(set(ids)) == len(ids), "operationIds are unique"
    declared = {tag["name"] for tag in schema["tags"]}
    for path, method, op in _operations(schema):
        assert len(op["tags"]) == 1, f"{method} {path}: one domain (client generators make a module of each tag)"
        assert op["tags"][0] in declared, f"{method} {path}: its tag is described in the app's `openapi_tags`"


def test_operation_ids_do_not_change_silently() -> None:
    """Generated clients name their methods after the operationIds: the committed contract is the reference."""
    committed = {
        (path, method): op["operationId"] for path, method, op in _operations(json.loads(CONTRACT.read_text()))
    }
    served = {
        (path, method): op["operationId"]
        for path, method, op in _operations(create_app(Settings(admin_token=SecretStr("x"))).openapi())
    }
    changed = {
        operation: (committed[operation], served[operation])
        for operation in committed.keys() & served.keys()
        if committed[operation] != served[operation]
    }
    assert changed == {}, "an operationId changed (committed, served): a generated client's method would be renamed"


def _schemas() -> dict[str, Any]:
    components: dict[str, Any] = json.loads(CONTRACT.read_text())["components"]["schemas"]
    return components


def test_a_definition_body_is_described_with_one_schema_per_step_type() -> None:
    schemas = _schemas()
    for body in ("WorkflowCreate", "DraftUpdate"):
        assert schemas[body]["properties"]["definition"]["$ref"] == "#/components/schemas/DefinitionModel"
    steps = schemas["DefinitionModel"]["properties"]["steps"]["items"]
    assert steps["discriminator"]["propertyName"] == "type"
    mapping = steps["discriminator"]["mapping"]
    assert set(mapping) == set(STEP_TYPES)
    assert sorted(one["$ref"] for one in steps["oneOf"]) == sorted(mapping.values())
    for name, ref in mapping.items():
        step = schemas[ref.rsplit("/", 1)[1]]
        assert step["properties"]["type"]["const"] == name
        assert step["additionalProperties"] is False
    scanners = schemas["GuardrailsSpec"]["properties"]["inputs"]["items"]
    assert set(scanners["discriminator"]["mapping"]) == set(SCANNER_KINDS)


def test_closed_sets_are_enums_of_every_value_the_database_may_hold() -> None:
    schemas = _schemas()
    for job in ("JobListItem", "JobRead"):
        assert schemas[job]["properties"]["status"] == {"$ref": "#/components/schemas/JobStatus"}
    assert schemas["JobStatus"]["enum"] == list(JOB_STATUSES)
    assert schemas["StepRead"]["properties"]["status"]["enum"] == list(STEP_STATUSES)
    assert schemas["StepRead"]["properties"]["type"]["enum"] == sorted(STEP_TYPES)
    assert schemas["AgentStatus"]["enum"] == list(AGENT_STATUSES)
    assert schemas["DeliveryRead"]["properties"]["status"]["enum"] == list(DELIVERY_STATUSES)
