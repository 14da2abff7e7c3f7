"""`/docs` (Swagger UI) and `/redoc` (ReDoc) from assets shipped in the package, never a CDN: a shop's back
office or an offline CI gets working pages. The assets are vendored from their npm packages (static/README.md)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
ASSETS = "/static/docs"


def install_docs(app: FastAPI, *, openapi_url: str = "/openapi.json") -> None:
    """Mount the assets and serve the two documentation pages pointing at them (the app is built with
    `docs_url=None, redoc_url=None` so FastAPI's CDN pages are not registered)."""
    app.mount(ASSETS, StaticFiles(directory=STATIC), name="docs-assets")
    title = f"{app.title} API"
    favicon = f"{ASSETS}/swagger-ui/favicon-32x32.png"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=title,
                                   swagger_js_url=f"{ASSETS}/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS}/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url=favicon, oauth2_redirect_url="/docs/oauth2-redirect")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=title, redoc_js_url=f"{ASSETS}/redoc/redoc.standalone.js",
                              redoc_favicon_url=favicon, with_google_fonts=False)
