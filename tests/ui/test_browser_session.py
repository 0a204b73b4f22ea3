"""Signing in and out in a real browser, on a wide screen and a phone, in both modes: the token form, a refused
token, the menu, the keyboard, and signing out ending the session."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.client.conftest import Service
from tests.ui.browser import distributed_only, screenshot, sign_in
from tests.ui.people import users
from tests.ui.watch import Watch


def test_sign_in_then_out_with_a_personal_token(page: Page, service: Service) -> None:
    (person,) = users(service, "admin")
    page.goto(f"{service.url}/ui/account")
    expect(page).to_have_url(f"{service.url}/ui/sign-in?next=/ui/account")
    screenshot(page, "sign-in")
    page.get_by_label("Token").fill(person.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{service.url}/ui/account")
    expect(page.locator("main")).to_contain_text(person.email)
    expect(page.locator(".who")).to_contain_text("admin")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{service.url}/ui/sign-in")
    page.goto(f"{service.url}/ui/account")
    expect(page).to_have_url(f"{service.url}/ui/sign-in?next=/ui/account")


@distributed_only
def test_a_refused_token_says_why_and_the_form_stays(page: Page, watch: Watch, service: Service) -> None:
    watch.expect(status=401, path="/ui/sign-in")
    page.goto(f"{service.url}/ui/sign-in")
    page.get_by_label("Token").fill("wfs_pat_0123456789ab_" + "x" * 40)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in-error")).to_contain_text("not valid")
    expect(page.get_by_label("Token")).to_be_visible()


@distributed_only
def test_the_operator_signs_in_by_keyboard_alone(page: Page, service: Service) -> None:
    page.goto(f"{service.url}/ui/sign-in")
    expect(page.get_by_label("Token")).to_be_focused()
    page.keyboard.type(service.token)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{service.url}/ui/jobs")
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.locator("a.skip")).to_be_focused()


@distributed_only
def test_on_a_phone_the_navigation_is_a_menu(phone: Page, service: Service) -> None:
    sign_in(phone, service.url, service.token)
    phone.goto(f"{service.url}/ui/account")
    nav = phone.get_by_role("navigation", name="Main")
    expect(nav).to_be_hidden()
    phone.locator("#menu > summary").click()
    expect(nav).to_be_visible()
    expect(nav.get_by_role("link", name="Workflows")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
    screenshot(phone, "phone-account")
