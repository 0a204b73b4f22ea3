"""The dashboard's ops pages in a real browser, against the service as real processes: sharing a workflow and what
the new member then sees, the monitor after jobs ran, the audit log, schedules and triggers, people. The monitor and
the audit log are also read on a phone: the page itself never scrolls sideways, its tables do in their frame."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.client.conftest import Service, deployed_greeter
from tests.ui.browser import TIMEOUT_MS, distributed_only, screenshot, sign_in
from tests.ui.people import share_workflow, users
from tests.ui.watch import Watch
from wfs_client import ApiError, Client, models

PHONE_WIDTH = 390
EDITING = (
    "Deploy",
    "Save draft",
    "Delete",
    "Delete workflow",
    "Invite",
    "Change role",
    "Remove",
    "Create schedule",
    "Create trigger",
    "Pause",
    "Rotate secret",
)

CALLER: models.DefinitionModel = {
    "input_schema": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]},
    "steps": [{"id": "call", "type": "http", "url": "{{ inputs.url }}"}],
}
"""A workflow of one http step to the URL it is given: it fails when that URL answers 404."""


def enter(page: Page, service: Service, token: str, path: str) -> None:
    """Sign in with `token` at the sign-in page that leads on to `path`, and wait to be there."""
    page.goto(f"{service.url}/ui/sign-in?next={quote(path)}")
    page.fill("input[name=token]", token)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(lambda url: urlsplit(url).path == urlsplit(path).path)


def flash(page: Page) -> str:
    return page.locator(".flash").inner_text()


def overflow(page: Page) -> dict[str, Any]:
    """How wide the page's content is, beside the viewport's width, and the elements that reach past the viewport."""
    found: dict[str, Any] = page.evaluate(
        """() => ({
            scroll: document.documentElement.scrollWidth,
            client: document.documentElement.clientWidth,
            past: [...document.querySelectorAll('body *')]
                .filter((e) => !e.parentElement.closest('.table-wrap'))
                .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
                .slice(0, 5)
                .map((e) => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`),
        })"""
    )
    return found


def tables_scroll_in_their_frame(page: Page) -> None:
    """Every table sits in a .table-wrap no wider than the screen (the table scrolls inside it)."""
    frames: list[dict[str, Any]] = page.evaluate(
        """() => [...document.querySelectorAll('table')].map((t) => {
            const wrap = t.closest('.table-wrap');
            return {id: t.id, wrapped: !!wrap, right: wrap ? wrap.getBoundingClientRect().right : 0};
        })"""
    )
    assert frames
    for frame in frames:
        assert frame["wrapped"], frame
        assert frame["right"] <= PHONE_WIDTH, frame


# --- sharing ------------------------------------------------------------------------------------------------------


def test_a_workflow_shared_as_runner_from_the_sharing_page_is_all_the_new_member_sees(
    page: Page, browser: Browser, watch: Watch, service: Service
) -> None:
    shared, other = deployed_greeter(service, "shared"), deployed_greeter(service, "other")
    (member,) = users(service, "member")
    sharing = f"/ui/workflows/{shared}/sharing"
    enter(page, service, service.token, sharing)

    page.fill("#invite-email", member.email)
    page.select_option("#invite-role", "runner")
    page.get_by_role("button", name="Invite", exact=True).click()

    expect(page.locator(".flash")).to_have_text(f"Shared with {member.email} as runner.")
    row = page.locator(f"tr[data-member='{member.email}']")
    expect(row.locator("select")).to_have_value("runner")
    screenshot(page, "sharing")
    with service.client() as wfs:
        assert [(m["id"], m["role"]) for m in wfs.list_members(shared)["items"]] == [(member.id, "runner")]

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    watch.attach(context)
    try:
        theirs = context.new_page()
        sign_in(theirs, service.url, member.token)
        theirs.get_by_role("navigation", name="Main").get_by_role("link", name="Workflows").click()
        theirs.wait_for_url(re.compile(r"/ui/workflows$"))
        rows = theirs.locator("table.wf-list tbody tr[data-href]")
        expect(rows).to_have_count(1)
        expect(rows.locator("code")).to_have_text(shared)
        expect(theirs.get_by_text(other, exact=True)).to_have_count(0)
        expect(rows.get_by_role("link", name="New job")).to_have_count(1)

        rows.locator("td").first.get_by_role("link").click()
        theirs.wait_for_url(re.compile(rf"/ui/workflows/{shared}$"))
        no_editing(theirs)
        theirs.get_by_role("link", name="Sharing & permissions").click()
        theirs.wait_for_url(re.compile(rf"{sharing}$"))
        expect(theirs.locator("tr[data-member]")).to_have_count(1)
        expect(theirs.locator(f"tr[data-member='{member.email}'] .badge")).to_have_text("Runner")
        no_editing(theirs)
        nav = theirs.get_by_role("navigation", name="Workflow")
        expect(nav.get_by_role("link", name="Audit logs")).to_have_count(0)
        theirs.get_by_role("link", name="Schedules & triggers").click()
        theirs.wait_for_url(re.compile(rf"/ui/workflows/{shared}/automation$"))
        no_editing(theirs)

        with Client(service.url, member.token) as wfs:
            job = wfs.submit_sync(shared, "current", {"inputs": {"name": "Runner"}, "name": "Run by the runner"})
        theirs.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
        theirs.wait_for_url(re.compile(r"/ui/jobs$"))
        expect(theirs.get_by_role("heading", name="Jobs", exact=True)).to_be_visible()
        expect(theirs.locator(f"tr[data-job='{job['id']}']")).to_contain_text("Run by the runner")

        watch.expect(status=404, path=f"/ui/workflows/{other}/sharing")
        hidden = theirs.goto(f"{service.url}/ui/workflows/{other}/sharing")
        assert hidden is not None
        assert hidden.status == 404
    finally:
        watch.settle()
        watch.detach(context)
        context.close()


def no_editing(page: Page) -> None:
    """The page offers none of the buttons that change the workflow, its sharing or its automation."""
    for button in EDITING:
        expect(page.get_by_role("button", name=button)).to_have_count(0)


def test_the_main_navigation_is_in_the_top_bar_on_a_wide_screen_and_behind_the_menu_on_a_phone(
    page: Page, phone: Page, distributed: Service
) -> None:
    enter(page, distributed, distributed.token, "/ui/people")
    enter(phone, distributed, distributed.token, "/ui/people")
    links = ("Jobs", "Workflows", "Audit log", "People", "Account")

    wide = page.get_by_role("navigation", name="Main")
    for name in links:
        expect(wide.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.get_by_text("☰")).to_be_hidden()
    narrow = phone.get_by_role("navigation", name="Main")
    expect(narrow.get_by_role("link", name="Jobs", exact=True)).to_be_hidden()
    phone.locator("#menu summary").click()
    for name in links:
        expect(narrow.get_by_role("link", name=name, exact=True)).to_be_visible()
    width = overflow(phone)
    assert width["scroll"] <= PHONE_WIDTH, width
    wide.get_by_role("link", name="Audit log").click()
    page.wait_for_url(re.compile(r"/ui/audit$"))
    expect(wide.get_by_role("link", name="Audit log")).to_have_attribute("aria-current", "page")


# --- monitor ------------------------------------------------------------------------------------------------------


def ran_jobs(service: Service) -> tuple[str, list[str], list[str]]:
    """A workflow that called the service's health check three times and a missing page twice: its slug, the ids of
    the completed jobs and of the failed ones."""
    with service.client() as wfs:
        slug = wfs.create_workflow({"name": "Caller", "definition": CALLER})["slug"]
        wfs.deploy_workflow(slug)
        done: list[str] = []
        failed: list[str] = []
        for path, into in (("/healthz", done), ("/nowhere", failed), ("/healthz", done), ("/nowhere", failed)):
            job = wfs.submit_sync(slug, "current", {"inputs": {"url": f"{service.url}{path}"}, "cache": "never"})
            into.append(job["id"])
        job = wfs.submit_sync(slug, "current", {"inputs": {"url": f"{service.url}/healthz"}, "cache": "never"})
        done.append(job["id"])
        for job_id in done + failed:
            ended = wfs.get_job(job_id, prefer="wait=20")
            assert ended["status"] == ("completed" if job_id in done else "failed"), ended
    return slug, done, failed


def runs_listed(page: Page) -> list[str]:
    return [str(row.get_attribute("data-run")) for row in page.locator("#runs-table tr[data-run]").all()]


@distributed_only
def test_the_monitor_shows_the_runs_figures_charts_and_filters_them(page: Page, phone: Page, service: Service) -> None:
    slug, done, failed = ran_jobs(service)
    monitor = f"/ui/workflows/{slug}/monitor"
    enter(page, service, service.token, monitor)

    expect(page.locator("#fig-total")).to_have_text("5")
    expect(page.locator("#fig-failure-rate")).to_have_text("40.0 %")
    for chart in ("chart-runs", "chart-failure-rate", "chart-response-time"):
        svg = page.locator(f"svg#{chart}")
        expect(svg).to_be_visible()
        assert svg.locator("polyline").count() >= 1
        assert svg.locator("circle, rect, polygon").count() >= 1
    assert sorted(runs_listed(page)) == sorted(done + failed)
    for job_id in done + failed:
        link = page.locator(f"#runs-table tr[data-run='{job_id}'] td").first.get_by_role("link")
        expect(link).to_have_attribute("href", f"/ui/jobs/{job_id}")
    screenshot(page, "monitor")
    page.locator(f"#runs-table tr[data-run='{failed[0]}'] td").first.get_by_role("link").click()
    page.wait_for_url(re.compile(rf"/ui/jobs/{failed[0]}$"))
    expect(page.locator(f"#job-page[data-job='{failed[0]}']")).to_be_visible()
    page.go_back()

    page.select_option("#m-status", "failed")
    page.get_by_role("button", name="Show", exact=True).click()
    page.wait_for_url(re.compile(r"status=failed"))
    assert sorted(runs_listed(page)) == sorted(failed)
    statuses = page.locator("#runs-table tr[data-run] [data-status]")
    assert [str(s.get_attribute("data-status")) for s in statuses.all()] == ["failed", "failed"]

    enter(phone, service, service.token, monitor)
    expect(phone.locator("#fig-total")).to_have_text("5")
    with service.client() as wfs:
        body: models.JobCreate = {
            "inputs": {"url": f"{service.url}/healthz"},
            "name": "nightly_report_" * 5,
            "cache": "never",
        }
        wfs.submit_sync(slug, "current", body)
    expect(phone.locator(".toast", has_text="nightly_report_")).to_be_visible(
        timeout=15_000
    )  # its end, told on any page
    width = overflow(phone)
    assert width["scroll"] <= PHONE_WIDTH, width
    tables_scroll_in_their_frame(phone)
    screenshot(phone, "monitor-phone")


# --- audit --------------------------------------------------------------------------------------------------------


def actions_listed(page: Page) -> list[str]:
    return [str(row.get_attribute("data-action")) for row in page.locator("#audit-entries tr[data-action]").all()]


@distributed_only
def test_the_audit_log_shows_the_share_and_the_sign_in_and_filters_them(
    page: Page, phone: Page, service: Service
) -> None:
    slug = deployed_greeter(service, "audited")
    (member,) = users(service, "member")
    share_workflow(service, slug, member.id, "viewer")
    enter(phone, service, member.token, f"/ui/workflows/{slug}/monitor")
    enter(page, service, service.token, "/ui/audit")

    listed = actions_listed(page)
    assert "share.granted" in listed
    assert "auth.signed_in" in listed
    expect(page.locator("#chain-report")).to_contain_text("Intact")
    mine = page.locator("#audit-entries tr[data-action='auth.signed_in']", has_text=member.email)
    expect(mine).not_to_have_count(0)
    screenshot(page, "audit")

    page.fill("#f-action", "share.granted")
    page.get_by_role("button", name="Filter", exact=True).click()
    page.wait_for_url(re.compile(r"action=share.granted"))
    assert set(actions_listed(page)) == {"share.granted"}

    page.get_by_role("link", name="Clear").click()
    page.fill("#f-actor", f"user:{member.id}")
    page.get_by_role("button", name="Filter", exact=True).click()
    page.wait_for_url(re.compile(r"actor=user"))
    assert actions_listed(page)
    assert set(actions_listed(page)) <= {"auth.signed_in", "auth.signed_out"}

    page.goto(f"{service.url}/ui/workflows/{slug}/audit")
    row = page.locator("#audit-entries tr[data-action='share.granted']")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(member.email)

    enter(phone, service, service.token, "/ui/audit")
    expect(phone.locator("#audit-entries tr[data-action]")).not_to_have_count(0)
    width = overflow(phone)
    assert width["scroll"] <= PHONE_WIDTH, width
    tables_scroll_in_their_frame(phone)
    screenshot(phone, "audit-phone")


# --- schedules and triggers ---------------------------------------------------------------------------------------


@distributed_only
def test_a_schedule_and_a_trigger_are_made_from_their_forms(page: Page, service: Service) -> None:
    slug = deployed_greeter(service, "automated")
    automation = f"/ui/workflows/{slug}/automation"
    enter(page, service, service.token, automation)

    page.get_by_text("New schedule", exact=True).click()
    page.fill("#s-name", "Nightly")
    page.fill("#s-cron", "30 2 * * *")
    page.fill("#s-timezone", "Europe/Paris")
    page.fill("#s-inputs", '{"name": "Ada"}')
    page.get_by_role("button", name="Create schedule").click()

    expect(page.locator(".flash")).to_contain_text("Schedule “Nightly” created")
    schedule = page.locator("article[data-schedule='Nightly']")
    expect(schedule).to_contain_text("Europe/Paris")
    expect(schedule).to_contain_text("30 2 * * *")
    next_run = schedule.locator("dt:text-is('Next run') + dd")
    expect(next_run.locator("time")).to_have_count(1)
    expect(next_run).to_contain_text("02:30")

    page.get_by_text("New event trigger", exact=True).click()
    page.fill("#t-name", "Orders")
    page.get_by_role("button", name="Create trigger").click()

    secret = page.locator("#trigger-secret #new-secret")
    expect(secret).to_be_visible()
    shown = secret.inner_text().strip()
    assert len(shown) > 20
    expect(page.locator("article[data-trigger='Orders']")).to_have_count(1)
    screenshot(page, "automation")

    page.reload()
    expect(page.locator("article[data-trigger='Orders']")).to_have_count(1)
    expect(page.locator("#trigger-secret")).to_have_count(0)
    assert shown not in page.content()
    with service.client() as wfs:
        triggers = [t for t in wfs.list_triggers(slug)["items"] if t["kind"] != "schedule"]
    assert [t["name"] for t in triggers] == ["Orders"]


# --- people -------------------------------------------------------------------------------------------------------


@distributed_only
def test_a_user_is_added_changed_and_removed_on_the_people_page(page: Page, service: Service) -> None:
    email = f"newcomer-{service.mode}@example.com"
    enter(page, service, service.token, "/ui/people")

    page.fill("#user-email", email)
    page.fill("#user-name", "Newcomer")
    page.select_option("#user-role", "member")
    page.get_by_role("button", name="Add user").click()

    token = page.locator("#created-user #new-token").inner_text().strip()
    with Client(service.url, token) as wfs:
        me = wfs.get_me()
    assert me["user"] is not None
    assert (me["user"]["email"], me["workspace_role"]) == (email, "member")
    row = page.locator(f"tr[data-user='{email}']")
    expect(row).to_have_count(1)
    screenshot(page, "people")
    page.reload()
    expect(page.locator("#created-user")).to_have_count(0)
    assert token not in page.content()

    row.locator("select").select_option("admin")
    row.get_by_role("button", name="Change role").click()
    expect(page.locator(".flash")).to_have_text("Role changed to admin.")
    expect(page.locator(f"tr[data-user='{email}'] select")).to_have_value("admin")
    with service.client() as wfs:
        assert wfs.get_user(me["user"]["id"])["role"] == "admin"

    row.get_by_role("button", name="Remove").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Remove {email} from the workspace?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(row).to_have_count(1)

    row.get_by_role("button", name="Remove").focus()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Confirm")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.locator(".flash")).to_have_text("Removed from the workspace.")
    expect(page.locator(f"tr[data-user='{email}']")).to_have_count(0)
    with service.client() as wfs, pytest.raises(ApiError) as gone:
        wfs.get_user(me["user"]["id"])
    assert gone.value.status == 404
