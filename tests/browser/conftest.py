"""Real Chromium (Debian's package) driven by Playwright against the served app.

Locally, a machine without Chromium skips these tests; under CI (CI=true) that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.fake_openai import FakeOpenAI, start_fake_openai
from tests.support.served_app import ServedApp, free_port, serve_app

# The machine is shared (and CI's may be busy): an assertion about the page waits up to 10 s
# (Playwright's default is 5 s) before failing; a passing one returns as soon as it holds.
expect.set_options(timeout=10_000)

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/lib/chromium/chromium"))
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


# The compiled frontend has its server's port baked in, and every served app builds into the
# same .web folder: two apps alive at once would point each other's pages at the wrong port.
# So the whole browser suite shares ONE app (and one fake model that tests re-configure).
# The XSS corpus sends a 100 KB payload as a message and gets it back whole as a reply.
BROWSER_MAX_MESSAGE_CHARS = 250_000
# Local-model names rather than "fake-…": the journey's desktop screenshot goes into the README.
BROWSER_MODELS = ["llama3.1:8b", "qwen2.5:7b"]
PROXIED_APP_URL = "https://chat.example.com"
# test_reverse_proxy.py's nginx connects from here; everything else from 127.0.0.1 (untrusted).
PROXY_ADDRESS = "127.0.0.2"


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeOpenAI]:
    server = start_fake_openai(models=BROWSER_MODELS)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def served_app(
    browser, fake_model: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedApp]:
    # `browser` first: without Chromium the suite is skipped before the app is built.
    port = free_port()
    app = serve_app(
        tmp_path_factory.mktemp("served-app"),
        port=port,
        env={
            # Deployed behind a TLS proxy (test_reverse_proxy.py goes through nginx), and
            # reached directly on loopback by every other browser test.
            "APP_URL": PROXIED_APP_URL,
            "ALLOWED_ORIGINS": f"http://127.0.0.1:{port}",
            "TRUSTED_PROXIES": PROXY_ADDRESS,
            "OPENAI_BASE_URL": fake_model.base_url,
            "OPENAI_API_KEY": "test",
            "MAX_MESSAGE_CHARS": str(BROWSER_MAX_MESSAGE_CHARS),
            "MAX_REPLY_TOKENS": "60000",
            # The 100 KB reply is past the default size cap (100,000 characters) by a little.
            "MAX_REPLY_CHARS": str(BROWSER_MAX_MESSAGE_CHARS),
            # Browser tests send quickly; the limit itself is tested in tests/api.
            "SEND_RATE_PER_MINUTE": "0",
        },
    )
    yield app
    app.stop()


@pytest.fixture
def page(browser, served_app: ServedApp) -> Iterator:
    context = browser.new_context(
        base_url=served_app.base_url, viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
