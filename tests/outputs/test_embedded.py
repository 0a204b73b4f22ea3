"""Job outputs as files in the embedded mode: a real `workflow-service dev` process on SQLite, with its
in-process worker, answers each format as the PostgreSQL service does (keys sorted the same way)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.outputs.conftest import pdf_text
from tests.test_embedded import Service, admin_client, embedded, finished
from tests.workflows.conftest import assert_problem

DEFINITION = {
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "steps": [{"id": "card", "type": "transform", "output": {"zone": "EU", "name": "{{ inputs.name }}", "n": 2}}],
    "output": "{{ steps.card.output }}",
}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with embedded(tmp_path_factory.mktemp("embedded-outputs")) as svc:
        yield svc


async def test_each_format_in_the_embedded_mode(service: Service) -> None:
    async with admin_client(service, request_timeout_s=20) as api:
        made = await api.post("/v1/workflows", json={"name": "Cards", "slug": "cards", "definition": DEFINITION})
        assert made.status_code == 201, made.text
        assert (await api.post("/v1/workflows/cards/deploy")).status_code == 201
        body = {"inputs": {"name": "Zoë"}, "name": "Card for Zoë"}
        submitted = (await api.post("/v1/workflows/cards/versions/current/async", json=body)).json()
        job = await finished(api, submitted["id"])
        assert job["status"] == "completed", job
        url = f"/v1/jobs/{job['id']}/output"

        assert (await api.get(url)).text == '{\n  "n": 2,\n  "name": "Zoë",\n  "zone": "EU"\n}\n'
        text = await api.get(url, params={"format": "txt"})
        assert text.text == "n: 2\nname: Zoë\nzone: EU\n"
        assert text.headers["content-disposition"] == (
            "attachment; filename=\"Card for Zoe.txt\"; filename*=UTF-8''Card%20for%20Zo%C3%AB.txt"
        )
        md = (await api.get(url, params={"format": "md", "steps": "true"})).text
        assert md.startswith("# Card for Zoë\n\n- **Workflow:** Cards (cards)\n")
        assert "### 1. card\n" in md
        pdf = await api.get(url, params={"format": "pdf"})
        assert pdf.status_code == 200, service.output()
        assert "name: Zoë" in pdf_text(pdf.content)
        step = await api.get(f"/v1/jobs/{job['id']}/steps/card/output", params={"format": "txt"})
        assert step.text == "n: 2\nname: Zoë\nzone: EU\n"
        assert_problem(await api.get(f"/v1/jobs/{job['id']}/steps/nope/output"), 404, "not_found")
