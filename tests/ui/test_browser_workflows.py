"""The workflow pages in a real browser, against the service as processes (both modes): a person creates a workflow
and deploys it from the editor (a broken definition first, its problem shown at its path and line), reads the
endpoint, creates an API key that is shown once and calls the sync endpoint, and sets an environment variable."""

from __future__ import annotations

import itertools

import httpx
from playwright.sync_api import Page, expect

from tests.client.conftest import Service
from tests.ui.browser import distributed_only, screenshot
from tests.ui.people import users

_numbers = itertools.count(1)

BROKEN = """\
description: Greets someone
input_schema:
  type: object
  properties:
    name: {type: string}
steps:
  - id: greet
    type: no-such-step
output:
  greeting: "{{ steps.greet.output.text }}"
"""
FIXED = BROKEN.replace("type: no-such-step", 'type: transform\n    output: {text: "Hello, {{ inputs.name }}!"}')


def _sign_in(page: Page, base_url: str, token: str) -> None:
    """Sign in through the form, going on to the workflows list."""
    page.goto(f"{base_url}/ui/sign-in?next=/ui/workflows")
    page.fill("input[name=token]", token)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{base_url}/ui/workflows")


def _new_workflow(page: Page, service: Service) -> str:
    """Sign in as a new member, create a workflow from the list's form; its slug."""
    (person,) = users(service, "member")
    _sign_in(page, service.url, person.token)
    slug = f"browser-greeter-{service.mode}-{next(_numbers)}"
    page.locator("summary", has_text="New workflow").click()
    form = page.locator("#new-workflow form")
    form.get_by_label("Name", exact=True).fill("Browser greeter")
    form.get_by_label("Slug").fill(slug)
    form.get_by_label("Description").fill("Made in the browser")
    form.get_by_role("button", name="Create workflow").click()
    expect(page.locator(".flash-ok")).to_contain_text("Workflow “Browser greeter” created.")
    return slug


def test_a_workflow_is_created_and_deployed_from_the_editor(page: Page, service: Service) -> None:
    slug = _new_workflow(page, service)
    assert page.url.startswith(f"{service.url}/ui/workflows/{slug}")

    page.locator("#definition").fill(BROKEN)
    page.get_by_role("button", name="Validate").click()
    problems = page.locator(".wf-problems")
    expect(problems).to_contain_text("$.steps[0].type")
    expect(problems.get_by_role("link", name="line 8")).to_be_visible()
    problems.get_by_role("link", name="line 8").click()
    selected = page.locator("#definition").evaluate("a => a.value.slice(a.selectionStart, a.selectionEnd)")
    assert selected == "    type: no-such-step"
    screenshot(page, "workflow-editor")

    page.locator("#definition").fill(FIXED)
    page.get_by_role("button", name="Deploy").click()
    expect(page.locator(".flash-ok")).to_contain_text("Version 1 deployed")
    expect(page.get_by_role("heading", name="Deployed version 1")).to_be_visible()
    expect(page.locator("table").get_by_role("link", name="Version 1")).to_be_visible()

    page.goto(f"{service.url}/ui/workflows")
    row = page.locator("tr", has=page.get_by_role("link", name="Browser greeter"))
    expect(row.first).to_contain_text("v1")
    screenshot(page, "workflows")


@distributed_only
def test_an_api_key_is_shown_once_and_calls_the_sync_endpoint(page: Page, service: Service) -> None:
    slug = _new_workflow(page, service)
    page.get_by_role("button", name="Deploy").click()
    expect(page.locator(".flash-ok")).to_contain_text("Version 1 deployed")

    page.get_by_role("navigation", name="Workflow").get_by_role("link", name="Workflow endpoint").click()
    url = page.locator("#ep-url").inner_text()
    assert url == f"{service.url}/v1/workflows/{slug}/versions/current/sync"
    expect(page.locator("#ep-curl")).to_contain_text("Authorization: Bearer $WFS_TOKEN")
    screenshot(page, "endpoint")

    page.get_by_role("navigation", name="Workflow").get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("billing")
    page.get_by_role("button", name="Generate key").click()
    key = page.locator("#new-key").inner_text()
    assert key.startswith("wfs_key_")
    screenshot(page, "api-keys")
    page.get_by_role("button", name="Copy and close").click()
    expect(page.locator("#new-key-box")).to_have_count(0)

    page.reload()
    expect(page.locator("table")).to_contain_text("billing")
    assert key not in page.content()

    answer = httpx.post(url, json={"inputs": {"name": "Ada"}}, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["output"] == {"greeting": "Hello, Ada!"}


@distributed_only
def test_an_environment_variable_is_set(page: Page, service: Service) -> None:
    slug = _new_workflow(page, service)
    page.get_by_role("navigation", name="Workflow").get_by_role("link", name="Configurations").click()
    page.get_by_text("Add variable", exact=True).click()
    form = page.locator(".cfg-add form")
    form.get_by_label("Variable name").fill("REGION")
    form.get_by_label("Value").fill("eu-west")
    form.get_by_label("Notes (optional)").fill("where reports go")
    form.get_by_role("button", name="Save").click()
    expect(page.locator(".flash-ok")).to_contain_text("Environment variable REGION added.")
    row = page.locator("#env-REGION")
    expect(row).to_contain_text("eu-west")
    expect(row).to_contain_text("where reports go")
    screenshot(page, "configuration")
    with service.client() as wfs:
        assert [(v["name"], v["value"]) for v in wfs.list_env_vars(slug)["items"]] == [("REGION", "eu-west")]
