"""The people page: the workspace's owners and admins add users (the token shown once), change roles, remove
users, and revoke a user's tokens; members cannot; refusals change nothing."""

from __future__ import annotations

import re

import httpx

from tests.ui.forms import dashboard, sign_in
from tests.ui.ops_helpers import field_error, forms_posting_to, operator, person, post, text
from workflow_service.config import Settings


async def roles(api: httpx.AsyncClient) -> dict[str, str]:
    listing = await api.get("/v1/users", params={"limit": 200})
    assert listing.status_code == 200, listing.text
    return {u["email"]: u["role"] for u in listing.json()["items"]}


async def test_an_owner_adds_a_user_whose_token_signs_in(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        owner = await person(new_browser, api, "olga", role="owner")
        page = await owner.browser.get("/ui/people")
        assert page.status_code == 200
        assert "olga@example.com" in text(page.text)
        assert "Add a user" in text(page.text)
        added = await post(
            owner.browser, "/ui/people", "/ui/people", {"email": "bo@example.com", "name": "Bo", "role": "admin"}
        )
        assert added.status_code == 303
        assert added.headers["location"] == "/ui/people"
        shown = await owner.browser.get("/ui/people")
        assert "Bo (bo@example.com) added as admin." in text(shown.text)
        token = re.search(r'<code id="new-token">([^<]+)</code>', shown.text)
        assert token is not None
        assert token.group(1).startswith("wfs_pat_")
        assert (await roles(api))["bo@example.com"] == "admin"
        again = await owner.browser.get("/ui/people")
        assert token.group(1) not in again.text  # shown once
        bo = new_browser()
        assert (await sign_in(bo, token.group(1))).status_code == 303
        assert (await bo.get("/ui/people")).status_code == 200


async def test_an_owner_changes_a_role_and_removes_a_user(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        owner = await person(new_browser, api, "olga", role="owner")
        bo = await person(new_browser, api, "bo")
        changed = await post(owner.browser, "/ui/people", f"/ui/people/{bo.id}/role", {"role": "admin"})
        assert changed.status_code == 303
        assert (await roles(api))["bo@example.com"] == "admin"
        page = await owner.browser.get("/ui/people")
        assert "Role changed to admin." in text(page.text)
        assert 'data-confirm="Remove bo@example.com from the workspace?' in page.text
        removed = await post(owner.browser, "/ui/people", f"/ui/people/{bo.id}/remove", {})
        assert removed.status_code == 303
        assert "bo@example.com" not in await roles(api)
        assert (await bo.browser.get("/ui/people")).status_code == 303  # the session ended with the membership


async def test_a_users_tokens_are_listed_and_revoked(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        admin = await person(new_browser, api, "ada", role="admin")
        bo = await person(new_browser, api, "bo")
        page = await admin.browser.get(f"/ui/people/{bo.id}")
        assert page.status_code == 200
        assert "initial" in text(page.text)
        assert "Active" in text(page.text)
        tokens = (await api.get(f"/v1/users/{bo.id}/tokens")).json()["items"]
        action = f"/ui/people/{bo.id}/tokens/{tokens[0]['id']}/revoke"
        assert action in forms_posting_to(page.text, "/revoke")
        revoked = await post(admin.browser, f"/ui/people/{bo.id}", action, {})
        assert revoked.status_code == 303
        assert (await api.get(f"/v1/users/{bo.id}/tokens")).json()["items"][0]["revoked_at"] is not None
        assert "Revoked" in text((await admin.browser.get(f"/ui/people/{bo.id}")).text)
        assert (await bo.browser.get("/ui/account")).status_code == 303  # signed out: the token is revoked
        again = await post(admin.browser, f"/ui/people/{bo.id}", f"/ui/people/{bo.id}/tokens/nope/revoke", {})
        assert again.status_code in (404, 422)


async def test_the_operator_manages_people(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        op = await operator(new_browser)
        added = await post(op, "/ui/people", "/ui/people", {"email": "cy@example.com", "name": "Cy", "role": "owner"})
        assert added.status_code == 303
        assert (await roles(api)) == {"cy@example.com": "owner"}


async def test_a_member_may_not_open_or_use_the_page(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        member = await person(new_browser, api, "mo")
        other = await person(new_browser, api, "bo")
        page = await member.browser.get("/ui/people")
        assert page.status_code == 403
        account = await member.browser.get("/ui/account")
        assert 'href="/ui/people"' not in account.text  # not in the navigation
        for action, data in (
            ("/ui/people", {"email": "x@example.com", "name": "X", "role": "owner"}),
            (f"/ui/people/{other.id}/role", {"role": "owner"}),
            (f"/ui/people/{other.id}/remove", {}),
        ):
            refused = await post(member.browser, "/ui/account", action, data)
            assert refused.status_code == 403, action
        assert await roles(api) == {"mo@example.com": "member", "bo@example.com": "member"}
        assert (await member.browser.get(f"/ui/people/{other.id}")).status_code == 403


async def test_an_admin_may_not_touch_an_owner(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        owner = await person(new_browser, api, "olga", role="owner")
        admin = await person(new_browser, api, "ada", role="admin")
        refused = await post(admin.browser, "/ui/people", f"/ui/people/{owner.id}/role", {"role": "member"})
        assert refused.status_code == 403
        assert "only workspace owners may make, change or remove owners" in text(refused.text)
        removed = await post(admin.browser, "/ui/people", f"/ui/people/{owner.id}/remove", {})
        assert removed.status_code == 403
        assert (await roles(api))["olga@example.com"] == "owner"


async def test_without_the_csrf_token_nothing_changes(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        owner = await person(new_browser, api, "olga", role="owner")
        bo = await person(new_browser, api, "bo")
        for action, data in (
            ("/ui/people", {"email": "x@example.com", "name": "X"}),
            (f"/ui/people/{bo.id}/role", {"role": "owner"}),
            (f"/ui/people/{bo.id}/remove", {}),
        ):
            assert (await owner.browser.post(action, data=data)).status_code == 403, action
        assert await roles(api) == {"olga@example.com": "owner", "bo@example.com": "member"}


async def test_bad_input_shows_the_error_at_its_field(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        owner = await person(new_browser, api, "olga", role="owner")
        bad = await post(owner.browser, "/ui/people", "/ui/people", {"email": "not-an-email", "name": "X"})
        assert bad.status_code == 422
        assert field_error(bad.text, "user-email")
        assert 'value="not-an-email"' in bad.text
        nameless = await post(owner.browser, "/ui/people", "/ui/people", {"email": "x@example.com", "name": ""})
        assert nameless.status_code == 422
        assert "a name is needed" in field_error(nameless.text, "user-name")
        taken = await post(owner.browser, "/ui/people", "/ui/people", {"email": "olga@example.com", "name": "O"})
        assert taken.status_code == 409
        last = await post(owner.browser, "/ui/people", f"/ui/people/{owner.id}/role", {"role": "member"})
        assert last.status_code == 409
        assert await roles(api) == {"olga@example.com": "owner"}
