"""The sharing page of a workflow: members shown to whoever may read them; its owners invite, change roles and
remove; refusals (CSRF, roles, bad input) change nothing."""

from __future__ import annotations

import httpx

from tests.ui.forms import dashboard
from tests.ui.ops_helpers import SLUG, field_error, forms_posting_to, greeter, operator, person, post, text
from workflow_service.config import Settings

PAGE = f"/ui/workflows/{SLUG}/sharing"


async def members(api: httpx.AsyncClient) -> dict[str, str]:
    listing = await api.get(f"/v1/workflows/{SLUG}/members")
    assert listing.status_code == 200, listing.text
    return {m["email"]: m["role"] for m in listing.json()["items"]}


async def test_an_owner_invites_changes_a_role_and_removes(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        owner = await person(new_browser, api, "olga", share="owner")
        bo = await person(new_browser, api, "bo")

        page = await owner.browser.get(PAGE)
        assert page.status_code == 200
        assert "Invite" in text(page.text)
        assert "olga@example.com" in text(page.text)

        invited = await post(owner.browser, PAGE, f"{PAGE}/invite", {"email": "BO@example.com", "role": "runner"})
        assert invited.status_code == 303, text(invited.text)
        assert await members(api) == {"olga@example.com": "owner", "bo@example.com": "runner"}
        shown = await owner.browser.get(PAGE)
        assert "Shared with BO@example.com as runner." in text(shown.text)
        assert f"{PAGE}/{bo.id}/remove" in forms_posting_to(shown.text, "/remove")

        changed = await post(owner.browser, PAGE, f"{PAGE}/{bo.id}/role", {"role": "editor"})
        assert changed.status_code == 303
        assert (await members(api))["bo@example.com"] == "editor"

        page = await owner.browser.get(PAGE)
        assert 'data-confirm="Remove bo@example.com' in page.text
        removed = await post(owner.browser, PAGE, f"{PAGE}/{bo.id}/remove", {})
        assert removed.status_code == 303
        assert "bo@example.com" not in await members(api)
        assert (await bo.browser.get(PAGE)).status_code == 404


async def test_the_operator_and_a_workspace_admin_share_and_get_user_suggestions(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        admin = await person(new_browser, api, "ada", role="admin")
        await person(new_browser, api, "cy")
        page = await admin.browser.get(PAGE)
        assert page.status_code == 200
        assert '<option value="cy@example.com">' in page.text  # the workspace's users offered
        op = await operator(new_browser)
        done = await post(op, PAGE, f"{PAGE}/invite", {"email": "cy@example.com", "role": "viewer"})
        assert done.status_code == 303
        assert await members(api) == {"cy@example.com": "viewer"}


async def test_viewers_runners_and_editors_see_members_without_sharing_actions(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        for role in ("viewer", "runner", "editor"):
            someone = await person(new_browser, api, f"{role}1", share=role)
            page = await someone.browser.get(PAGE)
            assert page.status_code == 200, role
            assert f"{role}1@example.com" in text(page.text)
            assert forms_posting_to(page.text, "/sharing/") == [], role
            assert "invite-title" not in page.text


async def test_a_forged_invite_by_an_editor_is_refused_and_changes_nothing(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        editor = await person(new_browser, api, "ed", share="editor")
        await person(new_browser, api, "cy")
        refused = await post(editor.browser, PAGE, f"{PAGE}/invite", {"email": "cy@example.com", "role": "owner"})
        assert refused.status_code == 403
        assert "flash-error" in refused.text
        assert await members(api) == {"ed@example.com": "editor"}
        demoted = await post(editor.browser, PAGE, f"{PAGE}/{editor.id}/role", {"role": "viewer"})
        assert demoted.status_code == 403
        removed = await post(editor.browser, PAGE, f"{PAGE}/{editor.id}/remove", {})
        assert removed.status_code == 403
        assert await members(api) == {"ed@example.com": "editor"}


async def test_a_member_not_invited_gets_404(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        stranger = await person(new_browser, api, "zed")
        assert (await stranger.browser.get(PAGE)).status_code == 404
        forged = await post(stranger.browser, "/ui/account", f"{PAGE}/invite", {"email": "zed@example.com"})
        assert forged.status_code == 404
        assert await members(api) == {}


async def test_without_the_csrf_token_nothing_changes(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        owner = await person(new_browser, api, "olga", share="owner")
        bo = await person(new_browser, api, "bo", share="viewer")
        for action, data in (
            (f"{PAGE}/invite", {"email": "olga@example.com", "role": "viewer"}),
            (f"{PAGE}/{bo.id}/role", {"role": "owner"}),
            (f"{PAGE}/{bo.id}/remove", {}),
        ):
            refused = await owner.browser.post(action, data=data)
            assert refused.status_code == 403, action
            wrong = await owner.browser.post(action, data={"csrf_token": "forged", **data})
            assert wrong.status_code == 403, action
        assert await members(api) == {"olga@example.com": "owner", "bo@example.com": "viewer"}


async def test_bad_input_shows_the_error_and_keeps_what_was_typed(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        owner = await person(new_browser, api, "olga", share="owner")
        unknown = await post(owner.browser, PAGE, f"{PAGE}/invite", {"email": "nobody@example.com", "role": "editor"})
        assert unknown.status_code == 404
        assert "is not a member of this workspace" in text(unknown.text)
        assert 'value="nobody@example.com"' in unknown.text
        assert '<option value="editor" selected>' in unknown.text

        empty = await post(owner.browser, PAGE, f"{PAGE}/invite", {"email": " ", "role": "viewer"})
        assert empty.status_code == 422
        assert "email address" in field_error(empty.text, "invite-email")

        await person(new_browser, api, "cy")
        bad_role = await post(owner.browser, PAGE, f"{PAGE}/invite", {"email": "cy@example.com", "role": "boss"})
        assert bad_role.status_code == 422
        assert field_error(bad_role.text, "invite-role")
        assert await members(api) == {"olga@example.com": "owner"}
