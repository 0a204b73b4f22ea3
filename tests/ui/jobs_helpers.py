"""What the tests of the dashboard's jobs pages share: workflows to run, people with roles, and reading pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import httpx

from tests.ui.forms import Browser, sign_in

GREETER: dict[str, Any] = {
    "input_schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "count": {"type": "integer"}, "tags": {"type": "array"}},
        "required": ["name"],
    },
    "variables": {"greeting": "Hello", "punctuation": "!"},
    "steps": [
        {"id": "greet", "type": "transform", "output": "{{ vars.greeting }}, {{ inputs.name }}{{ vars.punctuation }}"},
        {"id": "shout", "type": "transform", "output": "{{ steps.greet.output }} x{{ inputs.count }}"},
    ],
    "output": {"text": "{{ steps.shout.output }}"},
}
"""Two steps: `greet` reads both variables, `shout` none."""


async def deploy(api: httpx.AsyncClient, slug: str, definition: dict[str, Any] | None = None) -> dict[str, Any]:
    created = await api.post(
        "/v1/workflows", json={"name": slug.title(), "slug": slug, "definition": definition or GREETER}
    )
    assert created.status_code == 201, created.text
    deployed = await api.post(f"/v1/workflows/{slug}/deploy")
    assert deployed.status_code == 201, deployed.text
    workflow: dict[str, Any] = created.json()
    return workflow


async def submit(client: httpx.AsyncClient, slug: str, name: str | None = None, **body: Any) -> dict[str, Any]:
    """A job of `slug` submitted by `client`'s caller (pending: no worker runs unless the test starts one)."""
    payload = {"inputs": {"name": "Ada", "count": 2}, "name": name, "cache": "never", **body}
    answer = await client.post(f"/v1/workflows/{slug}/versions/current/async", json=payload)
    assert answer.status_code == 202, answer.text
    job: dict[str, Any] = answer.json()
    return job


@dataclass
class Person:
    """A signed-in browser of a user, and their token (for the API as them)."""

    browser: httpx.AsyncClient
    token: str
    id: str
    api: httpx.AsyncClient


async def person(
    new_browser: Browser, api: httpx.AsyncClient, email: str, role: str = "member", **shares: str
) -> Person:
    """A user of the workspace with `role`, shared the workflows `shares` names (slug=role), signed in."""
    created = await api.post("/v1/users", json={"email": email, "name": email.split("@")[0].title(), "role": role})
    assert created.status_code == 201, created.text
    user = created.json()
    for slug, workflow_role in shares.items():
        shared = await api.put(f"/v1/workflows/{slug}/members/{user['id']}", json={"role": workflow_role})
        assert shared.status_code in (200, 201), shared.text
    browser = new_browser()
    signed = await sign_in(browser, user["token"])
    assert signed.status_code == 303, signed.text
    own = new_browser()
    own.headers["Authorization"] = f"Bearer {user['token']}"
    return Person(browser, user["token"], str(user["id"]), own)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def text_of(html: str) -> str:
    """The words a person reads on the page, spaces collapsed."""
    parser = _Text()
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(parser.parts)).strip()


def forms_to(html: str, action_suffix: str) -> list[str]:
    """The actions of the page's forms that end with `action_suffix`."""
    return [a for a in re.findall(r'<form[^>]*action="([^"]+)"', html) if a.endswith(action_suffix)]


def section(html: str, section_id: str) -> str:
    """The HTML of the element with this id, up to its closing </section> (the page's sections)."""
    start = html.index(f'id="{section_id}"')
    return html[start : html.index("</section>", start)]


async def job_of(api: httpx.AsyncClient, job_id: str) -> httpx.Response:
    return await api.get(f"/v1/jobs/{job_id}")
