"""The contract names every role the database may hold, and no other."""

from __future__ import annotations

import json
from pathlib import Path

from workflow_service.models.people import WORKFLOW_ROLES, WORKSPACE_ROLES

CONTRACT = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_roles_are_enums_of_the_roles_the_database_holds() -> None:
    schemas = json.loads(CONTRACT.read_text())["components"]["schemas"]
    assert set(schemas["WorkspaceRole"]["enum"]) == set(WORKSPACE_ROLES)
    assert set(schemas["WorkflowRole"]["enum"]) == set(WORKFLOW_ROLES)
    for model in ("UserRead", "UserCreate", "WorkspaceListed", "MeRead"):
        role = schemas[model]["properties"].get("role") or schemas[model]["properties"]["workspace_role"]
        assert "#/components/schemas/WorkspaceRole" in json.dumps(role), model
    for model in ("MemberRead", "MemberSet"):
        assert schemas[model]["properties"]["role"] == {"$ref": "#/components/schemas/WorkflowRole"}
