"""Events posted to a trigger's URL by an outside sender that signs them with the `standardwebhooks` library: each
accepted event is one job with origin `trigger`, a redelivery makes none, and every refused event gets its problem,
makes nothing, and is recorded."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import WorkerFactory, wait_for_job
from tests.jobs.conftest import direct_context
from tests.triggers.conftest import MAPPING, SHOP, Shop, payment
from tests.workflows.conftest import assert_problem
from workflow_service.config import Settings
from workflow_service.errors import NotFound
from workflow_service.triggers import events, mapping, receive
from workflow_service.triggers import repository as repo


async def test_an_accepted_event_is_one_job_with_the_mapped_inputs(shop: Shop, start_worker: WorkerFactory) -> None:
    trigger, sender = await shop.sender(mapping={**MAPPING, "name": "{{ event.type }} for {{ event.data.customer }}"})
    response = await sender.send(payment("Ada", 12.5))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body == {"job_id": body["job_id"], "duplicate": False, "webhook_id": sender.sent[-1]}
    assert response.headers["Location"] == f"http://testserver/v1/jobs/{body['job_id']}"

    [job] = await shop.jobs()
    assert str(job["id"]) == body["job_id"]
    assert (job["caller"], job["origin"]) == (f"trigger:{trigger['id']}", "trigger")
    assert job["inputs"] == {"customer": "Ada", "amount": 12.5}
    assert job["name"] == "payment.succeeded for Ada"
    await start_worker()
    done = await wait_for_job(shop.admin, body["job_id"])
    assert (done["status"], done["output"]) == ("completed", {"text": "Thanks, Ada!"})
    assert done["created_by"]["kind"] == "trigger"
    assert done["created_by"]["id"] == trigger["id"]
    [event] = await shop.events(trigger)
    assert (event["outcome"], event["status"], event["job_id"], event["webhook_id"]) == (
        "created",
        202,
        body["job_id"],
        sender.sent[-1],
    )
    assert event["body_excerpt"] is None  # an accepted event's body is the job's business, not the history's


async def test_variables_and_a_whole_object_can_be_mapped(shop: Shop) -> None:
    mapping = {"inputs": "{{ event.data }}", "variables": {"greeting": "{{ headers['x-shop'] | upper }}"}}
    _, sender = await shop.sender(mapping=mapping)
    response = await sender.send(payment("Grace", 3), headers={"x-shop": "corner"})
    assert response.status_code == 202, response.text
    [job] = await shop.jobs()
    assert (job["inputs"], job["variables"]) == ({"customer": "Grace", "amount": 3}, {"greeting": "CORNER"})


async def test_the_headers_templates_read_hold_no_credentials(shop: Shop) -> None:
    _, sender = await shop.sender(mapping={"inputs": {"customer": "{{ headers | tojson }}"}})
    assert (await sender.send(headers={"cookie": "session=1"})).status_code == 202
    [job] = await shop.jobs()
    shown = json.loads(job["inputs"]["customer"])
    assert "webhook-id" in shown
    assert not {"webhook-signature", "authorization", "cookie"} & set(shown)


async def test_a_redelivered_event_makes_no_second_job(shop: Shop) -> None:
    trigger, sender = await shop.sender()
    first = await sender.send(payment(), msg_id="msg_1")
    again = await sender.send(payment(), msg_id="msg_1")  # signed again, with a new timestamp
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {"job_id": first.json()["job_id"], "duplicate": True, "webhook_id": "msg_1"}
    assert again.headers["Location"] == first.headers["Location"]
    assert len(await shop.jobs()) == 1
    newest, oldest = await shop.events(trigger)
    assert (newest["outcome"], newest["status"], newest["job_id"]) == ("duplicate", 200, first.json()["job_id"])
    assert "msg_1" in newest["reason"]
    assert oldest["outcome"] == "created"
    other = await sender.send(payment(), msg_id="msg_2")
    assert other.status_code == 202
    assert len(await shop.jobs()) == 2


async def test_many_events_in_a_row_each_make_their_job(shop: Shop) -> None:
    """More than PostgreSQL's five custom plans of a prepared statement: the claim of each event still finds its
    unique index under the generic plan."""
    trigger, sender = await shop.sender()
    for n in range(8):
        assert (await sender.send(payment(f"c{n}"))).status_code == 202
    assert (await sender.send(payment(), msg_id=sender.sent[3])).status_code == 200
    assert len(await shop.jobs(trigger)) == 8


async def test_concurrent_deliveries_of_one_event_make_one_job(shop: Shop) -> None:
    trigger, sender = await shop.sender()
    answers = await asyncio.gather(*(sender.send(payment(), msg_id="msg_same") for _ in range(6)))
    assert sorted(r.status_code for r in answers) == [200] * 5 + [202]
    assert len({r.json()["job_id"] for r in answers}) == 1
    assert len(await shop.jobs()) == 1
    outcomes = sorted(e["outcome"] for e in await shop.events(trigger))
    assert outcomes == ["created"] + ["duplicate"] * 5


async def test_a_redelivery_is_answered_even_when_the_trigger_changed_since(shop: Shop) -> None:
    trigger, sender = await shop.sender()
    first = await sender.send(payment(), msg_id="msg_1")
    url = f"/v1/workflows/shop/triggers/{trigger['id']}"
    assert (await shop.admin.post(f"{url}/pause")).status_code == 200
    again = await sender.send(payment(), msg_id="msg_1")
    assert (again.status_code, again.json()["job_id"]) == (200, first.json()["job_id"])
    assert_problem(await sender.send(payment(), msg_id="msg_2"), 409, "trigger_paused")


@pytest.fixture
def few_kept(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(events, "KEPT", 4)
    return 4


async def _refused(shop: Shop, trigger: dict[str, Any], response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the problem, no job was made, and the newest event records the refusal."""
    problem = assert_problem(response, status, code)
    assert await shop.jobs() == []
    newest = (await shop.events(trigger))[0]
    assert (newest["outcome"], newest["status"], newest["job_id"]) == ("rejected", status, None)
    assert newest["reason"] == problem["detail"]
    return newest


