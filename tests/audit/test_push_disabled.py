"""Push turned off by the service after a 410 from the callback URL: recorded as `settings.push_disabled` by
`system`, with what changed, in the transaction that turns it off; once, however many 410s follow."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.audit.conftest import entries_since, last_entry_id
from tests.deliveries.conftest import (
    Reply,
    WebhookReceiver,
    Workers,
    push_workflow,
    submit_push,
    wait_for_delivery,
)
from workflow_service.models import DEFAULT_WORKSPACE_ID
from workflow_service.workflows.settings import stop_push


async def test_a_410_turns_push_off_once_recorded_by_the_system(
    admin: httpx.AsyncClient, engine: AsyncEngine, receiver: WebhookReceiver, workers: Workers
) -> None:
    await push_workflow(admin, receiver)
    greeter = (await admin.get("/v1/workflows/greeter")).json()
    receiver.reply(Reply(410, body=b"gone"))
    await workers.start()
    before = await last_entry_id(engine)
    job = await submit_push(admin)
    await wait_for_delivery(admin, job["id"], "failed")
    [entry] = await entries_since(engine, before)
    reason = (await admin.get("/v1/workflows/greeter/settings")).json()["push"]["disabled_reason"]
    assert (entry["action"], entry["category"]) == ("settings.push_disabled", "settings")
    assert (entry["actor"], entry["actor_name"], entry["request_id"]) == ("system", "system", None)
    assert (entry["workspace_id"], str(entry["workflow_id"])) == (DEFAULT_WORKSPACE_ID, greeter["id"])
    assert (entry["target_id"], entry["target_name"]) == (greeter["id"], "greeter")
    assert entry["changes"] == {
        "push.enabled": {"before": True, "after": False},
        "push.disabled_reason": {"before": None, "after": reason},
    }
    assert "410" in entry["description"]


async def test_a_redelivery_answered_410_records_both_the_redelivery_and_push_off(
    admin: httpx.AsyncClient, engine: AsyncEngine, receiver: WebhookReceiver, workers: Workers
) -> None:
    await push_workflow(admin, receiver)
    await workers.start()
    job = await submit_push(admin)
    await wait_for_delivery(admin, job["id"], "succeeded")
    receiver.reply(Reply(410))
    before = await last_entry_id(engine)
    response = await admin.post(f"/v1/jobs/{job['id']}/deliveries/redeliver")
    assert response.status_code == 201, response.text
    written = await entries_since(engine, before)
    assert [(e["action"], e["actor"]) for e in written] == [
        ("settings.push_disabled", "system"),
        ("delivery.redelivered", "admin"),
    ]
    assert "HTTP 410" in written[1]["description"]
    # Push is off: a second redelivery is refused, and records nothing.
    before = await last_entry_id(engine)
    assert (await admin.post(f"/v1/jobs/{job['id']}/deliveries/redeliver")).status_code == 409
    assert await entries_since(engine, before) == []


async def test_turning_off_push_already_off_changes_and_records_nothing(
    admin: httpx.AsyncClient, engine: AsyncEngine, receiver: WebhookReceiver
) -> None:
    await push_workflow(admin, receiver)
    workflow_id = uuid.UUID((await admin.get("/v1/workflows/greeter")).json()["id"])
    before = await last_entry_id(engine)
    async with engine.begin() as conn:
        assert await stop_push(conn, workflow_id, "the callback URL answered 410 Gone at noon") is True
    async with engine.begin() as conn:
        assert await stop_push(conn, workflow_id, "the callback URL answered 410 Gone at one") is False
    assert [e["action"] for e in await entries_since(engine, before)] == ["settings.push_disabled"]
    settings = (await admin.get("/v1/workflows/greeter/settings")).json()
    assert settings["push"]["disabled_reason"] == "the callback URL answered 410 Gone at noon"
