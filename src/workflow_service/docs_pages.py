"""/docs (Swagger UI) and /redoc (ReDoc) with their scripts, styles and icon served from the package (static/),
so that both work on a machine without internet access: FastAPI's own pages load them from a CDN."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import Response

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/static"
SWAGGER_UI = f"{STATIC_PATH}/swagger-ui"
REDOC = f"{STATIC_PATH}/redoc"
FAVICON = f"{SWAGGER_UI}/favicon-32x32.png"


@dataclass(frozen=True)
class _Page:
    render: Callable[..., Response]
    name: str
    assets: dict[str, str]
    """The render's URL arguments: paths under the service (the proxy's root path goes before them)."""
    options: dict[str, Any]


PAGES = {
    "/docs": _Page(
        get_swagger_ui_html,
        "Swagger UI",
        {
            "swagger_js_url": f"{SWAGGER_UI}/swagger-ui-bundle.js",
            "swagger_css_url": f"{SWAGGER_UI}/swagger-ui.css",
            "swagger_favicon_url": FAVICON,
        },
        # Swagger UI would otherwise send the document's URL to validator.swagger.io for a badge.
        {"swagger_ui_parameters": {"validatorUrl": None}},
    ),
    "/redoc": _Page(
        get_redoc_html,
        "ReDoc",
        {"redoc_js_url": f"{REDOC}/redoc.standalone.js", "redoc_favicon_url": FAVICON},
        {"with_google_fonts": False},
    ),
}


def install_docs(app: FastAPI) -> None:
    """Serve the documentation pages and their assets; for an app made with `docs_url=None, redoc_url=None`.
    Plain routes, like FastAPI's own pages: outside the contract and the API's request checks."""
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
    for path, page in PAGES.items():
        app.add_route(path, _route(app, page), include_in_schema=False)


def _route(app: FastAPI, page: _Page) -> Callable[[Request], Awaitable[Response]]:
    async def route(request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")
        urls = {name: f"{root}{url}" for name, url in page.assets.items()}
        openapi_url = f"{root}{app.openapi_url}"
        return page.render(openapi_url=openapi_url, title=f"{app.title} - {page.name}", **urls, **page.options)

    return route
