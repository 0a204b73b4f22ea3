"""The jobs pages in a real browser against the service as processes, in both modes: a job started from "New job"
completes on its page without a reload, a running job is canceled, two jobs are deleted through the dialog, a job
runs again from a step, and a job that ends while its creator is on another page shows its notice there."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.client.conftest import Service, deployed_greeter
from tests.client.servers import deployed, http_definition
from tests.servers import EchoServer
from tests.ui.browser import distributed_only, screenshot, sign_in
from tests.ui.people import share_workflow, users
from wfs_client import Client

WAIT_MS = 20_000


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    server.start()
    yield server
    server.stop()


def signed_in_runner(page: Page, service: Service, slug: str) -> str:
    """A new member who runs `slug`, signed in on `page`; their token."""
    (person,) = users(service, "member")
    share_workflow(service, slug, person.id, "runner")
    sign_in(page, service.url, person.token)
    return person.token


def start_from_new_job(page: Page, service: Service, slug: str, name: str) -> None:
    page.goto(f"{service.url}/ui/jobs")
    page.get_by_role("link", name="New job").click()
    page.select_option("#new-workflow", slug)
    page.get_by_role("button", name="Choose").click()
    page.fill("#new-name", name)
    page.fill("#in-name", "Ada")
    page.get_by_role("button", name="Start job").click()
    page.wait_for_url(re.compile(r"/ui/jobs/[0-9a-f-]{36}$"))


def test_a_job_from_new_job_completes_on_its_page_without_a_reload(page: Page, service: Service) -> None:
    slug = deployed_greeter(service, "live")
    signed_in_runner(page, service, slug)
    start_from_new_job(page, service, slug, "Live greeting")
    page.evaluate("window.__sameDocument = true")  # gone if the page were loaded again

    expect(page.locator("#job-status [data-status]")).to_have_attribute("data-status", "completed", timeout=WAIT_MS)
    expect(page.locator("#job-output pre")).to_contain_text("Hello, Ada!")
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("#job-status .spinner")).to_have_count(0)
    screenshot(page, "job")


@distributed_only
def test_a_running_job_is_canceled_from_its_page(page: Page, service: Service, echo: EchoServer) -> None:
    slug = deployed(service, http_definition(f"{echo.url}/hold"), "held")
    token = signed_in_runner(page, service, slug)
    with Client(service.url, token) as wfs:
        job = wfs.submit_async(slug, "current", {"inputs": {}, "name": "held"})
    page.goto(f"{service.url}/ui/jobs/{job['id']}")
    expect(page.locator("#job-status [data-status]")).to_have_attribute("data-status", "running", timeout=WAIT_MS)
    page.locator("#job-actions").get_by_role("button", name="Cancel").click()
    page.locator("#confirm-ok").click()
    expect(page.locator("#job-status [data-status]")).to_have_attribute("data-status", "canceled", timeout=WAIT_MS)
    expect(page.locator("#job-output")).to_contain_text("This job was canceled")
    echo.release()


@distributed_only
def test_two_jobs_are_deleted_with_the_dialog(page: Page, service: Service) -> None:
    slug = deployed_greeter(service, "bulk")
    token = signed_in_runner(page, service, slug)
    with Client(service.url, token) as wfs:
        made = [
            wfs.submit_async(slug, "current", {"inputs": {"name": n}, "name": n})["id"] for n in ("one", "two", "three")
        ]
    page.goto(f"{service.url}/ui/jobs")
    expect(page.locator("tr[data-job]")).to_have_count(3)
    screenshot(page, "jobs")
    for job_id in made[:2]:
        page.locator(f'input.job-check[value="{job_id}"]').check()
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    page.get_by_role("button", name="Delete selected").click()
    expect(page.locator("#confirm-message")).to_contain_text("Delete 2 selected jobs?")
    page.locator("#confirm-ok").click()
    expect(page.locator(".flash")).to_contain_text("2 jobs deleted.")
    expect(page.locator("tr[data-job]")).to_have_count(1)
    expect(page.locator(f'tr[data-job="{made[2]}"]')).to_have_count(1)


@distributed_only
def test_a_job_runs_again_from_a_step(page: Page, service: Service) -> None:
    slug = deployed_greeter(service, "again")
    signed_in_runner(page, service, slug)
    start_from_new_job(page, service, slug, "First run")
    expect(page.locator("#job-status [data-status]")).to_have_attribute("data-status", "completed", timeout=WAIT_MS)
    first = page.url
    page.locator("#step-greet").get_by_role("button", name="Run from this step").click()
    page.locator("#confirm-ok").click()
    page.wait_for_url(lambda url: url != first and re.search(r"/ui/jobs/[0-9a-f-]{36}$", url) is not None)
    expect(page.locator(".flash")).to_contain_text("Running again from step “greet”.")
    expect(page.locator("#job-status [data-status]")).to_have_attribute("data-status", "completed", timeout=WAIT_MS)


@distributed_only
def test_the_notice_of_a_job_that_ends_shows_on_another_page(page: Page, service: Service, echo: EchoServer) -> None:
    slug = deployed(service, http_definition(f"{echo.url}/hold"), "notice")
    token = signed_in_runner(page, service, slug)
    page.goto(f"{service.url}/ui/account")
    with Client(service.url, token) as wfs:
        job = wfs.submit_async(slug, "current", {"inputs": {}, "name": "Noticed job"})
    page.wait_for_timeout(500)
    echo.release()
    toast = page.locator("#toasts .toast")
    expect(toast).to_contain_text("Job “Noticed job” completed.", timeout=WAIT_MS)
    expect(toast.get_by_role("link", name="Open")).to_have_attribute("href", re.compile(f"/ui/jobs/{job['id']}$"))
