"""/api/docs: Swagger UI served by the app itself, under the app's own CSP (no CDN, no other host).

In-process over ASGI, with the security headers the real app adds. The real-Chromium check (the
page renders its operations, nothing leaves 127.0.0.1, no CSP violation) is in
tests/browser/test_api_docs.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest

from chat_app.api.app import create_api
from chat_app.api.docs import DOCS_STATIC_URL, DOCS_URL, SWAGGER_UI_PARAMETERS, install_docs
from chat_app.api.security_headers import CONTENT_SECURITY_POLICY, security_headers

# Any absolute or protocol-relative URL, quoted or not: the page may name no host at all.
HOST_REFERENCE = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://|(?<![:/\w])//[a-z0-9\[]")


class _Refs(HTMLParser):
    """Every URL-bearing attribute and the text of every inline script."""

    URL_ATTRS = frozenset({"src", "href", "action", "data", "poster", "srcset", "formaction"})

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.inline_scripts: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [(tag, a, v or "") for a, v in attrs if a in self.URL_ATTRS]
        self._in_inline_script = tag == "script" and "src" not in values

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self.inline_scripts.append(data)


def _csp() -> dict[str, list[str]]:
    directives = (part.split() for part in CONTENT_SECURITY_POLICY.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=security_headers(create_api()))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def _docs_page(client: httpx.AsyncClient) -> tuple[httpx.Response, _Refs]:
    response = await client.get(DOCS_URL)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    refs = _Refs()
    refs.feed(response.text)
    return response, refs


async def test_docs_page_names_no_other_host(client: httpx.AsyncClient) -> None:
    response, refs = await _docs_page(client)
    assert HOST_REFERENCE.findall(response.text) == [], response.text
    # The page loads its script, stylesheet and icon, all from the app's own static folder.
    kinds = {(tag, attr) for tag, attr, _ in refs.urls}
    assert {("script", "src"), ("link", "href")} <= kinds
    for tag, attr, url in refs.urls:
        assert url.startswith(f"{DOCS_STATIC_URL}/"), (tag, attr, url)
        assert not urlsplit(url).netloc
    # The spec URL in the inline bootstrap script is the app's own, by path.
    assert refs.inline_scripts, "Swagger UI is started by an inline script"
    spec_urls = re.findall(r"url: '([^']*)'", "".join(refs.inline_scripts))
    assert spec_urls == ["/api/openapi.json"]
    # Swagger UI's online validator would send the spec to validator.swagger.io.
    assert SWAGGER_UI_PARAMETERS["validatorUrl"] is None
    assert '"validatorUrl": null' in response.text


async def test_everything_the_page_loads_is_served_under_the_same_csp(
    client: httpx.AsyncClient,
) -> None:
    response, refs = await _docs_page(client)
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    csp = _csp()
    # An inline <script> starts Swagger UI: the CSP the app already sends has to allow it.
    assert "'unsafe-inline'" in csp["script-src"]
    expected_types = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
    urls = [url for _, _, url in refs.urls]
    urls += re.findall(r"url: '([^']*)'", "".join(refs.inline_scripts))
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert asset.headers["x-content-type-options"] == "nosniff"
        want = next((t for ext, t in expected_types.items() if url.endswith(ext)), "json")
        assert want in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > 1_000, url  # the real file, not an error page
    bundle = await client.get(f"{DOCS_STATIC_URL}/swagger-ui-bundle.js")
    assert b"SwaggerUIBundle" in bundle.content


@pytest.mark.parametrize(
    "path",
    [
        f"{DOCS_STATIC_URL}/missing.js",
        f"{DOCS_STATIC_URL}/../core.py",
        f"{DOCS_STATIC_URL}/%2e%2e/core.py",
        f"{DOCS_STATIC_URL}/..%2f__init__.py",
        f"{DOCS_STATIC_URL}/",
        "/docs",
        "/api/redoc",
        "/api/docs/oauth2-redirect",
    ],
)
async def test_nothing_but_the_assets_is_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404, (path, response.status_code)
    assert b"fastapi_offline" not in response.content


def test_install_docs_refuses_an_app_that_still_serves_the_cdn_page() -> None:
    from fastapi import FastAPI

    with pytest.raises(ValueError, match="docs_url=None"):
        install_docs(FastAPI(docs_url="/docs"))
    with pytest.raises(ValueError, match="openapi_url"):
        install_docs(FastAPI(docs_url=None, openapi_url=None))
