"""Event triggers in the embedded mode: the same code on SQLite with the in-process worker, over ASGI; and a real
`workflow-service dev` process (uvicorn, SQLite) that an outside sender posts signed events to over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from tests.conftest import connections, wait_for_job
from tests.jobs import parity
from tests.jobs.conftest import deploy_workflow
from tests.test_embedded import TOKEN as DEV_TOKEN
from tests.test_embedded import embedded, finished
from tests.triggers.conftest import KEY, MAPPING, SHOP, Sender, Shop, payment
from tests.workflows.conftest import assert_problem
from workflow_service.config import Settings
from workflow_service.triggers import events

TOKEN = "embedded-admin"


@pytest.fixture
async def sqlite_shop(tmp_path: Path) -> AsyncIterator[Shop]:
    """The embedded service (SQLite, jobs run in-process) with `shop` deployed."""
    settings = Settings(
        data_dir=tmp_path, admin_token=SecretStr(TOKEN), database_url=None, redis_url=None, secret_key=SecretStr(KEY)
    )
    async for engine in parity.sqlite_engine(tmp_path / "workflow-service.db"):  # migrated, as `dev` does
        async with connections(settings) as connect:
            admin = connect(TOKEN)
            await deploy_workflow(admin, "shop", SHOP)
            yield Shop(admin, connect, engine)


async def test_events_become_jobs_once_on_sqlite(sqlite_shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    shop = sqlite_shop
    trigger, sender = await shop.sender()
    first = await sender.send(payment("Ada"), msg_id="msg_1")
    assert first.status_code == 202, first.text
    done = await wait_for_job(shop.admin, first.json()["job_id"])
    assert (done["status"], done["origin"], done["output"]) == ("completed", "trigger", {"text": "Thanks, Ada!"})
    again = await sender.send(payment("Ada"), msg_id="msg_1")
    assert (again.status_code, again.json()["job_id"]) == (200, first.json()["job_id"])
    at_once = await asyncio.gather(*(sender.send(payment("Lin"), msg_id="msg_2") for _ in range(4)))
    assert sorted(r.status_code for r in at_once) == [200, 200, 200, 202]
    assert len({r.json()["job_id"] for r in at_once}) == 1
    for n in range(7):  # past any statement cache: each claim still finds the unique index
        assert (await sender.send(payment(f"c{n}"))).status_code == 202
    assert len(await shop.jobs(trigger)) == 9

    monkeypatch.setattr(events, "KEPT", 3)
    for n in range(5):
        assert_problem(await sender.send(body=f"not json {n}".encode()), 400, "malformed_body")
    listed = await shop.events(trigger)
    assert [e["body_excerpt"] for e in listed[:3]] == ["not json 4", "not json 3", "not json 2"]
    assert [e["outcome"] for e in listed[3:]].count("rejected") == 0
    assert [e["outcome"] for e in listed].count("created") == 9

    [item] = (await shop.admin.get("/v1/workflows/shop/triggers")).json()["items"]
    assert (item["kind"], item["id"]) == ("webhook", trigger["id"])
    assert [e["outcome"] for e in item["recent"][:4]] == ["rejected", "rejected", "rejected", "created"]
    assert item["last_run_at"] is not None


async def test_a_bearer_trigger_and_refusals_on_sqlite(sqlite_shop: Shop) -> None:
    shop = sqlite_shop
    trigger, sender = await shop.sender(auth="bearer", mapping={**MAPPING, "name": "{{ event.type }}"})
    made = await sender.bearer(**{"Idempotency-Key": "order-1"})
    assert made.status_code == 202, made.text
    assert (await sender.bearer(**{"Idempotency-Key": "order-1"})).status_code == 200
    assert_problem(await sender.bearer(token="wrong"), 401, "unauthorized")
    await shop.admin.post(f"/v1/workflows/shop/triggers/{trigger['id']}/pause")
    assert_problem(await sender.bearer(), 409, "trigger_paused")
    [job] = await shop.jobs(trigger)
    assert job["name"] == "payment.succeeded"
    statuses = [(e["outcome"], e["status"]) for e in await shop.events(trigger)]
    assert statuses == [("rejected", 409), ("rejected", 401), ("duplicate", 200), ("created", 202)]
    assert (await shop.admin.delete("/v1/workflows/shop/triggers/" + trigger["id"])).status_code == 204
    assert_problem(await sender.bearer(), 404, "not_found")


async def test_a_real_server_takes_signed_events_from_an_outside_sender(tmp_path: Path) -> None:
    """`workflow-service dev` (uvicorn, SQLite, its own secret key) and a sender over real HTTP, with no credential
    of the service, signing with the `standardwebhooks` library."""
    with embedded(tmp_path) as service:
        await asyncio.to_thread(service.process.wait_until_ready)
        headers = {"Authorization": f"Bearer {DEV_TOKEN}"}
        async with (
            httpx.AsyncClient(base_url=service.url, headers=headers, timeout=10) as admin,
            httpx.AsyncClient(timeout=10) as outside,
        ):
            await deploy_workflow(admin, "shop", SHOP)
            made = await admin.post(
                "/v1/workflows/shop/triggers", json={"type": "webhook", "name": "p", "mapping": MAPPING}
            )
            assert made.status_code == 201, made.text
            trigger = made.json()
            assert trigger["url"] == f"{service.url}/v1/hooks/{trigger['id']}"
            sender = Sender(outside, trigger["url"], trigger["secret"])
            accepted = await sender.send(payment("Ada"), msg_id="evt_1")
            assert accepted.status_code == 202, accepted.text
            job = await finished(admin, accepted.json()["job_id"])
            assert (job["status"], job["origin"], job["output"]) == ("completed", "trigger", {"text": "Thanks, Ada!"})
            redelivered = await sender.send(payment("Ada"), msg_id="evt_1")
            assert (redelivered.status_code, redelivered.json()["job_id"]) == (200, job["id"])
            forged = await sender.send(payment("Mallory"), secret="whsec_" + "QUJD" * 11)
            assert_problem(forged, 401, "invalid_signature")
            listed = (await admin.get("/v1/jobs", params={"scope": "all", "workflow": "shop"})).json()["items"]
            assert [j["id"] for j in listed] == [job["id"]]