async def test_every_refused_event_makes_nothing_and_is_recorded(shop: Shop) -> None:
    trigger, sender = await shop.sender()
    now = datetime.now(UTC)
    cases: list[tuple[Any, int, str]] = [
        (sender.send(secret="whsec_" + "QUJD" * 11), 401, "invalid_signature"),
        (sender.send(at=now - timedelta(minutes=10)), 401, "stale_timestamp"),
        (sender.send(at=now + timedelta(minutes=10)), 401, "stale_timestamp"),
        (sender.send(headers={"webhook-timestamp": "yesterday"}), 401, "invalid_signature"),
        (sender.send(body=b'{"type": "payment.succeeded", "data": '), 400, "malformed_body"),
        (sender.send(body=b""), 400, "malformed_body"),
        (sender.send(body=b"customer=Ada", headers={"content-type": "text/plain"}), 415, "unsupported_media_type"),
        (sender.send({"type": "payment.succeeded", "data": {"amount": 3}}), 422, "invalid_input"),  # no customer
        (sender.send(payment("Ada", "a lot")), 422, "invalid_input"),  # type: ignore[arg-type]
        (sender.send(payment(), msg_id="m" * 256), 422, "invalid_input"),
    ]
    for call, status, code in cases:
        recorded = await _refused(shop, trigger, await call, status, code)
        assert recorded["webhook_id"] == sender.sent[-1][:255]  # what the sender said it was, cut to fit
    unsigned = await sender.client.post(sender.url, json=payment())
    recorded = await _refused(shop, trigger, unsigned, 401, "invalid_signature")
    assert recorded["webhook_id"] is None
    assert recorded["body_bytes"] == len(unsigned.request.content)
    assert json.loads(recorded["body_excerpt"]) == payment()
    assert len(await shop.events(trigger)) == len(cases) + 1


async def test_a_refusal_names_where_the_mapping_or_the_inputs_fail(shop: Shop) -> None:
    trigger, sender = await shop.sender()
    undefined = assert_problem(await sender.send({"type": "ping"}), 422, "invalid_input")
    [error] = undefined["errors"]
    assert error["path"] in ("$.mapping.inputs.customer", "$.mapping.inputs.amount")  # the first one rendered
    assert error["message"] == "'dict object' has no attribute 'data'"
    assert undefined["detail"].startswith("the trigger's mapping failed on this event: $.mapping.inputs.")
    wrong_type = assert_problem(await sender.send(payment("Ada", "a lot")), 422, "invalid_input")  # type: ignore[arg-type]
    assert [e["path"] for e in wrong_type["errors"]] == ["$.inputs.amount"]
    nul = assert_problem(await sender.send(payment("Ad\u0000a")), 422, "invalid_input")
    assert [e["path"] for e in nul["errors"]] == ["$.inputs.customer"]
    assert await shop.jobs() == []
    assert [e["outcome"] for e in await shop.events(trigger)] == ["rejected"] * 3


async def test_a_mapping_that_makes_no_object_is_refused(shop: Shop) -> None:
    trigger, sender = await shop.sender(mapping={"inputs": "{{ event.data.customer }}"})
    problem = await _refused(shop, trigger, await sender.send(), 422, "invalid_input")
    assert "must make an object" in problem["reason"]


