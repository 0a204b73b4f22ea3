"""A workflow's endpoint page: the sync, async and push URLs of the current version and of a pinned one, a curl for
each with a `$WFS_TOKEN` placeholder, the push tab's state, and Deploy for editors."""

from __future__ import annotations

from tests.conftest import TOKEN
from tests.ui.forms import post_form
from tests.ui.workflows_helpers import page, read, world
from workflow_service.config import Settings


async def test_the_current_versions_urls_each_with_a_curl_and_copy_buttons(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        sync = await page(browser, "/ui/workflows/greeter/endpoint")
        poll = await page(browser, "/ui/workflows/greeter/endpoint?tab=async")
    assert "http://testserver/v1/workflows/greeter/versions/current/sync" in sync.text
    assert "Authorization: Bearer $WFS_TOKEN" in sync.text
    assert '{"inputs": {"name": "text"}}' in sync.text  # an example of the version's inputs
    assert TOKEN not in sync.html
    assert {"Copy URL", "Copy curl"} <= set(sync.buttons)
    assert "http://testserver/v1/workflows/greeter/versions/current/async" in poll.text
    assert "/v1/jobs/$JOB_ID" in poll.text


async def test_a_pinned_version_shows_its_own_urls(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        assert (await w.api.post("/v1/workflows/greeter/deploy")).status_code == 201
        browser = await w.operator()
        pinned = await page(browser, "/ui/workflows/greeter/endpoint?version=1&tab=push")
    assert "http://testserver/v1/workflows/greeter/versions/1/push" in pinned.text
    assert "versions/current/" not in pinned.text
    assert "version 1 only" in pinned.text
    assert "version 2 only (current)" in pinned.text


async def test_the_push_tab_says_whether_push_is_configured_and_links_to_its_settings(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        browser = await w.operator()
        before = await page(browser, "/ui/workflows/greeter/endpoint?tab=push")
        push = {"enabled": True, "callback_url": "http://127.0.0.1:9/hook", "access_token": "their-token"}
        assert (await w.api.patch("/v1/workflows/greeter/settings", json={"push": push})).status_code == 200
        after = await page(browser, "/ui/workflows/greeter/endpoint?tab=push")
    assert "not configured" in before.text
    assert 'href="/ui/workflows/greeter/configuration#push"' in before.html
    assert "configured" in after.text
    assert "not configured" not in after.text
    assert "http://127.0.0.1:9/hook" in after.text
    assert "their-token" not in after.html  # the access token is never shown


async def test_an_editor_deploys_from_the_endpoint_page(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter", deploy=False)
        editor = await w.person("ed@example.com", "editor")
        before = await page(editor, "/ui/workflows/greeter/endpoint")
        answer = await post_form(editor, "/ui/workflows/greeter/endpoint", "/ui/workflows/greeter/endpoint/deploy", {})
        after = await page(editor, answer.headers["location"])
        stored = (await w.api.get("/v1/workflows/greeter")).json()
    assert "not deployed" in before.text
    assert "Deploy" in before.buttons
    assert answer.status_code == 303
    assert stored["current_version"] == 1
    assert "Version 1 deployed" in after.text
    assert "versions/current/sync" in after.text


async def test_a_draft_with_problems_is_refused_with_its_paths_and_nothing_is_deployed(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        broken = {"definition": {"steps": [{"id": "a", "type": "nope"}]}}
        assert (await w.api.put("/v1/workflows/greeter/draft", json=broken)).status_code == 200
        browser = await w.operator()
        changed = await page(browser, "/ui/workflows/greeter/endpoint")
        answer = await post_form(browser, "/ui/workflows/greeter/endpoint", "/ui/workflows/greeter/endpoint/deploy", {})
        versions = (await w.api.get("/v1/workflows/greeter/versions")).json()["items"]
    assert "The draft has changes that are not deployed." in changed.text
    assert answer.status_code == 422
    assert "$.steps[0].type" in read(answer.text).text
    assert len(versions) == 1


async def test_viewers_see_the_urls_but_no_deploy_and_a_forged_deploy_is_refused(settings: Settings) -> None:
    async with world(settings) as w:
        await w.workflow("greeter")
        assert (await w.api.put("/v1/workflows/greeter/draft", json={"definition": {"steps": []}})).status_code == 200
        viewer = await w.person("viewer@example.com", "viewer")
        shown = await page(viewer, "/ui/workflows/greeter/endpoint")
        forged = await post_form(viewer, "/ui/workflows/greeter/endpoint", "/ui/workflows/greeter/endpoint/deploy", {})
        no_token = await viewer.post("/ui/workflows/greeter/endpoint/deploy")
        versions = (await w.api.get("/v1/workflows/greeter/versions")).json()["items"]
    assert "versions/current/sync" in shown.text
    assert not shown.posts_to("/endpoint/deploy")
    assert forged.status_code == 403
    assert no_token.status_code == 403
    assert len(versions) == 1
