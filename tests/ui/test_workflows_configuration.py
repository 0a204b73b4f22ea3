"""A workflow's configuration page: details, the sync/async setup (its ranges, push with a write-only access token
and its signing secret shown once, a refused callback URL), retention, and environment variables (secure values
never shown); what viewers see and what is refused."""

from __future__ import annotations

from tests.ui.forms import post_form
from tests.ui.workflows_helpers import page, read, with_secret_key, world
from workflow_service.config import Settings

CONFIG = "/ui/workflows/greeter/configuration"
SETUP = {
    "sync_timeout_s": "120",
    "queue_timeout_s": "",
    "callback_url": "",
    "access_token": "",
    "push_timeout": "set",
    "push_timeout_s": "180",
    "retention": "default",
    "retention_days": "",
}


async def test_details_are_saved_and_the_draft_stays_as_it_was(settings: Settings) -> None:
    async with world(settings) as w:
        before = await w.workflow("greeter")
        browser = await w.operator()
        data = {"name": "Greeter Two", "description": "Says hello"}
        answer = await post_form(browser, CONFIG, f"{CONFIG}/details", data)
        after = (await w.api.get("/v1/workflows/greeter")).json()
        refused = await post_form(browser, CONFIG, f"{CONFIG}/details", {"name": "", "description": "x"})
        unchanged = (await w.api.get("/v1/workflows/greeter")).json()
    assert answer.status_code == 303
    assert after["name"] == "Greeter Two"
    assert after["description"] == "Says hello"
    assert after["draft"] == before["draft"]
    assert refused.status_code == 422
    assert "$.name" in read(refused.text).text
    assert unchanged["description"] == "Says hello"


