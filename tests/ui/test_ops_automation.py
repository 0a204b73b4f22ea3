"""The schedules and triggers page: what each role sees and may do; creating, pausing, resuming, backfilling and
deleting schedules; creating triggers (the secret shown once), rotating, pausing, deleting them; their history;
refusals (CSRF, roles, bad input at its field) change nothing."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_settings
from tests.ui.forms import dashboard
from tests.ui.ops_helpers import SLUG, field_error, forms_posting_to, greeter, person, post, text
from workflow_service.config import Settings

PAGE = f"/ui/workflows/{SLUG}/automation"


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    """With WFS_SECRET_KEY: signing secrets are stored encrypted with it."""
    return make_settings(secret_key=SecretStr(Fernet.generate_key().decode()))


async def schedules(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    listing = await api.get(f"/v1/workflows/{SLUG}/schedules")
    assert listing.status_code == 200, listing.text
    items: list[dict[str, Any]] = listing.json()["items"]
    return items


async def triggers(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    listing = await api.get(f"/v1/workflows/{SLUG}/triggers")
    assert listing.status_code == 200, listing.text
    return [i for i in listing.json()["items"] if i["kind"] != "schedule"]


CRON = {
    "name": "nightly",
    "timing": "cron",
    "cron": "30 2 * * *",
    "timezone": "Europe/Berlin",
    "inputs": '{"name": "Ada"}',
}


async def test_an_editor_creates_pauses_resumes_and_deletes_a_schedule(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        editor = await person(new_browser, api, "ed", share="editor")
        made = await post(editor.browser, PAGE, f"{PAGE}/schedules", CRON | {"start_at": "2030-01-01T09:00"})
        assert made.status_code == 303, text(made.text)
        [schedule] = await schedules(api)
        assert schedule["cron"] == "30 2 * * *"
        assert schedule["timezone"] == "Europe/Berlin"
        assert schedule["inputs"] == {"name": "Ada"}
        assert schedule["start_at"].startswith("2030-01-01T08:00:00")  # 09:00 in Berlin
        page = await editor.browser.get(PAGE)
        shown = text(page.text)
        assert "At 02:30" in shown
        assert "Europe/Berlin" in shown
        assert "Active" in shown
        assert "Schedule “nightly” created" in shown
        base = f"{PAGE}/schedules/{schedule['id']}"

        assert (await post(editor.browser, PAGE, f"{base}/pause", {})).status_code == 303
        assert (await schedules(api))[0]["paused"] is True
        assert "Paused" in text((await editor.browser.get(PAGE)).text)
        assert (await post(editor.browser, PAGE, f"{base}/resume", {})).status_code == 303
        assert (await schedules(api))[0]["paused"] is False

        page = await editor.browser.get(PAGE)
        assert 'data-confirm="Delete the schedule “nightly”' in page.text
        assert (await post(editor.browser, PAGE, f"{base}/delete", {})).status_code == 303
        assert await schedules(api) == []


async def test_an_interval_schedule_and_a_backfill_show_in_its_history(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        owner = await person(new_browser, api, "olga", share="owner")
        body = {"name": "hourly", "timing": "interval", "interval": "PT1H", "inputs": '{"name": "Bo"}'}
        assert (await post(owner.browser, PAGE, f"{PAGE}/schedules", body)).status_code == 303
        [schedule] = await schedules(api)
        assert schedule["interval_s"] == 3600
        backfilled = await post(
            owner.browser,
            PAGE,
            f"{PAGE}/schedules/{schedule['id']}/backfill",
            {"from": "2024-01-01T00:00", "to": "2024-01-01T02:00", "timezone": "UTC"},
        )
        assert backfilled.status_code == 303, text(backfilled.text)
        page = await owner.browser.get(PAGE)
        assert "Backfill: " in text(page.text)
        assert "job(s) created" in text(page.text)
        jobs = re.findall(r'href="/ui/jobs/([0-9a-f-]{36})"', page.text)
        fires = (await schedules(api))[0]["recent"]
        assert fires
        assert {f["job_id"] for f in fires} <= set(jobs)
        assert "backfill" in text(page.text)


async def test_a_bad_cron_shows_the_error_at_its_field_and_keeps_the_form(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        editor = await person(new_browser, api, "ed", share="editor")
        bad = await post(editor.browser, PAGE, f"{PAGE}/schedules", CRON | {"cron": "61 * * * *"})
        assert bad.status_code == 422
        assert field_error(bad.text, "s-cron")
        assert 'value="61 * * * *"' in bad.text
        assert '<details class="ops-create" open>' in bad.text
        json_bad = await post(editor.browser, PAGE, f"{PAGE}/schedules", CRON | {"inputs": "{name:"})
        assert json_bad.status_code == 422
        assert "not JSON" in field_error(json_bad.text, "s-inputs")
        zone_bad = await post(editor.browser, PAGE, f"{PAGE}/schedules", CRON | {"timezone": "Mars/Olympus"})
        assert zone_bad.status_code == 422
        assert field_error(zone_bad.text, "s-timezone")
        input_bad = await post(editor.browser, PAGE, f"{PAGE}/schedules", CRON | {"inputs": '{"name": 3}'})
        assert input_bad.status_code == 422
        assert field_error(input_bad.text, "s-inputs")
        assert await schedules(api) == []


async def test_a_trigger_is_created_with_its_secret_shown_once_rotated_paused_and_deleted(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        editor = await person(new_browser, api, "ed", share="editor")
        made = await post(
            editor.browser,
            PAGE,
            f"{PAGE}/triggers",
            {
                "name": "payments",
                "description": "card payments",
                "auth": "standard_webhooks",
                "inputs": '{"name": "{{ event.customer }}"}',
            },
        )
        assert made.status_code == 303, text(made.text)
        assert made.headers["location"] == PAGE
        shown = await editor.browser.get(PAGE)
        secret = re.search(r'<code id="new-secret">([^<]+)</code>', shown.text)
        assert secret is not None
        assert secret.group(1).startswith("whsec_")
        [trigger] = await triggers(api)
        assert trigger["name"] == "payments"
        assert trigger["description"] == "card payments"
        page = await editor.browser.get(PAGE)
        assert secret.group(1) not in page.text
        assert 'id="trigger-secret"' not in page.text
        assert f"/v1/hooks/{trigger['id']}" in page.text
        assert 'data-copy="#hook-' in page.text

        base = f"{PAGE}/triggers/{trigger['id']}"
        rotated = await post(editor.browser, PAGE, f"{base}/rotate-secret", {})
        assert rotated.status_code == 303
        shown = await editor.browser.get(PAGE)
        again = re.search(r'<code id="new-secret">([^<]+)</code>', shown.text)
        assert again is not None
        assert again.group(1) != secret.group(1)
        assert "keeps working for 24 hours" in text(shown.text)
        assert again.group(1) not in (await editor.browser.get(PAGE)).text
        assert (await post(editor.browser, PAGE, f"{base}/pause", {})).status_code == 303
        assert (await triggers(api))[0]["paused"] is True
        assert (await post(editor.browser, PAGE, f"{base}/resume", {})).status_code == 303
        assert (await triggers(api))[0]["paused"] is False
        assert (await post(editor.browser, PAGE, f"{base}/delete", {})).status_code == 303
        assert await triggers(api) == []


async def test_a_triggers_events_are_listed_with_their_jobs(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        editor = await person(new_browser, api, "ed", share="editor")
        made = await post(
            editor.browser, PAGE, f"{PAGE}/triggers", {"name": "bell", "auth": "bearer", "inputs": "{{ event }}"}
        )
        assert made.status_code == 303
        token = re.search(r'<code id="new-secret">([^<]+)</code>', (await editor.browser.get(PAGE)).text)
        assert token is not None
        [trigger] = await triggers(api)
        sent = await api.post(
            f"/v1/hooks/{trigger['id']}", json={"name": "Cy"}, headers={"Authorization": f"Bearer {token.group(1)}"}
        )
        assert sent.status_code == 202, sent.text
        page = await editor.browser.get(PAGE)
        assert f'href="/ui/jobs/{sent.json()["job_id"]}"' in page.text
        assert "Created" in text(page.text)


async def test_a_bad_trigger_mapping_shows_at_its_field(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        editor = await person(new_browser, api, "ed", share="editor")
        bad = await post(editor.browser, PAGE, f"{PAGE}/triggers", {"name": "x", "inputs": '{"name": "{{ nope( }}"}'})
        assert bad.status_code == 422
        assert field_error(bad.text, "t-inputs")
        not_json = await post(editor.browser, PAGE, f"{PAGE}/triggers", {"name": "x", "inputs": "plain"})
        assert not_json.status_code == 422
        assert field_error(not_json.text, "t-inputs")
        nameless = await post(editor.browser, PAGE, f"{PAGE}/triggers", {"name": ""})
        assert nameless.status_code == 422
        assert field_error(nameless.text, "t-name")
        assert await triggers(api) == []


async def test_viewers_and_runners_read_but_have_no_actions(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        made = await api.post(f"/v1/workflows/{SLUG}/schedules", json={"cron": "@daily", "inputs": {"name": "A"}})
        assert made.status_code == 201
        hook = await api.post(f"/v1/workflows/{SLUG}/triggers", json={"type": "webhook", "name": "bell"})
        assert hook.status_code == 201
        for role in ("viewer", "runner"):
            someone = await person(new_browser, api, role, share=role)
            page = await someone.browser.get(PAGE)
            assert page.status_code == 200
            assert "At 00:00" in text(page.text)
            assert "bell" in text(page.text)
            assert forms_posting_to(page.text, "/automation/") == [], role
            assert "New schedule" not in text(page.text)
            sid = made.json()["id"]
            for action in (
                f"{PAGE}/schedules/{sid}/pause",
                f"{PAGE}/schedules/{sid}/delete",
                f"{PAGE}/triggers/{hook.json()['id']}/delete",
                f"{PAGE}/triggers/{hook.json()['id']}/rotate-secret",
            ):
                assert (await post(someone.browser, PAGE, action, {})).status_code == 403, action
            assert (await post(someone.browser, PAGE, f"{PAGE}/schedules", CRON)).status_code == 403
            assert (await post(someone.browser, PAGE, f"{PAGE}/triggers", {"name": "x"})).status_code == 403
        assert len(await schedules(api)) == 1
        assert (await schedules(api))[0]["paused"] is False
        assert len(await triggers(api)) == 1
        stranger = await person(new_browser, api, "zed")
        assert (await stranger.browser.get(PAGE)).status_code == 404


async def test_without_the_csrf_token_nothing_changes(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        editor = await person(new_browser, api, "ed", share="editor")
        made = await api.post(f"/v1/workflows/{SLUG}/schedules", json={"cron": "@daily", "inputs": {"name": "A"}})
        sid = made.json()["id"]
        for action in (
            f"{PAGE}/schedules",
            f"{PAGE}/schedules/{sid}/pause",
            f"{PAGE}/schedules/{sid}/delete",
            f"{PAGE}/triggers",
        ):
            assert (await editor.browser.post(action, data=CRON | {"name": "x"})).status_code == 403, action
        assert [s["paused"] for s in await schedules(api)] == [False]
        assert await triggers(api) == []


async def test_an_unknown_action_is_404(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        editor = await person(new_browser, api, "ed", share="editor")
        made = await api.post(f"/v1/workflows/{SLUG}/schedules", json={"cron": "@daily", "inputs": {"name": "A"}})
        refused = await post(editor.browser, PAGE, f"{PAGE}/schedules/{made.json()['id']}/explode", {})
        assert refused.status_code == 404
        gone = await post(editor.browser, PAGE, f"{PAGE}/triggers/00000000-0000-0000-0000-000000000000/pause", {})
        assert gone.status_code == 404
