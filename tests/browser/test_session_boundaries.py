"""Where a session may be used, checked on the served app: only by the app's own pages, only by
the tab it was used in, and not after it ended.

* A page on another port of the same host (same *site*: the SameSite=Lax cookie is sent) reads
  nothing over fetch and gets no websocket, in real Chromium; foreign origins of every kind
  (other port, sibling subdomain, ``null``) are refused at the handshake and on cookie requests,
  over raw HTTP with the cookie attached, as a hostile page's browser would send them.
* An old tab's ``?token=`` with no cookie, or with someone else's, gets an empty tab.
* After logout, the login page and the next user in the same tab receive nothing of the first.
* Disabling a user ends their reply in flight and sends their open tab to the login page.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Page, expect

from bench.reflex_client import FrontendBuild, ReflexTab
from chat_app.core.session_cookie import SESSION_COOKIE
from tests.browser.test_auth_journey import register
from tests.conftest import unique_email
from tests.support.fake_openai import FakeOpenAI
from tests.support.served_app import PROJECT_ROOT, ServedApp, free_port

T = TypeVar("T")
PASSWORD = "s3cret-pass"


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end on its own loop (Playwright's sync API owns this thread's)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=120)


def api(app: ServedApp, path: str, body: dict[str, Any] | None = None, **headers: str) -> Any:
    request = urllib.request.Request(
        app.base_url + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"content-type": "application/json", **headers},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def new_user(app: ServedApp, name: str) -> tuple[str, str]:
    """(email, session token) of a new account, registered over the API."""
    email = unique_email(name.lower())
    body = {"email": email, "display_name": name, "password": PASSWORD}
    return email, api(app, "/api/v1/auth/register", body)["access_token"]


def raw_request(app: ServedApp, lines: list[str]) -> str:
    """Send one HTTP/1.1 request as written; the status line and headers of the answer."""
    port = int(app.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        if not any(line.lower().startswith("connection:") for line in lines):
            lines = [*lines, "Connection: close"]
        sock.sendall(("\r\n".join([*lines, "", ""])).encode())
        answer = b""
        while b"\r\n\r\n" not in answer and len(answer) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n\r\n", 1)[0].decode("latin-1")


def handshake(app: ServedApp, origin: str | None, cookie: str) -> str:
    host = app.base_url.split("://", 1)[1]
    lines = [
        "GET /_event/?EIO=4&transport=websocket HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        f"Cookie: {cookie}",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    return raw_request(app, lines)


def foreign_origins(app: ServedApp) -> list[str]:
    port = int(app.base_url.rsplit(":", 1)[1])
    return [
        f"http://127.0.0.1:{free_port()}",  # another port of the same host
        f"http://evil.127.0.0.1.nip.io:{port}",  # a sibling name
        f"http://chat.localhost:{port}",
        f"https://127.0.0.1:{port}",
        "null",
    ]


# ---- foreign pages ---------------------------------------------------------------------------


def test_foreign_origins_are_refused_at_the_handshake_and_on_cookie_requests(
    served_app: ServedApp,
) -> None:
    _, token = new_user(served_app, "Alice")
    cookie = f"{SESSION_COOKIE}={token}"
    api(
        served_app,
        "/api/v1/conversations",
        {"title": "Alice-title"},
        authorization=f"Bearer {token}",
    )
    for origin in foreign_origins(served_app):
        assert handshake(served_app, origin, cookie).startswith("HTTP/1.1 403"), origin
        for path in ("/api/v1/export?format=json", "/api/v1/conversations", "/api/v1/me"):
            request = urllib.request.Request(
                served_app.base_url + path, headers={"Cookie": cookie, "Origin": origin}
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            body = refused.value.read().decode()
            assert refused.value.code == 403 and "Alice-title" not in body, (origin, path)
            assert refused.value.headers.get("access-control-allow-origin") is None
        # A preflight from there is not answered with permission either.
        preflight = raw_request(
            served_app,
            [
                "OPTIONS /api/v1/conversations HTTP/1.1",
                f"Host: {served_app.base_url.split('://', 1)[1]}",
                f"Origin: {origin}",
                "Access-Control-Request-Method: POST",
            ],
        )
        assert "access-control-allow-origin" not in preflight.lower(), origin
    # The app's own origin, and clients that are not browsers, are served.
    assert handshake(served_app, served_app.base_url, cookie).startswith("HTTP/1.1 101")
    assert handshake(served_app, None, cookie).startswith("HTTP/1.1 101")
    own = api(served_app, "/api/v1/conversations", Cookie=cookie, Origin=served_app.base_url)
    assert own["items"][0]["title"] == "Alice-title"


class _AttackerPage(BaseHTTPRequestHandler):
    html = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def attacker_site(served_app: ServedApp) -> Iterator[str]:
    """A page on another port of 127.0.0.1 that tries everything with the visitor's cookie."""
    app = served_app.base_url
    script = f"""
      window.results = {{}};
      const note = (k, v) => {{ window.results[k] = v; }};
      fetch("{app}/api/v1/export?format=json", {{credentials: "include"}})
        .then(r => r.text()).then(t => note("fetch", "read:" + t), e => note("fetch", "error"));
      fetch("{app}/api/v1/conversations", {{credentials: "include", mode: "no-cors"}})
        .then(r => note("nocors", r.type), e => note("nocors", "error"));
      const ws = new WebSocket("{app.replace("http", "ws")}/_event/?EIO=4&transport=websocket");
      ws.onopen = () => note("ws_open", true);
      ws.onmessage = e => note("ws_data", (window.results.ws_data || "") + e.data);
      ws.onclose = () => note("ws_closed", true);
    """
    handler = type("Attacker", (_AttackerPage,), {"html": f"<script>{script}</script>".encode()})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_a_page_on_another_port_gets_nothing(
    page: Page, served_app: ServedApp, fake_model: FakeOpenAI, attacker_site: str
) -> None:
    fake_model.configure(tokens_per_second=0, reply_tokens=3, reply_text=None, ttft_ms=0)
    register(page, unique_email("victim"))
    page.get_by_test_id("composer-input").fill("Victim-private-words")
    page.get_by_test_id("composer-input").press("Enter")
    expect(page.get_by_test_id("message-user").get_by_text("Victim-private-words")).to_be_visible()

    statuses: list[tuple[str, int]] = []
    attacker = page.context.new_page()  # same browser profile: the victim's cookie is sent
    attacker.on("response", lambda r: statuses.append((r.url, r.status)))
    attacker.goto(attacker_site)
    attacker.wait_for_function(
        "window.results && 'fetch' in results && 'nocors' in results && 'ws_closed' in results"
    )
    results = attacker.evaluate("window.results")
    assert results["fetch"] == "error"  # not readable
    assert results["nocors"] == "opaque"
    assert "ws_open" not in results and "ws_data" not in results
    # Refused by the app itself, not only hidden by the browser.
    api_statuses = [status for url, status in statuses if "/api/v1/" in url]
    assert api_statuses and set(api_statuses) == {403}, statuses
    assert "websocket from foreign origin" in served_app.log_tail(400)
    attacker.close()

    # Meanwhile the app's own page works as before, with the same cookie.
    own = page.evaluate("fetch('/api/v1/export?format=json').then(r => r.text())")
    assert "Victim-private-words" in own


