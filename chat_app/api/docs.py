"""The interactive API docs (Swagger UI at /api/docs), served entirely by the app itself.

FastAPI's default docs page loads Swagger UI's script, stylesheet and favicon from public CDNs,
which the app's Content-Security-Policy (``default-src 'self'``) refuses, so that page stayed
blank. Here the same page (FastAPI's own ``get_swagger_ui_html``) points at copies shipped in the
pinned ``fastapi-offline`` package and served under /api/docs/static, so it works under the
unchanged CSP and with no network beyond the app.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/api/docs"
DOCS_STATIC_URL = f"{DOCS_URL}/static"
# (package, folder inside it): Swagger UI's dist files as fastapi-offline ships them.
SWAGGER_ASSETS_PACKAGE = ("fastapi_offline", "static")

SWAGGER_UI_PARAMETERS = {
    # Swagger UI would otherwise ask validator.swagger.io to check the spec (and show its
    # badge) whenever the page is served from a host that is not localhost.
    "validatorUrl": None,
}


def install_docs(api: FastAPI) -> None:
    """Serve Swagger UI and its assets from ``api``; create ``api`` with ``docs_url=None``.

    Args:
        api: The API app; its ``openapi_url`` is the spec the page shows.

    Raises:
        ValueError: If ``api`` has no OpenAPI schema URL or still serves FastAPI's CDN page.
    """
    if api.openapi_url is None or api.docs_url is not None:
        msg = "install_docs needs an app with openapi_url set and docs_url=None"
        raise ValueError(msg)
    openapi_url = api.openapi_url
    title = f"{api.title} · docs"
    api.mount(
        DOCS_STATIC_URL,
        StaticFiles(packages=[SWAGGER_ASSETS_PACKAGE]),
        name="docs-static",
    )

    @api.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{DOCS_STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC_URL}/favicon.png",
            # The API authenticates with bearer tokens: no OAuth2 flow needs a redirect page.
            oauth2_redirect_url=None,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
