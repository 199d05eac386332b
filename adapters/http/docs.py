"""The API's documentation pages, served from files shipped in a package so that they work
with no network (issue 16): `/docs` (Swagger UI) and `/redoc` (ReDoc), both reading
`/openapi.json`. The scripts, the style sheet and the icon are those the `fastapi-offline`
package ships (Swagger UI 5, ReDoc 2; MIT licence), served at `/docs/static/`; the pages
name no other host."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = "/docs/static"


def add_docs(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Serve `/docs` and `/redoc` from the shipped files (the app is made with `docs_url` and
    `redoc_url` None, so FastAPI's own pages, which load from a CDN, are not served)."""
    folder = files("fastapi_offline") / "static"
    app.mount(STATIC, StaticFiles(directory=str(folder)), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} — API",
            swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{STATIC}/favicon.png",
            # no validity badge: Swagger UI would fetch it from the validator's host
            swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url, title=f"{app.title} — API",
            redoc_js_url=f"{STATIC}/redoc.standalone.js",
            redoc_favicon_url=f"{STATIC}/favicon.png", with_google_fonts=False)