# ---- old tab tokens --------------------------------------------------------------------------


async def _tab_state_after_reconnect(app: ServedApp) -> dict[str, Any]:
    build = FrontendBuild.read(PROJECT_ROOT / ".web")
    _, alice = new_user(app, "Alice")
    _, bob = new_user(app, "Bob")
    conversation = api(
        app, "/api/v1/conversations", {"title": "Alice-tab-secret"}, authorization=f"Bearer {alice}"
    )
    cid = conversation["id"]
    tab = ReflexTab(app.base_url, build, cookie=f"{SESSION_COOKIE}={alice}")
    await tab.open(f"/c/{cid}", {"conversation_id": cid})
    assert tab.var("cid") == cid
    seen: dict[str, Any] = {}
    for who, cookie in (("no cookie", None), ("bob", f"{SESSION_COOKIE}={bob}")):
        # The same tab token (as read from an access log), presented by someone else.
        other = ReflexTab(app.base_url, build, cookie=cookie, token=tab.token)
        await tab.close()
        await other.open("/login")
        seen[who] = {
            "first_updates": json.dumps([u.delta for u in other.updates]),
            "cid": other.var("cid"),
            "authenticated": other.var("authenticated"),
        }
        await other.close()
    return {"cid": cid, **seen}


def test_an_old_tabs_token_opens_an_empty_tab(served_app: ServedApp) -> None:
    seen = run_async(_tab_state_after_reconnect(served_app))
    for who in ("no cookie", "bob"):
        updates = seen[who]["first_updates"]
        assert seen["cid"] not in updates and "Alice-tab-secret" not in updates, who
        assert seen[who]["cid"] in ("", None), who


