"""Finding jobs and a job's own notice in the embedded mode: `workflow-service dev` (SQLite, in-process worker)
as a real process, over real HTTP, with a real webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.deliveries.conftest import WebhookReceiver
from tests.test_embedded import Service, admin_client, embedded, finished

STEPS = {
    "steps": [{"id": "one", "type": "transform", "output": "1"}, {"id": "two", "type": "transform", "output": "2"}]
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with embedded(tmp_path_factory.mktemp("embedded-finding")) as svc:
        yield svc


@pytest.fixture
async def api(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(service, request_timeout_s=20) as client:
        yield client


async def every_page(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await api.get("/v1/jobs", params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        items += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return items


async def test_jobs_are_found_sorted_and_notified_on_sqlite(api: httpx.AsyncClient, receiver: WebhookReceiver) -> None:
    created = await api.post("/v1/workflows", json={"name": "Quarterly Finder", "slug": "finder", "definition": STEPS})
    assert created.status_code == 201, created.text
    assert (await api.post("/v1/workflows/finder/deploy")).status_code == 201
    rotated = await api.post("/v1/workflows/finder/settings/rotate-signing-secret")
    receiver.secrets = [rotated.json()["signing_secret"]]
    ids = []
    for name in ("first 50% off", "second 50x off", None):
        body: dict[str, Any] = {"name": name, "notify_url": receiver.url if name is None else None}
        response = await api.post("/v1/workflows/finder/versions/current/async", json=body)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    for job_id in ids:
        assert (await finished(api, job_id))["status"] == "completed"

    [notice] = await receiver.wait_for(1)
    assert notice.verified_by == receiver.secrets
    assert notice.json()["data"]["id"] == ids[2]
    assert "authorization" not in notice.headers

    assert [j["id"] for j in await every_page(api, q="50%")] == [ids[0]]  # `%` is itself
    assert [j["id"] for j in await every_page(api, q="quarterly", limit=1)] == ids[::-1]  # the workflow's name
    assert [j["id"] for j in await every_page(api, q=ids[1][:18])] == [ids[1]]  # an id prefix
    for sort in ("duration", "-duration", "finished", "-updated", "created"):
        listed = await every_page(api, sort=sort, limit=1, workflow="finder")
        assert sorted(j["id"] for j in listed) == sorted(ids), sort
    by_end = await every_page(api, sort="finished", limit=2)
    assert [j["finished_at"] for j in by_end] == sorted(j["finished_at"] for j in by_end)
    row = by_end[0]
    assert row["step_count"] == 2
    assert row["last_completed_at"] == max(j["finished_at"] for j in by_end)
    assert row["updated_at"] == row["finished_at"]
    assert await every_page(api, origin="schedule") == []
    refused = await api.get("/v1/jobs", params={"created_by": "nobody", "sort": "-duration"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["path"] == "query:created_by"
