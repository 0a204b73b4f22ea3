"""A secret just made (a trigger's signing secret, a new user's token) reaches the page the form redirects to in a
cookie of its own, and is shown there once: the cookie is HTTP-only, same-site strict, for that page only, short
lived, and deleted by the page that shows it; a cookie that does not hold what the page needs shows nothing."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_settings
from tests.ui.forms import dashboard
from tests.ui.ops_helpers import SLUG, greeter, operator, person, post
from workflow_service.config import Settings
from workflow_service.ui.pages.once import LIFETIME_S, ONCE_COOKIE

PAGE = f"/ui/workflows/{SLUG}/automation"
SECRET = re.compile(r'<code id="new-secret">([^<]+)</code>')


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    """With WFS_SECRET_KEY: signing secrets are stored encrypted with it."""
    return make_settings(secret_key=SecretStr(Fernet.generate_key().decode()))


def cookie_attributes(set_cookie: str) -> dict[str, str]:
    """The attributes of one Set-Cookie header, names lower-cased (a flag's value is '')."""
    parts = [part.strip() for part in set_cookie.split(";")[1:]]
    return {name.lower(): value for name, _, value in (part.partition("=") for part in parts)}


async def test_the_secret_travels_in_a_strict_http_only_cookie_for_its_page_only(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        browser = await operator(new_browser)

        made = await post(browser, PAGE, f"{PAGE}/triggers", {"name": "orders", "auth": "standard_webhooks"})

        assert made.status_code == 303
        [set_cookie] = [h for h in made.headers.get_list("set-cookie") if h.startswith(f"{ONCE_COOKIE}=")]
        attributes = cookie_attributes(set_cookie)
        assert attributes["path"] == PAGE
        assert attributes["samesite"] == "strict"
        assert "httponly" in attributes
        assert attributes["max-age"] == str(LIFETIME_S)
        elsewhere = await browser.get("/ui/people")
        assert "new-secret" not in elsewhere.text
        assert ONCE_COOKIE in browser.cookies


async def test_the_page_that_shows_the_secret_deletes_its_cookie(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        browser = await operator(new_browser)
        await post(browser, PAGE, f"{PAGE}/triggers", {"name": "orders", "auth": "bearer"})

        shown = await browser.get(PAGE)

        found = SECRET.search(shown.text)
        assert found is not None
        [deleted] = [h for h in shown.headers.get_list("set-cookie") if h.startswith(f"{ONCE_COOKIE}=")]
        assert cookie_attributes(deleted)["max-age"] == "0"
        assert ONCE_COOKIE not in browser.cookies
        again = await browser.get(PAGE)
        assert found.group(1) not in again.text
        assert 'id="trigger-secret"' not in again.text


async def test_another_person_never_sees_the_secret(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        editor = await person(new_browser, api, "ed", share="editor")
        browser = await operator(new_browser)
        await post(browser, PAGE, f"{PAGE}/triggers", {"name": "orders", "auth": "bearer"})

        theirs = await editor.browser.get(PAGE)

        assert theirs.status_code == 200
        assert 'id="trigger-secret"' not in theirs.text
        assert SECRET.search((await browser.get(PAGE)).text) is not None


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        quote(json.dumps(["a", "list"])),
        quote(json.dumps({"name": "orders", "secret": "whsec_x"})),  # no url, auth, new
        quote(json.dumps({"name": "orders", "url": "u", "secret": {"a": 1}, "auth": "bearer", "new": True})),
    ],
)
async def test_a_cookie_without_what_the_page_needs_shows_nothing(settings: Settings, value: str) -> None:
    async with dashboard(settings) as (new_browser, api):
        await greeter(api)
        browser = await operator(new_browser)
        browser.cookies.set(ONCE_COOKIE, value, domain="testserver.local", path=PAGE)  # as the jar files the host

        page = await browser.get(PAGE)

        assert page.status_code == 200
        assert 'id="trigger-secret"' not in page.text
        assert ONCE_COOKIE not in browser.cookies


async def test_a_new_users_token_is_shown_once_after_the_redirect(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, _api):
        browser = await operator(new_browser)

        added = await post(browser, "/ui/people", "/ui/people", {"email": "cy@example.com", "name": "Cy"})

        assert added.status_code == 303
        [set_cookie] = [h for h in added.headers.get_list("set-cookie") if h.startswith(f"{ONCE_COOKIE}=")]
        assert cookie_attributes(set_cookie)["path"] == "/ui/people"
        shown = await browser.get("/ui/people")
        token = re.search(r'<code id="new-token">([^<]+)</code>', shown.text)
        assert token is not None
        assert "Cy (cy@example.com) added as member." in shown.text
        again = await browser.get("/ui/people")
        assert token.group(1) not in again.text
        assert 'id="created-user"' not in again.text