# ---- logout in the same tab ------------------------------------------------------------------


def test_after_logout_the_tab_carries_nothing_of_the_previous_user(
    page: Page, served_app: ServedApp, fake_model: FakeOpenAI
) -> None:
    fake_model.configure(tokens_per_second=0, reply_tokens=3, reply_text=None, ttft_ms=0)
    register(page, unique_email("first"), name="First User")
    page.get_by_test_id("composer-input").fill("First-user-private-words")
    page.get_by_test_id("composer-input").press("Enter")
    expect(page).to_have_url(re.compile(r"/c/"))
    cid = page.url.rsplit("/", 1)[1]
    # A token created in this tab just before logging out.
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("open-settings").click()
    page.get_by_placeholder("Token name, e.g. laptop script").fill("left behind")
    page.get_by_test_id("token-password").fill(PASSWORD)
    page.get_by_test_id("create-token").click()
    expect(page.get_by_test_id("new-token-secret")).to_have_value(re.compile("^cat_"))
    secret = page.get_by_test_id("new-token-secret").input_value()

    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_text("You have been logged out.")).to_be_visible()
    on_login_page = list(frames)

    second = unique_email("second")
    page.goto("/register")  # the same tab: sessionStorage (and its tab token) is kept
    register(page, second, name="Second User")
    expect(page.get_by_test_id("user-name")).to_have_text("Second User")
    expect(page.get_by_text("First-user-private-words")).to_have_count(0)
    page.goto("/settings")
    expect(page.get_by_test_id("settings-page")).to_be_visible()
    expect(page.get_by_text("left behind")).to_have_count(0)
    assert on_login_page, "the login page's socket sent nothing at all"
    for label, seen in (("login page", on_login_page), ("next user", frames)):
        text = "\n".join(seen)
        for leftover in ("First-user-private-words", cid, secret, "First User"):
            assert leftover not in text, (label, leftover)


# ---- disabling a user ------------------------------------------------------------------------


def _cli(app: ServedApp, *args: str) -> None:
    env = {
        **os.environ,
        "DATA_DIR": str(app.data_dir),
        "DATABASE_URL": "",
        "APP_ENV": "development",
    }
    subprocess.run(
        [str(PROJECT_ROOT / ".venv" / "bin" / "python"), "-m", "chat_app", *args],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


def _reply_status(app: ServedApp, cid: str) -> str:
    with sqlite3.connect(app.data_dir / "chat.db") as db:
        rows = db.execute(
            "SELECT status FROM messages WHERE conversation_id = ? AND role = 'assistant'",
            (cid.replace("-", ""),),
        ).fetchall()
        if not rows:  # stored with dashes on some SQLAlchemy versions
            rows = db.execute(
                "SELECT status FROM messages WHERE conversation_id = ? AND role = 'assistant'",
                (cid,),
            ).fetchall()
    return rows[-1][0]


def test_disabling_a_user_ends_their_reply_and_their_tab(
    page: Page, served_app: ServedApp, fake_model: FakeOpenAI
) -> None:
    fake_model.configure(tokens_per_second=5, reply_tokens=400, reply_text=None, ttft_ms=0)
    email = unique_email("disabled")
    register(page, email)
    page.get_by_test_id("composer-input").fill("A long answer please")
    page.get_by_test_id("composer-input").press("Enter")
    expect(page).to_have_url(re.compile(r"/c/"))
    cid = page.url.rsplit("/", 1)[1]
    expect(page.get_by_text("tok1", exact=False).first).to_be_visible()
    assert _reply_status(served_app, cid) == "streaming"

    started = time.monotonic()
    _cli(served_app, "disable-user", email)
    expect(page).to_have_url(re.compile(r"/login"), timeout=20_000)
    assert time.monotonic() - started < 20
    deadline = time.monotonic() + 10
    while _reply_status(served_app, cid) == "streaming" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _reply_status(served_app, cid) == "stopped"
    fake_model.configure(tokens_per_second=0)
