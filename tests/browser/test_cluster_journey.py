"""Real Chromium through nginx (deploy/nginx.conf) with two app processes behind it.

Send a message while nginx routes everything to process 1; route new connections to process 2
(the other upstream marked ``down``, ``nginx -s reload``); reload mid-reply. The page and its
new websocket land on process 2, which did not write the reply: it must show the text so far
and keep streaming it to the end, whole. That needs the Redis reply bus (issue 9, §2).
"""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.browser.test_auth_journey import register
from tests.browser.test_chat_browser import LIVE, reply_texts, send, tokens
from tests.conftest import unique_email
from tests.support.cluster import Cluster
from tests.support.cluster_fixtures import (  # noqa: F401  (fixtures)
    cluster,
    cluster_fake,
    cluster_public_port,
    cluster_web_dir,
)
from tests.support.fake_openai import FakeOpenAI

CONVERSATION_URL = re.compile(r"/c/[0-9a-f-]{36}$")
REPLY_TOKENS = 90
TOKENS_PER_SECOND = 12  # about 7.5 s: time to reroute and reload in the middle


def test_a_reload_lands_on_the_other_process_and_the_reply_keeps_streaming(
    browser,
    cluster: Cluster,  # noqa: F811
    cluster_fake: FakeOpenAI,  # noqa: F811
) -> None:
    cluster_fake.configure(
        tokens_per_second=TOKENS_PER_SECOND, reply_tokens=REPLY_TOKENS, reply_text=None, ttft_ms=0
    )
    first, second = (f"127.0.0.1:{app.port}" for app in cluster.apps)
    cluster.route_only_to(0)
    context = browser.new_context(base_url=cluster.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(20_000)
    try:
        page = context.new_page()
        register(page, unique_email("cluster"))
        send(page, "Across processes")
        expect(page).to_have_url(CONVERSATION_URL)
        expect(page.locator(LIVE)).to_contain_text("tok5")
        conversation_path = "/" + page.url.split("/", 3)[3]

        cluster.route_only_to(1)
        before_reload = len(cluster.nginx.requests_seen())
        page.reload()
        expect(page.get_by_test_id("message-user")).to_have_text("Across processes")
        last = f"tok{REPLY_TOKENS - 1}"
        expect(page.locator("[data-testid=message-assistant]").last).to_contain_text(
            last, timeout=40_000
        )
        expect(page.locator(LIVE)).to_have_count(0)
        assert reply_texts(page) == [tokens(REPLY_TOKENS)]  # no gap, no duplicate
        reloaded = [
            u
            for u, path in cluster.nginx.requests_seen()[before_reload:]
            if path == conversation_path
        ]
        assert reloaded == [second], reloaded
    finally:
        context.close()
        cluster.route_to_all()

    # Websockets are logged when they close: the first page's went to process 1, the reloaded
    # page's (closed with the context just now) to process 2.
    deadline = time.monotonic() + 10
    sockets: list[str] = []
    while time.monotonic() < deadline:
        sockets = [u for u, path in cluster.nginx.requests_seen() if path.startswith("/_event")]
        if len(sockets) >= 2:
            break
        time.sleep(0.2)
    assert sockets[0] == first and sockets[-1] == second, sockets
