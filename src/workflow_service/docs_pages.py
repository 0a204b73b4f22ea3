"""/docs (Swagger UI) and /redoc (ReDoc) with their scripts, styles and icon served from the package (static/),
so that both work on a machine without internet access: FastAPI's own pages load them from a CDN."""

from __future__ import annotations

from pathlib import Path

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


def install_docs(app: FastAPI) -> None:
    """Serve the documentation pages and their assets; for an app made with `docs_url=None, redoc_url=None`.
    Plain routes, like FastAPI's own pages: outside the contract and the API's request checks."""
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")

    async def swagger_ui(request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"{root}{FAVICON}",
            # Swagger UI would otherwise send the document's URL to validator.swagger.io for a badge.
            swagger_ui_parameters={"validatorUrl": None},
        )

    async def redoc(request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{REDOC}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{FAVICON}",
            with_google_fonts=False,
        )

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
