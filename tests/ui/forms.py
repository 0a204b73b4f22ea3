"""The dashboard over ASGI, as a browser without scripts uses it: signing in through the form (a session
cookie, no bearer token), reading a page's CSRF token, posting its forms. For tests of what pages answer;
tests/ui/conftest.py drives a real browser for what people do."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from tests.conftest import BASE_URL, TOKEN
from workflow_service.app import create_app
from workflow_service.config import Settings

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
Browser = Callable[..., httpx.AsyncClient]


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, token: str, workspace: str = "") -> httpx.Response:
    """Sign `client` in with `token` through the sign-in form; the form's answer (303 on success)."""
    page = await client.get("/ui/sign-in")
    data = {"token": token, "workspace": workspace, "csrf_token": csrf_of(page.text), "next": ""}
    return await client.post("/ui/sign-in", data=data)


async def post_form(client: httpx.AsyncClient, page_url: str, action: str, data: dict[str, Any]) -> httpx.Response:
    """Open `page_url` and post `data` to `action` with that page's CSRF token (as the page's form would)."""
    page = await client.get(page_url)
    assert page.status_code == 200, page.text
    return await client.post(action, data={"csrf_token": csrf_of(page.text), **data})


@contextlib.asynccontextmanager
async def dashboard(settings: Settings) -> AsyncIterator[tuple[Browser, httpx.AsyncClient]]:
    """The app of `settings`, started: `(new_browser, api)`. `new_browser(base_url=...)` is a client with a cookie
    jar and no credentials (sign it in with `sign_in`); `api` is the operator's API client."""
    app = create_app(settings)
    clients: list[httpx.AsyncClient] = []
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)

        def new_browser(base_url: str = BASE_URL) -> httpx.AsyncClient:
            clients.append(httpx.AsyncClient(transport=transport, base_url=base_url))
            return clients[-1]

        api = httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers={"Authorization": f"Bearer {TOKEN}"})
        clients.append(api)
        try:
            yield new_browser, api
        finally:
            for client in clients:
                await client.aclose()
