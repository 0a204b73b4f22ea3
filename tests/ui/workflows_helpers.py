"""What the tests of the dashboard's workflow pages share: people with a role on a workflow, signed in to the
dashboard; workflows made through the API; reading a page's HTML."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import httpx
from cryptography.fernet import Fernet
from pydantic import SecretStr

from tests.conftest import TOKEN, make_settings
from tests.ui.forms import Browser, dashboard, sign_in
from workflow_service.config import Settings

SECRET_KEY = Fernet.generate_key().decode()
"""A Fernet key, so that secure variables can be stored."""

GREETER = {
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "steps": [{"id": "greet", "type": "transform", "output": {"text": "Hello, {{ inputs.name }}!"}}],
    "output": {"greeting": "{{ steps.greet.output.text }}"},
}


def with_secret_key(settings: Settings) -> Settings:
    """`settings` (the test's database and Redis) with WFS_SECRET_KEY set."""
    return make_settings(secret_key=SecretStr(SECRET_KEY))


@dataclass
class World:
    """The dashboard's app: the operator's API client, and a browser factory."""

    new_browser: Browser
    api: httpx.AsyncClient

    async def workflow(
        self, slug: str = "greeter", definition: dict[str, Any] | None = None, deploy: bool = True
    ) -> dict[str, Any]:
        body = {"name": slug.capitalize(), "slug": slug, "definition": definition or GREETER}
        made = await self.api.post("/v1/workflows", json=body)
        assert made.status_code == 201, made.text
        if deploy:
            deployed = await self.api.post(f"/v1/workflows/{slug}/deploy")
            assert deployed.status_code == 201, deployed.text
        found = await self.api.get(f"/v1/workflows/{slug}")
        result: dict[str, Any] = found.json()
        return result

    async def operator(self) -> httpx.AsyncClient:
        """A browser signed in with the operator token."""
        return await self.signed_in(TOKEN)

    async def signed_in(self, token: str) -> httpx.AsyncClient:
        browser = self.new_browser()
        answer = await sign_in(browser, token)
        assert answer.status_code == 303, answer.text
        return browser

    async def person(self, email: str, role: str | None = None, slug: str = "greeter") -> httpx.AsyncClient:
        """A workspace member with `role` on workflow `slug` (None: none), signed in."""
        added = await self.api.post("/v1/users", json={"email": email, "name": email.split("@")[0], "role": "member"})
        assert added.status_code == 201, added.text
        user = added.json()
        if role is not None:
            shared = await self.api.put(f"/v1/workflows/{slug}/members/{user['id']}", json={"role": role})
            assert shared.status_code in (200, 201), shared.text
        return await self.signed_in(user["token"])


@contextlib.asynccontextmanager
async def world(settings: Settings) -> AsyncIterator[World]:
    async with dashboard(settings) as (new_browser, api):
        yield World(new_browser, api)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[str] = []
        self.buttons: list[str] = []
        self.text: list[str] = []
        self._in_button = False
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form" and values.get("method") == "post":
            self.forms.append(values.get("action") or "")
        if tag == "button":
            self._in_button = True
            self.buttons.append("")
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._in_button = False
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._in_button:
            self.buttons[-1] += data.strip()


@dataclass
class Page:
    """A page as a person reads it: its text, its buttons, where its forms post."""

    html: str
    text: str
    buttons: list[str]
    forms: list[str]

    def posts_to(self, fragment: str) -> bool:
        return any(fragment in action for action in self.forms)


def read(html: str) -> Page:
    parser = _Page()
    parser.feed(html)
    text = re.sub(r"\s+", " ", " ".join(parser.text))
    return Page(html, text, parser.buttons, parser.forms)


async def page(client: httpx.AsyncClient, url: str, status: int = 200) -> Page:
    answer = await client.get(url)
    assert answer.status_code == status, answer.text[:2000]
    return read(answer.text)
