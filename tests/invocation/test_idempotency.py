"""Idempotency-Key on the async, sync and push endpoints: same key + same workflow + same body is the
same job (also under concurrent requests), a different body is a 422, and the key is scoped to the
caller and the workflow."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import BASE_URL, WorkerFactory, wait_for_job
from tests.invocation.conftest import ADA, GREETER, count_rows, deploy, invoke, list_jobs, patch_settings
from tests.servers import EchoServer
from tests.workflows.conftest import assert_problem

MODES = ["async", "sync", "push"]
NO_WAIT = {"Prefer": "wait=0"}  # sync answers at once (202) when no worker runs


CALLBACK = "http://127.0.0.1:9/callback"  # never called: no worker runs these jobs


async def greeter(client: httpx.AsyncClient, slug: str = "greeter") -> None:
    """Deploy the greeter with push enabled, so that all three endpoints accept jobs."""
    await deploy(client, slug, GREETER)
    await patch_settings(client, slug, {"push": {"enabled": True, "callback_url": CALLBACK, "access_token": "tok"}})


@pytest.mark.parametrize("mode", MODES)
async def test_the_same_key_and_body_return_the_same_job(client: httpx.AsyncClient, mode: str) -> None:
    await greeter(client)

    first = await invoke(client, "greeter", mode, key="k-1", headers=NO_WAIT)
    again = await invoke(client, "greeter", mode, key="k-1", headers=NO_WAIT)

    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Location"] == first.headers["Location"] == f"{BASE_URL}/v1/jobs/{first.json()['id']}"
    assert [j["id"] for j in await list_jobs(client)] == [first.json()["id"]]


async def test_a_sync_replay_of_an_ended_job_answers_200_at_once(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy(client, "greeter", GREETER)
    await start_worker()

    first = await invoke(client, "greeter", "sync", key="k-1")
    again = await invoke(client, "greeter", "sync", key="k-1")

    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert again.json() == first.json()
    assert again.json()["status"] == "completed"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(await list_jobs(client)) == 1


async def test_a_sync_replay_of_a_running_job_waits_for_it(
    client: httpx.AsyncClient, start_worker: WorkerFactory
) -> None:
    await deploy(client, "greeter", GREETER)

    first = await invoke(client, "greeter", "sync", key="k-1", headers=NO_WAIT)
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "pending"
    await start_worker()
    again = await invoke(client, "greeter", "sync", key="k-1", headers={"Prefer": "wait=10"})

    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["status"] == "completed"
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_an_async_key_replays_after_the_job_ended(client: httpx.AsyncClient, start_worker: WorkerFactory) -> None:
    await deploy(client, "greeter", GREETER)
    await start_worker()
    first = await invoke(client, "greeter", "async", key="k-1")
    await wait_for_job(client, first.json()["id"])

    again = await invoke(client, "greeter", "async", key="k-1")

    assert again.status_code == 202, again.text
    assert again.json()["status"] == "completed"
    assert again.json()["output"] == {"greeting": "Hello, Ada!"}
    assert again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("mode", MODES)
async def test_50_concurrent_identical_requests_make_exactly_one_job(
    client: httpx.AsyncClient, engine: AsyncEngine, mode: str
) -> None:
    await greeter(client)

    responses = await asyncio.gather(
        *(invoke(client, "greeter", mode, key="burst", headers=NO_WAIT) for _ in range(50))
    )

    assert {r.status_code for r in responses} == {202}, [r.text for r in responses if r.status_code != 202]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    replayed = [r.headers.get("Idempotent-Replayed") for r in responses]
    assert replayed.count("true") == 49
    assert replayed.count(None) == 1
    assert [j["id"] for j in await list_jobs(client)] == list(ids)
    assert await count_rows(engine, "job") == 1
    assert await count_rows(engine, "job_event") == 1  # one "submitted" event


OTHER_BODIES: list[dict[str, Any]] = [
    {"inputs": {"name": "Grace"}},
    {"inputs": {"name": "Ada"}, "metadata": {"order": 1}},
    {"inputs": {"name": "Ada"}, "name": "a named job"},
    {"inputs": {"name": "Ada"}, "pool": "other"},
    {"inputs": {"name": "Ada"}, "variables": {}, "metadata": {}, "name": "x"},
]


@pytest.mark.parametrize("mode", MODES)
async def test_the_same_key_with_a_different_body_is_a_422(
    client: httpx.AsyncClient, engine: AsyncEngine, mode: str
) -> None:
    await greeter(client)
    first = await invoke(client, "greeter", mode, key="k-1", headers=NO_WAIT)
    assert first.status_code == 202, first.text

    for body in OTHER_BODIES:
        reused = await invoke(client, "greeter", mode, body, key="k-1", headers=NO_WAIT)
        problem = assert_problem(reused, 422, "idempotency_key_reused")
        assert problem["errors"][0]["path"] == "header:Idempotency-Key"

    assert await count_rows(engine, "job") == 1
    assert (await client.get(f"/v1/jobs/{first.json()['id']}")).json()["inputs"] == {"name": "Ada"}
    assert (await invoke(client, "greeter", mode, key="k-1", headers=NO_WAIT)).json()["id"] == first.json()["id"]


async def test_the_same_body_in_another_key_order_is_the_same_request(client: httpx.AsyncClient) -> None:
    await deploy(client, "greeter", GREETER)

    first = await client.post(
        "/v1/workflows/greeter/versions/current/async",
        content=b'{"inputs": {"name": "Ada", "count": 2}, "metadata": {"a": 1, "b": 2}}',
        headers={"Idempotency-Key": "k-1", "Content-Type": "application/json"},
    )
    again = await client.post(
        "/v1/workflows/greeter/versions/current/async",
        content=b'{"metadata": {"b": 2, "a": 1}, "inputs": {"count": 2, "name": "Ada"}}',
        headers={"Idempotency-Key": "k-1", "Content-Type": "application/json"},
    )

    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_the_same_key_on_another_workflow_is_independent(client: httpx.AsyncClient) -> None:
    await greeter(client, "first")
    await greeter(client, "second")

    one = await invoke(client, "first", "async", key="shared")
    two = await invoke(client, "second", "async", key="shared")
    other_body = await invoke(client, "second", "push", {"inputs": {"name": "Grace"}}, key="shared-2")
    other_body_first = await invoke(client, "first", "push", ADA, key="shared-2")

    for response in (one, two, other_body, other_body_first):
        assert response.status_code == 202, response.text
        assert "Idempotent-Replayed" not in response.headers
    assert len({r.json()["id"] for r in (one, two, other_body, other_body_first)}) == 4
    assert len(await list_jobs(client)) == 4


async def test_the_same_key_on_another_version_of_the_workflow_is_a_different_request(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """The key is scoped to the workflow; the version asked for is part of the request, so the same key
    on `/versions/1` after `/versions/current` is a reuse with a different request (not a second job)."""
    await deploy(client, "greeter", GREETER)

    current = await invoke(client, "greeter", "async", key="k-1")
    numbered = await invoke(client, "greeter", "async", key="k-1", version="1")
    numbered_again = await invoke(client, "greeter", "async", key="k-2", version="1")
    numbered_replay = await invoke(client, "greeter", "async", key="k-2", version="1")

    assert current.status_code == 202, current.text
    assert_problem(numbered, 422, "idempotency_key_reused")
    assert numbered_again.status_code == numbered_replay.status_code == 202
    assert numbered_replay.json()["id"] == numbered_again.json()["id"]
    assert numbered_replay.headers["Idempotent-Replayed"] == "true"
    assert await count_rows(engine, "job") == 2


async def test_the_same_key_on_another_endpoint_is_a_different_request(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """A key first used on async must not answer a push (which expects a callback) or a sync."""
    await greeter(client)

    first = await invoke(client, "greeter", "async", key="k-1")
    as_push = await invoke(client, "greeter", "push", key="k-1")
    as_sync = await invoke(client, "greeter", "sync", key="k-1", headers=NO_WAIT)

    assert first.status_code == 202, first.text
    assert_problem(as_push, 422, "idempotency_key_reused")
    assert_problem(as_sync, 422, "idempotency_key_reused")
    assert await count_rows(engine, "job") == 1


async def test_an_empty_key_is_a_422(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    await greeter(client)
    response = await invoke(client, "greeter", "async", key="")
    assert response.status_code == 422, response.text
    assert "Idempotency-Key" in response.text
    assert await count_rows(engine, "job") == 0


async def test_the_same_key_from_another_caller_is_independent(client: httpx.AsyncClient) -> None:
    await deploy(client, "greeter", GREETER)
    issued = await client.post("/v1/workflows/greeter/api-keys", json={"name": "ci"})
    assert issued.status_code == 201, issued.text
    as_key = {"Authorization": f"Bearer {issued.json()['key']}"}

    by_admin = await invoke(client, "greeter", "async", key="k-1")
    by_key = await invoke(client, "greeter", "async", key="k-1", headers=as_key)
    by_key_again = await invoke(client, "greeter", "async", key="k-1", headers=as_key)
    by_key_other_body = await invoke(client, "greeter", "async", {"inputs": {"name": "Grace"}}, key="k-1",
                                     headers=as_key)  # fmt: skip

    assert by_admin.status_code == by_key.status_code == by_key_again.status_code == 202
    assert by_key.json()["id"] != by_admin.json()["id"]
    assert "Idempotent-Replayed" not in by_key.headers
    assert by_key_again.json()["id"] == by_key.json()["id"]
    assert by_key_again.headers["Idempotent-Replayed"] == "true"
    assert_problem(by_key_other_body, 422, "idempotency_key_reused")


@pytest.mark.parametrize("mode", MODES)
async def test_a_key_longer_than_255_characters_is_a_422(
    client: httpx.AsyncClient, engine: AsyncEngine, mode: str
) -> None:
    await greeter(client)

    too_long = await invoke(client, "greeter", mode, key="k" * 256, headers=NO_WAIT)
    longest = await invoke(client, "greeter", mode, key="k" * 255, headers=NO_WAIT)
    replay = await invoke(client, "greeter", mode, key="k" * 255, headers=NO_WAIT)

    assert too_long.status_code == 422, too_long.text
    assert too_long.headers["content-type"].startswith("application/problem+json")
    assert "Idempotency-Key" in too_long.text
    assert longest.status_code == 202, longest.text
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert await count_rows(engine, "job") == 1


async def test_push_without_push_settings_is_a_409_and_stores_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await deploy(client, "greeter", GREETER)

    response = await invoke(client, "greeter", "push", key="k-1")

    assert_problem(response, 409, "push_not_configured")
    assert await count_rows(engine, "job") == 0


async def test_concurrent_sync_replays_all_answer_with_the_ended_job(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    await deploy(client, "slowish", {"steps": [{"id": "slow", "type": "http", "url": f"{echo_server.url}/slow/0.5"}]})
    await start_worker()

    responses = await asyncio.gather(*(invoke(client, "slowish", "sync", {"inputs": {}}, key="k") for _ in range(20)))

    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    assert {r.json()["status"] for r in responses} == {"completed"}
    assert len({r.json()["id"] for r in responses}) == 1
    assert [r.headers.get("Idempotent-Replayed") for r in responses].count("true") == 19
    assert [r.path for r in echo_server.requests] == ["/slow/0.5"]
