"""/docs and /redoc work offline: the pages reference only the service's own URLs, and those answer with the
assets (served from the package), not a CDN's."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest

from workflow_service.app import create_app
from workflow_service.config import Settings
from workflow_service.docs_pages import STATIC_DIR

CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


class _References(HTMLParser):
    """Every URL an HTML page makes the browser load: `src`, `href` and ReDoc's `spec-url` attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "spec-url") and value]


def _references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize(("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
async def test_the_page_loads_only_local_assets(client: httpx.AsyncClient, page: str, script: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "://" not in html, html  # no CDN, no web font, no validator badge
    urls = _references(html)
    assert any(url.endswith(script) for url in urls), urls
    assert any(url.endswith(".png") for url in urls), urls  # the icon
    if page == "/docs":
        assert "url: '/openapi.json'" in html
        assert any(url.endswith(".css") for url in urls), urls
    else:
        assert "/openapi.json" in urls
    for url in urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        asset = await client.get(url)
        assert asset.status_code == 200, url
        suffix = url[url.rfind(".") :]
        assert asset.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], (url, asset.headers)
        if url.startswith("/static/"):
            assert asset.content == (STATIC_DIR / url.removeprefix("/static/")).read_bytes()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_pages_follow_the_root_path(settings: Settings, page: str) -> None:
    """Behind a proxy that serves the service under a prefix, the pages point under it."""
    transport = httpx.ASGITransport(app=create_app(settings), root_path="/wfs")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as behind_proxy:
        response = await behind_proxy.get(f"/wfs{page}")
        assert response.status_code == 200, response.text
        urls = _references(response.text)
        assert urls
        assert all(url.startswith("/wfs/") for url in urls), urls
        for url in urls:
            if "/static/" in url:
                assert (await behind_proxy.get(url)).status_code == 200, url


def test_every_vendored_asset_ships_with_its_licence() -> None:
    for directory in ("swagger-ui", "redoc"):
        assert (STATIC_DIR / directory / "LICENSE").is_file(), directory
    assert "Apache License" in (STATIC_DIR / "swagger-ui" / "LICENSE").read_text()
    assert "MIT" in (STATIC_DIR / "redoc" / "LICENSE").read_text()