async def test_a_body_over_the_limit_is_refused_before_it_is_read_whole(shop: Shop, few_kept: int) -> None:
    limit = 1024 * 1024  # WFS_TRIGGER_MAX_BODY_BYTES' default
    trigger, sender = await shop.sender()
    big = json.dumps({"data": {"customer": "x" * limit}}).encode()
    recorded = await _refused(shop, trigger, await sender.send(body=big), 413, "payload_too_large")
    assert recorded["body_bytes"] is None  # refused from Content-Length, nothing read

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    chunked = await sender.client.post(sender.url, content=chunks(), headers=sender.signed(big))
    recorded = await _refused(shop, trigger, chunked, 413, "payload_too_large")
    assert recorded["body_bytes"] is not None
    assert limit < recorded["body_bytes"] <= limit + 64 * 1024 * 4
    assert len(recorded["body_excerpt"]) == events.EXCERPT_CHARS


async def test_the_service_credentials_do_not_open_a_trigger(shop: Shop) -> None:
    """The operator's token is no signature, and no trigger's token."""
    trigger, sender = await shop.sender()
    as_operator = await shop.admin.post(sender.url, json=payment())
    await _refused(shop, trigger, as_operator, 401, "invalid_signature")
    _, bearer = await shop.sender(auth="bearer")
    assert_problem(await shop.admin.post(bearer.url, json=payment()), 401, "unauthorized")
    assert await shop.jobs() == []


async def test_a_paused_trigger_refuses_events_until_it_is_resumed(shop: Shop) -> None:
    trigger, sender = await shop.sender()
    url = f"/v1/workflows/shop/triggers/{trigger['id']}"
    assert (await shop.admin.post(f"{url}/pause")).json()["paused"] is True
    await _refused(shop, trigger, await sender.send(msg_id="msg_1"), 409, "trigger_paused")
    assert (await shop.admin.post(f"{url}/resume")).json()["paused"] is False
    retried = await sender.send(msg_id="msg_1")  # the sender's retry of the refused delivery
    assert retried.status_code == 202, retried.text
    assert len(await shop.jobs()) == 1


async def test_a_workflow_never_deployed_refuses_events(shop: Shop) -> None:
    draft = {"name": "draft", "definition": {"steps": []}}
    assert (await shop.admin.post("/v1/workflows", json=draft)).status_code == 201
    trigger, sender = await shop.sender("draft", mapping={"inputs": "{{ event }}"})
    await _refused(shop, trigger, await sender.send(), 409, "not_deployed")


async def test_an_unknown_trigger_is_a_404_and_records_nothing(shop: Shop) -> None:
    trigger, sender = await shop.sender()
    base = sender.url.rsplit("/", 1)[0]
    for missing in ("01a2478d-7295-702a-a907-8697c5f611db", "not-a-uuid"):
        response = await sender.client.post(f"{base}/{missing}", json=payment())
        assert_problem(response, 404, "not_found")
    assert await shop.events(trigger) == []


async def test_the_trigger_of_a_deleted_workflow_is_a_404(shop: Shop) -> None:
    _, sender = await shop.sender()
    assert (await sender.send()).status_code == 202
    deleted = await shop.admin.delete("/v1/workflows/shop", params={"cancel_active": "true"})
    assert deleted.status_code == 204, deleted.text
    assert_problem(await sender.send(), 404, "not_found")
    async with shop.engine.connect() as conn:
        left = (await conn.execute(sa.text("SELECT count(*) FROM trigger_event"))).scalar_one()
    assert left == 0


async def test_refused_events_are_capped_per_trigger(shop: Shop, few_kept: int) -> None:
    trigger, sender = await shop.sender()
    other, other_sender = await shop.sender()
    assert (await sender.send()).status_code == 202
    assert (await other_sender.send(secret="whsec_" + "QUJD" * 11)).status_code == 401
    for n in range(few_kept + 3):
        assert (await sender.send(body=f"not json {n}".encode() + b"x" * 5000)).status_code == 400
    kept = await shop.events(trigger)
    assert [e["outcome"] for e in kept] == ["rejected"] * few_kept + ["created"]  # the created one stays
    assert [e["body_excerpt"][:10] for e in kept[:few_kept]] == [f"not json {n}" for n in range(6, 2, -1)]
    assert all(len(e["body_excerpt"]) == events.EXCERPT_CHARS for e in kept[:few_kept])
    assert len(await shop.events(other)) == 1  # another trigger's are its own


