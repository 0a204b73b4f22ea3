"""Managing triggers: the secret shown once and stored encrypted (a token only hashed), mapping errors named at
creation, changes, pause and resume, deletion, the events listing, the trigger history's shape, and workspaces
kept apart."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import TOKEN, connections, make_settings
from tests.jobs.conftest import deploy_workflow
from tests.triggers.conftest import KEY, MAPPING, SHOP, Sender, Shop, payment
from tests.workflows.conftest import assert_problem
from workflow_service.core.secrets import Secrets
from workflow_service.triggers import history
from workflow_service.triggers.schemas import TriggerHistoryItem

TRIGGERS = "/v1/workflows/shop/triggers"
HISTORY_KEYS = set(TriggerHistoryItem.model_fields)
SHARED_SHAPE = {
    "kind", "id", "name", "description", "provider", "set_up_at", "last_run_at", "next_run_at", "frequency",
    "timezone", "start_at", "end_at", "paused", "recent",
}  # fmt: skip


async def _stored(shop: Shop, trigger_id: str) -> Any:
    async with shop.engine.connect() as conn:
        stmt = sa.text("SELECT secrets FROM event_trigger WHERE id = :id")
        return (await conn.execute(stmt, {"id": uuid.UUID(trigger_id)})).scalar_one()


async def test_a_trigger_shows_its_secret_once_and_keeps_it_encrypted(shop: Shop) -> None:
    made = await shop.admin.post(
        TRIGGERS, json={"type": "webhook", "name": "payments", "description": "from the shop", "mapping": MAPPING}
    )
    assert made.status_code == 201, made.text
    trigger = made.json()
    assert made.headers["Location"] == f"http://testserver{TRIGGERS}/{trigger['id']}"
    assert trigger["url"] == f"http://testserver/v1/hooks/{trigger['id']}"
    assert trigger["secret"].startswith("whsec_")
    assert (trigger["auth"], trigger["version"], trigger["paused"], trigger["secrets"]) == (
        "standard_webhooks",
        "current",
        False,
        1,
    )
    read = (await shop.admin.get(f"{TRIGGERS}/{trigger['id']}")).json()
    assert read == {k: v for k, v in trigger.items() if k != "secret"}
    [entry] = await _stored(shop, trigger["id"])
    assert trigger["secret"] not in str(entry)
    assert Secrets([KEY]).decrypt(entry["value"]["enc"]) == trigger["secret"]

    bearer = await shop.trigger(auth="bearer")
    [entry] = await _stored(shop, bearer["id"])
    assert entry["value"] == hashlib.sha256(bearer["secret"].encode()).hexdigest()


async def test_a_signed_trigger_needs_the_secret_key_and_a_bearer_one_does_not(engine: Any) -> None:
    async with connections(make_settings()) as connect:  # no WFS_SECRET_KEY
        admin = connect(TOKEN)
        await deploy_workflow(admin, "shop", SHOP)
        refused = await admin.post(TRIGGERS, json={"type": "webhook", "name": "payments", "mapping": MAPPING})
        assert_problem(refused, 409, "secret_key_required")
        bearer = {"type": "webhook", "name": "payments", "auth": "bearer", "mapping": MAPPING}
        assert (await admin.post(TRIGGERS, json=bearer)).status_code == 201
        assert len((await admin.get(TRIGGERS)).json()["items"]) == 1


BAD_MAPPINGS: list[tuple[dict[str, Any], str, str]] = [
    ({"inputs": {"customer": "{{ event.data.customer"}}, "$.mapping.inputs.customer", "template syntax error"),
    ({"inputs": {"customer": "{{ inputs.customer }}"}}, "$.mapping.inputs.customer", "can use event and headers"),
    ({"inputs": {"customer": ["{{ event | nope }}"]}}, "$.mapping.inputs.customer[0]", "template syntax error"),
    ({"inputs": "event.data"}, "$.mapping.inputs", "must be a template"),
    ({"inputs": "{{ event.data }}", "variables": {"tone": "warm"}}, "$.mapping.variables.tone", "unknown variable"),
    ({"inputs": "{{ event.data }}", "variables": {"greeting": "{% if %}"}}, "$.mapping.variables.greeting", "syntax"),
    ({"inputs": "{{ event.data }}", "name": "{{ event.type"}, "$.mapping.name", "template syntax error"),
]


@pytest.mark.parametrize(("mapping", "path", "message"), BAD_MAPPINGS)
async def test_a_mapping_that_does_not_compile_is_refused_naming_its_path(
    shop: Shop, mapping: dict[str, Any], path: str, message: str
) -> None:
    response = await shop.admin.post(TRIGGERS, json={"type": "webhook", "name": "bad", "mapping": mapping})
    problem = assert_problem(response, 422, "invalid_input")
    [error] = problem["errors"]
    assert error["path"] == path
    assert message in error["message"]
    assert path in problem["detail"]
    assert (await shop.admin.get(TRIGGERS)).json() == {"items": []}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"version": 7}, "$.version"),
        ({"version": 0}, "$.version"),
        ({"version": "latest"}, "$.version"),
        ({"type": "email"}, "$.type"),
        ({"auth": "hmac"}, "$.auth"),
        ({"name": ""}, "$.name"),
        ({"pool": "no spaces"}, "$.pool"),
        ({"secret": "mine"}, "$.secret"),
        ({"mapping": {"inputs": {}, "job": "x"}}, "$.mapping.job"),
    ],
)
async def test_a_bad_trigger_is_refused_naming_the_field(shop: Shop, body: dict[str, Any], path: str) -> None:
    response = await shop.admin.post(TRIGGERS, json={"type": "webhook", "name": "bad", **body})
    assert response.status_code == 422, response.text
    assert [e["path"] for e in response.json()["errors"]] == [path]
    assert (await shop.admin.get(TRIGGERS)).json() == {"items": []}


async def test_a_trigger_changes_pauses_resumes_and_is_deleted(shop: Shop) -> None:
    trigger, sender = await shop.sender()
    url = f"{TRIGGERS}/{trigger['id']}"
    changed = await shop.admin.patch(
        url, json={"name": "renamed", "description": "now", "version": 1, "mapping": {"inputs": "{{ event.data }}"}}
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["description"], body["version"]) == ("renamed", "now", 1)
    assert body["mapping"] == {"inputs": "{{ event.data }}", "variables": {}, "name": None}
    assert body["updated_at"] > trigger["updated_at"]
    assert (await sender.send(payment("Lin", 1))).status_code == 202
    [job] = await shop.jobs()
    assert job["inputs"] == {"customer": "Lin", "amount": 1}

    for bad, path in (
        ({"mapping": {"inputs": {"customer": "{{ }}"}}}, "$.mapping.inputs.customer"),
        ({"name": None}, "$.name"),
        ({"auth": "bearer"}, "$.auth"),
        ({"version": 9}, "$.version"),
    ):
        refused = await shop.admin.patch(url, json=bad)
        assert refused.status_code == 422, refused.text
        assert path in [e["path"] for e in refused.json()["errors"]]
    assert (await shop.admin.get(url)).json() == body

    paused = (await shop.admin.post(f"{url}/pause")).json()
    assert paused["paused"] is True
    assert (await shop.admin.post(f"{url}/pause")).json() == paused  # already paused: nothing changes
    assert (await shop.admin.post(f"{url}/resume")).json()["paused"] is False

    assert (await shop.admin.delete(url)).status_code == 204
    for method, suffix in (("GET", ""), ("DELETE", ""), ("POST", "/pause"), ("GET", "/events")):
        assert_problem(await shop.admin.request(method, f"{url}{suffix}"), 404, "not_found")
    assert_problem(await sender.send(), 404, "not_found")
    assert len(await shop.jobs()) == 1  # the jobs it made stay
    async with shop.engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM trigger_event"))).scalar_one() == 0


async def test_the_events_come_a_page_at_a_time_newest_first(shop: Shop) -> None:
    trigger, sender = await shop.sender()
    for n in range(3):
        assert (await sender.send(payment(f"c{n}"))).status_code == 202
    url = f"{TRIGGERS}/{trigger['id']}/events"
    first = (await shop.admin.get(url, params={"limit": 2})).json()
    assert [e["webhook_id"] for e in first["items"]] == sender.sent[:0:-1]
    second = (await shop.admin.get(url, params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert ([e["webhook_id"] for e in second["items"]], second["next_cursor"]) == ([sender.sent[0]], None)
    assert_problem(await shop.admin.get(url, params={"cursor": "nope!"}), 422, "invalid_input")
    assert (await shop.admin.get(url, params={"limit": 0})).status_code == 422


async def test_the_history_lists_every_trigger_with_its_recent_events(shop: Shop) -> None:
    older, first_sender = await shop.sender(description="card payments")
    newer, second_sender = await shop.sender(auth="bearer")
    created = await first_sender.send(msg_id="msg_1")
    await first_sender.send(msg_id="msg_1")
    await first_sender.send(body=b"nope")
    for _ in range(22):
        await second_sender.bearer(token="wrong")
    await shop.admin.post(f"{TRIGGERS}/{newer['id']}/pause")

    response = await shop.admin.get(TRIGGERS)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["id"] for i in items] == [newer["id"], older["id"]]  # newest set up first
    assert set(items[0]) == SHARED_SHAPE == HISTORY_KEYS
    first, second = items[1], items[0]
    assert {k: first[k] for k in SHARED_SHAPE - {"recent", "last_run_at"}} == {
        "kind": "webhook",
        "id": older["id"],
        "name": "payments",
        "description": "card payments",
        "provider": "webhook",
        "set_up_at": older["created_at"],
        "next_run_at": None,
        "frequency": None,
        "timezone": None,
        "start_at": None,
        "end_at": None,
        "paused": False,
    }
    events = await shop.events(older)
    assert first["last_run_at"] == events[-1]["at"]
    assert [(e["outcome"], e["job_id"]) for e in first["recent"]] == [
        ("rejected", None),
        ("duplicate", created.json()["job_id"]),
        ("created", created.json()["job_id"]),
    ]
    assert first["recent"][0]["reason"].startswith("the body is not valid JSON")
    assert (second["paused"], second["last_run_at"]) == (True, None)
    assert len(second["recent"]) == history.RECENT
    assert all(e["outcome"] == "rejected" and e["reason"] for e in second["recent"])


async def test_the_history_composes_every_provider(shop: Shop) -> None:
    """A schedule's items, from its own provider, list beside the webhooks' in the one shape."""
    trigger = await shop.trigger()
    workflow_id = uuid.UUID(trigger["workflow"]["id"])
    schedule_id = uuid.uuid4()

    async def schedules(conn: Any, wanted: uuid.UUID, recent: int) -> list[dict[str, Any]]:
        assert (wanted, recent) == (workflow_id, history.RECENT)
        return [
            {
                "kind": "schedule",
                "id": schedule_id,
                "name": None,
                "description": "nightly",
                "provider": "schedule",
                "set_up_at": "2020-01-01T00:00:00+00:00",
                "last_run_at": None,
                "next_run_at": "2030-01-01T02:30:00+01:00",
                "frequency": "every day at 02:30 (Europe/Berlin)",
                "timezone": "Europe/Berlin",
                "start_at": None,
                "end_at": None,
                "paused": False,
                "recent": [
                    {"at": "2020-01-02T01:30:00+00:00", "outcome": "skipped", "job_id": None, "reason": "overlap"}
                ],
            }
        ]

    async with shop.engine.connect() as conn:
        listed = await history.history(conn, workflow_id, (*history.PROVIDERS, schedules))
    assert [(i.kind, str(i.id)) for i in listed.items] == [("webhook", trigger["id"]), ("schedule", str(schedule_id))]
    assert listed.items[1].recent[0].outcome == "skipped"


async def test_another_workspace_finds_none_of_this_ones_triggers(shop: Shop) -> None:
    trigger, sender = await shop.sender()
    made = await shop.admin.post(
        "/v1/workspaces", json={"slug": "globex", "name": "Globex", "owner": {"email": "b@b.example", "name": "B"}}
    )
    assert made.status_code == 201, made.text
    rival = shop.connect(made.json()["owner_token"])
    workflow_id = trigger["workflow"]["id"]
    for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/pause"), ("GET", "/events")):
        url = f"/v1/workflows/{workflow_id}/triggers/{trigger['id']}{suffix}"
        body = {"name": "taken"} if method == "PATCH" else None
        assert_problem(await rival.request(method, url, json=body), 404, "not_found")
    assert_problem(await rival.get(f"/v1/workflows/{workflow_id}/triggers"), 404, "not_found")
    # B's own workflow of the same slug has triggers of its own; A's URL still works by its id and secret alone
    await deploy_workflow(rival, "shop", SHOP)
    theirs = await rival.post(TRIGGERS, json={"type": "webhook", "name": "theirs", "mapping": MAPPING})
    assert theirs.status_code == 201, theirs.text
    assert [i["name"] for i in (await rival.get(TRIGGERS)).json()["items"]] == ["theirs"]
    assert [i["id"] for i in (await shop.admin.get(TRIGGERS)).json()["items"]] == [trigger["id"]]
    assert (await sender.send()).status_code == 202
    wrong_secret = Sender(sender.client, sender.url, theirs.json()["secret"])
    assert_problem(await wrong_secret.send(), 401, "invalid_signature")
    [job] = await shop.jobs()
    assert job["caller"] == f"trigger:{trigger['id']}"


async def test_a_trigger_is_found_only_under_its_own_workflow(shop: Shop) -> None:
    trigger = await shop.trigger()
    await deploy_workflow(shop.admin, "other", SHOP)
    assert_problem(await shop.admin.get(f"/v1/workflows/other/triggers/{trigger['id']}"), 404, "not_found")
    assert_problem(await shop.admin.get("/v1/workflows/missing/triggers"), 404, "not_found")
    assert_problem(await shop.admin.get(f"{TRIGGERS}/not-an-id"), 404, "not_found")
