"""Helpers of the sharing, automation, monitor, audit and people pages' tests: people with roles, a deployed
workflow, signed-in browsers, and reading a page's HTML."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from typing import Any

import httpx

from tests.jobs.conftest import GREETER, deploy_workflow
from tests.ui.forms import Browser, csrf_of, sign_in

SLUG = "greeter"


@dataclass
class Person:
    id: str
    email: str
    token: str
    browser: httpx.AsyncClient


async def person(
    new_browser: Browser, api: httpx.AsyncClient, name: str, role: str = "member", share: str | None = None
) -> Person:
    """A user of the workspace with `role`, signed in to the dashboard; shared the workflow `greeter` as `share`."""
    made = await api.post("/v1/users", json={"email": f"{name}@example.com", "name": name.title(), "role": role})
    assert made.status_code == 201, made.text
    user = made.json()
    if share:
        shared = await api.put(f"/v1/workflows/{SLUG}/members/{user['id']}", json={"role": share})
        assert shared.status_code == 201, shared.text
    browser = new_browser()
    signed = await sign_in(browser, user["token"])
    assert signed.status_code == 303, signed.text
    return Person(user["id"], user["email"], user["token"], browser)


async def operator(new_browser: Browser) -> httpx.AsyncClient:
    """A browser signed in with the operator token."""
    from tests.conftest import TOKEN

    browser = new_browser()
    assert (await sign_in(browser, TOKEN)).status_code == 303
    return browser


async def greeter(api: httpx.AsyncClient) -> dict[str, Any]:
    """The workflow `greeter`, deployed as version 1."""
    return await deploy_workflow(api, SLUG, GREETER)


def text(html: str) -> str:
    """A page's words, tags removed and spaces folded."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def forms_posting_to(html: str, fragment: str) -> list[str]:
    """The `action`s of the page's forms that contain `fragment`."""
    return [a for a in re.findall(r'<form[^>]*action="([^"]+)"', html) if fragment in a]


async def post(client: httpx.AsyncClient, page_url: str, action: str, data: dict[str, Any]) -> httpx.Response:
    """Post `data` to `action` with the CSRF token of `page_url` (whatever that page's status)."""
    page = await client.get(page_url)
    return await client.post(action, data={"csrf_token": csrf_of(page.text), **data})


def field_error(html: str, field_id: str) -> str:
    """The error shown under the form field `field_id` ('' if none)."""
    found = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error"[^>]*>(.*?)</p>', html, re.S)
    return text(found.group(1)) if found else ""
