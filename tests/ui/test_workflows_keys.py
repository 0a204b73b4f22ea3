"""A workflow's API keys page: the list, a new key shown once (and working against the sync endpoint), revoking,
and who may do so."""

from __future__ import annotations

import re

from tests.conftest import WorkerFactory
from tests.ui.forms import post_form
from tests.ui.workflows_helpers import page, read, world
from workflow_service.config import Settings

KEY = re.compile(r'<code id="new-key">([^<]+)</code>')


async def test_a_new_key_is_shown_once_and_calls_the_sync_endpoint(
    settings: Settings, start_worker: WorkerFactory
) -> None:
    await start_worker()
    async with world(settings) as w:
        await w.workflow("greeter")
        editor = await w.person("ed@example.com", "editor")
        data = {"name": "billing", "expires_in_days": "30"}
        posted = await post_form(editor, "/ui/workflows/greeter/keys", "/ui/workflows/greeter/keys", data)
        assert posted.status_code == 303  # reloading the page that follows creates no second key
        created = await editor.get(posted.headers["location"])
        found = KEY.search(created.text)
        assert found is not None
        key = found.group(1)
        again = await page(editor, "/ui/workflows/greeter/keys")
        keys_listed = len((await w.api.get("/v1/workflows/greeter/api-keys")).json()["items"])
        called = await w.api.post(
            "/v1/workflows/greeter/versions/current/sync",
            json={"inputs": {"name": "Ada"}},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    assert "Copy and close" in read(created.text).buttons
    assert key.startswith("wfs_key_")
    assert key not in again.html  # shown once: never again
    assert keys_listed == 1
    assert "billing" in again.text
    assert key[:20] in again.text  # its prefix, to tell it apart
    assert "Active" in again.text
    assert called.status_code == 200
    assert called.json()["output"] == {"greeting": "Hello, Ada!"}


async def test_a_key_is_revoked_and_then_refused(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        made = (await w.api.post("/v1/workflows/greeter/api-keys", json={"name": "old"})).json()
        browser = await w.operator()
        shown = await page(browser, "/ui/workflows/greeter/keys")
        action = f"/ui/workflows/greeter/keys/{made['id']}/revoke"
        assert shown.posts_to(action)
        assert 'data-confirm="Revoke the API key “old”?' in shown.html
        answer = await post_form(browser, "/ui/workflows/greeter/keys", action, {})
        listed = (await w.api.get("/v1/workflows/greeter/api-keys")).json()["items"]
        refused = await w.api.post(
            "/v1/workflows/greeter/versions/current/async",
            json={"inputs": {"name": "Ada"}},
            headers={"Authorization": f"Bearer {made['key']}"},
        )
    assert answer.status_code == 303
    assert listed == []
    assert refused.status_code == 401


async def test_a_key_without_a_name_is_refused_at_its_path_and_nothing_is_made(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        data = {"name": "", "expires_in_days": "never"}
        answer = await post_form(browser, "/ui/workflows/greeter/keys", "/ui/workflows/greeter/keys", data)
        listed = (await w.api.get("/v1/workflows/greeter/api-keys")).json()["items"]
    assert answer.status_code == 422
    assert "$.name" in read(answer.text).text
    assert listed == []


async def test_viewers_and_runners_may_not_manage_keys(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        made = (await w.api.post("/v1/workflows/greeter/api-keys", json={"name": "kept"})).json()
        runner = await w.person("runner@example.com", "runner")
        editor = await w.person("ed@example.com", "editor")
        denied = await runner.get("/ui/workflows/greeter/keys")
        runner_page = await runner.get("/ui/account")
        runner_token = runner_page.text.split('name="csrf_token" value="')[1].split('"')[0]
        forged = await runner.post("/ui/workflows/greeter/keys", data={"csrf_token": runner_token, "name": "mine"})
        revoked = await runner.post(
            f"/ui/workflows/greeter/keys/{made['id']}/revoke", data={"csrf_token": runner_token}
        )
        no_csrf = await editor.post("/ui/workflows/greeter/keys", data={"name": "forged"})
        listed = (await w.api.get("/v1/workflows/greeter/api-keys")).json()["items"]
    assert denied.status_code == 403
    assert forged.status_code == 403
    assert revoked.status_code == 403
    assert no_csrf.status_code == 403
    assert [k["name"] for k in listed] == ["kept"]
