"""Export in the embedded mode: a real `workflow-service dev` process on SQLite, over real HTTP (and through the
typed client)."""

from __future__ import annotations

from pathlib import Path

from tests.packages.conftest import DEFINITION, ENV, LOOKUP, SECRET, files_of, unzip
from tests.test_embedded import TOKEN, admin_client, embedded
from wfs_client import AsyncClient
from workflow_service.packages import passphrase
from workflow_service.packages.spec import Encrypted, KeyDerivation

PASSPHRASE = "correct horse battery staple"


async def test_export_on_sqlite_is_the_same_package_with_its_audit_entries(tmp_path: Path) -> None:
    with embedded(tmp_path) as service:
        async with admin_client(service, request_timeout_s=10) as api:
            for body in (
                {"name": "Lookup", "definition": LOOKUP},
                {"name": "Banking Assistant", "definition": DEFINITION},
            ):
                assert (await api.post("/v1/workflows", json=body)).status_code == 201
            for slug in ("lookup", "banking-assistant"):
                assert (await api.post(f"/v1/workflows/{slug}/deploy")).status_code == 201
            for name, var in ENV.items():
                assert (await api.put(f"/v1/workflows/banking-assistant/env/{name}", json=var)).status_code == 201

            url = "/v1/workflows/banking-assistant/export"
            plain = await api.get(url, params={"version": "1"})
            assert plain.status_code == 200, plain.text
            assert plain.headers["content-disposition"] == (
                "attachment; filename=\"Banking Assistant.zip\"; filename*=UTF-8''Banking%20Assistant.zip"
            )
            assert (await api.get(url)).content == plain.content
            assert all(SECRET.encode() not in data for data in (plain.content, *unzip(plain.content).values()))
            files = files_of(plain.content)
            assert {**files["flow_definition.json"]["definition"], **files["app_definition.json"]["definition"]} == (
                DEFINITION
            )
            names = [v["name"] for v in files["env_variables.json"]["variables"]]
            assert names == ["API_TOKEN", "EMPTY_NOTES", "REGION"]

            encrypted = await api.get(url, headers={"X-Export-Passphrase": PASSPHRASE})
            env = files_of(encrypted.content)["env_variables.json"]
            key = passphrase.derive(PASSPHRASE, KeyDerivation.model_validate(env["encryption"]))
            [token] = [v for v in env["variables"] if v["name"] == "API_TOKEN"]
            assert passphrase.decrypt(key, "API_TOKEN", Encrypted.model_validate(token["encrypted"])) == SECRET

            assert (await api.get(url, params={"version": "9"})).status_code == 404
            log = (await api.get("/v1/audit-log", params={"action": "workflow.exported"})).json()["items"]
            assert [e["description"].rsplit(", ", 1)[-1] for e in log] == [
                "its 1 secure value(s) encrypted with a passphrase",
                "its 1 secure value(s) left out",
                "its 1 secure value(s) left out",
            ]

        # The typed client gives the package's bytes.
        async with AsyncClient(service.url, TOKEN) as client:
            assert await client.export_workflow("banking-assistant", version="1") == plain.content