async def test_the_sync_timeout_is_saved_and_one_out_of_its_range_refused_at_its_path(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        shown = await page(browser, CONFIG)
        saved = await post_form(browser, CONFIG, f"{CONFIG}/settings", SETUP)
        after = (await w.api.get("/v1/workflows/greeter/settings")).json()
        refused = await post_form(browser, CONFIG, f"{CONFIG}/settings", {**SETUP, "sync_timeout_s": "30"})
        unchanged = (await w.api.get("/v1/workflows/greeter/settings")).json()
    assert "60 to 300 seconds (default 180)" in shown.text
    assert saved.status_code == 303
    assert after["sync_timeout_s"] == 120
    assert refused.status_code == 422
    assert "$.sync_timeout_s" in read(refused.text).text
    assert 'value="30"' in refused.text  # what was typed is kept
    assert unchanged["sync_timeout_s"] == 120


async def test_enabling_push_shows_the_signing_secret_once_and_never_the_access_token(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        push = {**SETUP, "push_enabled": "1", "callback_url": "http://127.0.0.1:9/hook", "access_token": "tok-123"}
        answer = await post_form(browser, CONFIG, f"{CONFIG}/settings", {**push, "push_timeout": "none"})
        after = (await w.api.get("/v1/workflows/greeter/settings")).json()
        again = await page(browser, CONFIG)
    assert answer.status_code == 200
    assert "whsec_" in answer.text
    assert "Copy and close" in read(answer.text).buttons
    assert after["push"]["enabled"] is True
    assert after["push"]["has_access_token"] is True
    assert after["push"]["timeout_s"] is None
    assert "tok-123" not in answer.text
    assert "tok-123" not in again.html
    assert "whsec_" not in again.html
    assert "A token is set: leave empty to keep it" in again.html


async def test_a_refused_callback_url_changes_nothing_and_is_shown_at_its_path(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        push = {**SETUP, "push_enabled": "1", "callback_url": "http://10.1.2.3/hook", "access_token": "tok-zz-789"}
        answer = await post_form(browser, CONFIG, f"{CONFIG}/settings", push)
        after = (await w.api.get("/v1/workflows/greeter/settings")).json()
    assert answer.status_code == 422
    assert "$.push.callback_url" in read(answer.text).text
    assert 'value="http://10.1.2.3/hook"' in answer.text
    assert "tok-zz-789" not in answer.text  # the token is not typed back
    assert after["push"]["enabled"] is False
    assert after["push"]["callback_url"] is None


async def test_retention_is_days_forever_or_the_workspaces_default(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        await post_form(browser, CONFIG, f"{CONFIG}/settings", {**SETUP, "retention": "days", "retention_days": "30"})
        days = (await w.api.get("/v1/workflows/greeter/settings")).json()
        await post_form(browser, CONFIG, f"{CONFIG}/settings", {**SETUP, "retention": "forever"})
        forever = (await w.api.get("/v1/workflows/greeter/settings")).json()
        await post_form(browser, CONFIG, f"{CONFIG}/settings", SETUP)
        default = (await w.api.get("/v1/workflows/greeter/settings")).json()
    assert days["retention_days"] == 30
    assert forever["retention_days"] == "forever"
    assert default["retention_days"] is None


async def test_environment_variables_are_added_edited_and_deleted_secure_values_never_shown(
    settings: Settings,
) -> None:
    async with world(with_secret_key(settings)) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        plain = {"name": "REGION", "value": "eu-west", "notes": "where reports go"}
        assert (await post_form(browser, CONFIG, f"{CONFIG}/env", plain)).status_code == 303
        secure = {"name": "API_TOKEN", "value": "s3cr3t-value", "secure": "1", "notes": ""}
        assert (await post_form(browser, CONFIG, f"{CONFIG}/env", secure)).status_code == 303
        shown = await page(browser, CONFIG)
        edit = {"value": "us-east", "notes": "moved"}
        edited = await post_form(browser, CONFIG, f"{CONFIG}/env/REGION", edit)
        keep_secret = await post_form(browser, CONFIG, f"{CONFIG}/env/API_TOKEN", {"value": "", "secure": "1"})
        taken = await post_form(browser, CONFIG, f"{CONFIG}/env", {**plain, "value": "other"})
        bad_name = await post_form(browser, CONFIG, f"{CONFIG}/env", {**plain, "name": "lower-case"})
        variables = {v["name"]: v for v in (await w.api.get("/v1/workflows/greeter/env")).json()["items"]}
        deleted = await post_form(browser, CONFIG, f"{CONFIG}/env/REGION/delete", {})
        left = [v["name"] for v in (await w.api.get("/v1/workflows/greeter/env")).json()["items"]]
    assert "eu-west" in shown.text
    assert "where reports go" in shown.text
    assert "s3cr3t-value" not in shown.html
    assert "hidden (set)" in shown.text
    assert "encrypted where it is stored and never shown again" in shown.text  # the secure toggle's warning
    assert edited.status_code == 303
    assert variables["REGION"]["value"] == "us-east"
    assert variables["REGION"]["notes"] == "moved"
    assert keep_secret.status_code == 422
    assert "enter the value again" in read(keep_secret.text).text
    assert taken.status_code == 409
    assert "already exists" in read(taken.text).text
    assert bad_name.status_code == 422
    assert variables["API_TOKEN"]["secure"] is True
    assert deleted.status_code == 303
    assert left == ["API_TOKEN"]


async def test_a_secure_variable_without_a_secret_key_is_the_apis_refusal(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        answer = await post_form(browser, CONFIG, f"{CONFIG}/env", {"name": "T", "value": "v", "secure": "1"})
        listed = (await w.api.get("/v1/workflows/greeter/env")).json()["items"]
    assert answer.status_code == 409
    assert "WFS_SECRET_KEY" in read(answer.text).text
    assert 'value="v"' not in answer.text  # a secure value is not typed back
    assert listed == []


async def test_viewers_read_the_configuration_without_forms_or_secrets(settings: Settings) -> None:
    async with world(with_secret_key(settings)) as w:
        await w.workflow("greeter")
        for name, value, secure in (("REGION", "eu", False), ("TOKEN", "hidden-value", True)):
            body = {"value": value, "secure": secure}
            assert (await w.api.put(f"/v1/workflows/greeter/env/{name}", json=body)).status_code == 201
        viewer = await w.person("viewer@example.com", "viewer")
        shown = await page(viewer, CONFIG)
        forged = await post_form(viewer, CONFIG, f"{CONFIG}/env/REGION/delete", {})
        forged_settings = await post_form(viewer, CONFIG, f"{CONFIG}/settings", SETUP)
        left = [v["name"] for v in (await w.api.get("/v1/workflows/greeter/env")).json()["items"]]
        kept = (await w.api.get("/v1/workflows/greeter/settings")).json()
    assert shown.forms == ["/ui/sign-out"]
    assert "REGION" in shown.text
    assert "hidden-value" not in shown.html
    assert "Sync timeout" in shown.text
    assert "Export" not in shown.buttons
    assert forged.status_code == 403
    assert forged_settings.status_code == 403
    assert left == ["REGION", "TOKEN"]
    assert kept["sync_timeout_s"] == 180


async def test_a_form_without_its_csrf_token_changes_nothing(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        answer = await browser.post(f"{CONFIG}/env", data={"name": "X", "value": "1"})
        details = await browser.post(f"{CONFIG}/details", data={"name": "Renamed"})
        listed = (await w.api.get("/v1/workflows/greeter/env")).json()["items"]
        workflow = (await w.api.get("/v1/workflows/greeter")).json()
    assert answer.status_code == 403
    assert details.status_code == 403
    assert listed == []
    assert workflow["name"] == "Greeter"
