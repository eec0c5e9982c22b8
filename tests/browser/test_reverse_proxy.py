"""Behind a TLS reverse proxy: nginx terminates HTTPS for https://chat.example.com and forwards
to the app, which is configured with ``APP_URL=https://chat.example.com`` (see conftest.py).

A Chromium of its own resolves chat.example.com to the proxy on loopback and accepts its
throwaway certificate. The whole journey works through the proxy (the page, the websocket, the
streamed reply, the Secure cookie), and a page of another origin behind the same proxy gets
nothing. The nginx configuration is the README's example, plus ``proxy_bind`` so that the
proxy has an address of its own on loopback.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    IN_CI,
    PROXIED_APP_URL,
    PROXY_ADDRESS,
)
from tests.browser.test_auth_journey import register
from tests.conftest import unique_email
from tests.support.fake_openai import FakeOpenAI
from tests.support.served_app import ServedApp, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HOST = PROXIED_APP_URL.split("://", 1)[1]

NGINX_CONF = """
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; "" close; }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name {host};
        ssl_certificate {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;
        location / {{
            proxy_pass http://127.0.0.1:{app_port};
            # The app trusts forwarded headers from this address only (TRUSTED_PROXIES in
            # conftest.py); the other tests reach it from 127.0.0.1, which it does not trust.
            proxy_bind {proxy_address};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def proxy(served_app: ServedApp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    if not Path(NGINX).exists() or shutil.which("openssl") is None:
        message = "nginx or openssl not installed (apt-get install nginx openssl)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    d = tmp_path_factory.mktemp("nginx")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}"),
            *("-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    app_port = int(served_app.base_url.rsplit(":", 1)[1])
    (d / "nginx.conf").write_text(
        NGINX_CONF.format(d=d, port=port, host=HOST, app_port=app_port, proxy_address=PROXY_ADDRESS)
    )
    process = subprocess.Popen(
        [NGINX, "-p", str(d), "-c", str(d / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            errors = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"nginx exited: {errors}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    yield port
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def proxied_page(browser, proxy: int) -> Iterator:
    """A page of a Chromium (its own launch) for which chat.example.com is the proxy."""
    own = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            f"--host-resolver-rules=MAP {HOST}:443 127.0.0.1:{proxy}",
            "--ignore-certificate-errors",
        ],
    )
    context = own.new_context(base_url=PROXIED_APP_URL, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()
    own.close()


def test_the_app_works_behind_a_tls_proxy(proxied_page, fake_model: FakeOpenAI) -> None:
    page = proxied_page
    fake_model.configure(tokens_per_second=30, reply_tokens=12, reply_text=None, ttft_ms=0)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    register(page, unique_email("proxied"))
    expect(page).to_have_url(re.compile(r"^https://chat\.example\.com/"))
    cookie = next(c for c in page.context.cookies() if c["name"] == "chat_session")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["domain"] == HOST

    page.get_by_test_id("composer-input").fill("Through the proxy")
    page.get_by_test_id("composer-input").press("Enter")
    expect(page.get_by_test_id("message-assistant").last).to_contain_text("tok11", timeout=30_000)
    assert sockets and all(url.startswith(f"wss://{HOST}/_event") for url in sockets), sockets

    # The app's own pages read their data through the proxy with the cookie.
    own = page.evaluate("fetch('/api/v1/export?format=json').then(r => r.text())")
    assert "Through the proxy" in own


def test_a_foreign_origin_behind_the_proxy_gets_nothing(proxy: int, served_app: ServedApp) -> None:
    """Raw HTTPS to the proxy with the Host of the app and a foreign Origin, cookie attached."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _, token = _register_direct(served_app)
    for origin in ("https://evil.example.com", "http://chat.example.com", "null"):
        connection = http.client.HTTPSConnection("127.0.0.1", proxy, context=context, timeout=10)
        connection.request(
            "GET",
            "/api/v1/export?format=json",
            headers={"Host": HOST, "Cookie": f"chat_session={token}", "Origin": origin},
        )
        response = connection.getresponse()
        body = response.read().decode()
        assert response.status == 403 and "foreign_origin" in body, (origin, body)
        assert response.getheader("access-control-allow-origin") is None
        connection.close()
    connection = http.client.HTTPSConnection("127.0.0.1", proxy, context=context, timeout=10)
    connection.request(
        "GET",
        "/api/v1/me",
        headers={"Host": HOST, "Cookie": f"chat_session={token}", "Origin": PROXIED_APP_URL},
    )
    assert connection.getresponse().status == 200
    connection.close()


def _register_direct(app: ServedApp) -> tuple[str, str]:
    email = unique_email("proxyraw")
    request = urllib.request.Request(
        app.base_url + "/api/v1/auth/register",
        data=json.dumps(
            {"email": email, "display_name": "Raw", "password": "s3cret-pass"}
        ).encode(),
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return email, json.loads(response.read())["access_token"]
    except urllib.error.HTTPError as exc:  # pragma: no cover - shown on failure
        raise AssertionError(exc.read().decode()) from exc