async def test_a_rotated_secret_works_for_its_overlap_then_stops(shop: Shop) -> None:
    trigger, sender = await shop.sender()
    rotated = await shop.admin.post(f"/v1/workflows/shop/triggers/{trigger['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != trigger["secret"]
    assert rotated.json()["secrets"] == 2
    assert (await sender.send()).status_code == 202  # the old one, within the 24 h
    assert (await sender.send(secret=new_secret)).status_code == 202
    async with shop.engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE event_trigger SET secrets = jsonb_set(secrets, '{1,expires_at}', :at)"),
            {"at": json.dumps((datetime.now(UTC) - timedelta(seconds=1)).isoformat())},
        )
    await _refused_after(shop, trigger, await sender.send())
    assert (await sender.send(secret=new_secret)).status_code == 202


async def _refused_after(shop: Shop, trigger: dict[str, Any], response: Any) -> None:
    assert_problem(response, 401, "invalid_signature")
    assert (await shop.events(trigger))[0]["outcome"] == "rejected"


async def test_a_bearer_trigger_takes_its_token(shop: Shop) -> None:
    trigger, sender = await shop.sender(auth="bearer")
    assert trigger["secret"].startswith("wfs_hook_")
    assert (await sender.bearer()).status_code == 202
    assert (await sender.bearer()).status_code == 202  # no event id: each delivery is an event
    for token in (sender.secret + "x", "wfs_hook_nope"):
        assert_problem(await sender.bearer(token=token), 401, "unauthorized")
    assert_problem(await sender.client.post(sender.url, json=payment()), 401, "unauthorized")
    basic = await sender.client.post(sender.url, json=payment(), headers={"authorization": f"Basic {sender.secret}"})
    assert_problem(basic, 401, "unauthorized")
    assert len(await shop.jobs()) == 2
    assert [e["outcome"] for e in await shop.events(trigger)][:4] == ["rejected"] * 4


@pytest.mark.parametrize("header", ["Idempotency-Key", "webhook-id"])
async def test_a_bearer_trigger_makes_one_job_per_event_id(shop: Shop, header: str) -> None:
    _, sender = await shop.sender(auth="bearer")
    first = await sender.bearer(**{header: "order-42"})
    again = await sender.bearer(**{header: "order-42"})
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["job_id"] == first.json()["job_id"]
    assert (await sender.bearer(**{header: "order-43"})).status_code == 202
    assert len(await shop.jobs()) == 2


async def test_a_bearer_trigger_refuses_before_reading_the_body(shop: Shop) -> None:
    trigger, sender = await shop.sender(auth="bearer")
    refused = await sender.client.post(sender.url, content=b"{not json", headers={"authorization": "Bearer wrong"})
    recorded = await _refused(shop, trigger, refused, 401, "unauthorized")
    assert (recorded["body_bytes"], recorded["body_excerpt"]) == (None, None)


async def test_a_trigger_runs_the_version_it_names(shop: Shop, start_worker: WorkerFactory) -> None:
    changed = {"definition": {**_shop_v2()}}
    assert (await shop.admin.put("/v1/workflows/shop/draft", json=changed)).status_code == 200
    assert (await shop.admin.post("/v1/workflows/shop/deploy")).status_code == 201
    _, on_v1 = await shop.sender(version=1)
    _, on_current = await shop.sender()
    await start_worker()
    outputs = []
    for sender in (on_v1, on_current):
        job_id = (await sender.send(payment("Ada"))).json()["job_id"]
        outputs.append((await wait_for_job(shop.admin, job_id))["output"]["text"])
    assert outputs == ["Thanks, Ada!", "Welcome back, Ada!"]


def _shop_v2() -> dict[str, Any]:
    return {**SHOP, "variables": {"greeting": "Welcome back"}}


async def test_a_trigger_deleted_while_an_event_is_received_answers_404_and_records_nothing(
    shop: Shop, settings: Settings
) -> None:
    """The trigger is read first, the job and event made after the mapping ran: deleted in between, the event is
    a 404 (its claim finds no trigger), and its refusal has nothing to be recorded on."""
    trigger, _ = await shop.sender()
    async with shop.engine.connect() as conn:
        row = await repo.for_event(conn, uuid.UUID(trigger["id"]))
    assert row is not None
    assert (await shop.admin.delete(f"/v1/workflows/shop/triggers/{trigger['id']}")).status_code == 204
    rendered = mapping.Rendered({"customer": "Ada"}, {}, None)
    async with direct_context(shop.engine, settings) as ctx:
        with pytest.raises(NotFound):
            await receive._create(ctx, row, rendered, "msg_1", 10)
        refused = events.Unmade(trigger_id=row.id, outcome="rejected", status=404, reason="gone")
        await events.record(ctx.engine, refused)
    assert await shop.jobs() == []
    async with shop.engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM trigger_event"))).scalar_one() == 0
