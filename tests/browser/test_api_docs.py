"""/api/docs in real Chromium: Swagger UI renders the API under the app's own CSP, offline.

FastAPI's default page loaded Swagger UI from a CDN, which the CSP refused: the page stayed
blank. Now every request the page makes goes to the app (127.0.0.1) and the CSP refuses nothing.
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
CSP_LISTENER_JS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__reportCsp?.(`${e.violatedDirective} ${e.blockedURI}`);
}, true);
"""


def test_docs_render_the_operations_from_the_app_alone(page, served_app):
    requests: list[str] = []
    csp: list[str] = []
    console_errors: list[str] = []
    page_errors: list[str] = []
    page.context.on("request", lambda request: requests.append(request.url))
    page.context.expose_binding("__reportCsp", lambda _source, what: csp.append(what))
    page.context.add_init_script(CSP_LISTENER_JS)
    page.on(
        "console",
        lambda message: console_errors.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    spec = page.request.get("/api/openapi.json").json()
    operations = [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in HTTP_METHODS
    ]
    assert len(operations) >= 10

    response = page.goto("/api/docs")
    assert response is not None and response.ok
    assert "default-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text(spec["info"]["title"])
    blocks = page.locator(".opblock")
    expect(blocks).to_have_count(len(operations))
    shown = [
        (
            block.locator(".opblock-summary-method").inner_text(),
            block.locator(".opblock-summary-path").get_attribute("data-path"),
        )
        for block in blocks.all()
    ]
    assert sorted(shown) == sorted(operations)
    login = page.locator(".opblock-post").filter(has_text="/api/v1/auth/login").first
    expect(login).to_be_visible()

    # It is a working UI, not a static list: an operation opens with its parameters and body.
    login.locator(".opblock-summary").click()
    expect(login.locator(".opblock-body")).to_be_visible()
    expect(login.get_by_role("button", name="Try it out")).to_be_visible()

    assert requests, "the page made no request at all"
    elsewhere = [u for u in requests if urlparse(u).scheme not in {"data", "blob"}]
    assert [u for u in elsewhere if urlparse(u).hostname != "127.0.0.1"] == []
    assert f"{served_app.base_url}/api/docs/static/swagger-ui-bundle.js" in requests
    assert f"{served_app.base_url}/api/openapi.json" in requests
    assert csp == [], "the CSP refused something the docs page needs"
    assert [e for e in console_errors if "Content Security Policy" in e] == []
    assert page_errors == []
