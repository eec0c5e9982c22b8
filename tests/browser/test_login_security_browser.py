"""Login security against the real served app (gunicorn + uvicorn via scripts/start.sh).

- Rotating X-Forwarded-For from 127.0.0.1 does not give a guesser a fresh throttle: the app
  server no longer rewrites the peer from that header (issue 8 #9), and the admin's
  clear-throttle, a separate process, reaches the running server (#4).
- "Log out everywhere" says, before the user confirms, that personal API tokens go too, and
  then revokes them (#6).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
from playwright.sync_api import expect

from tests.browser.test_auth_journey import register
from tests.conftest import unique_email
from tests.support.served_app import PROJECT_ROOT, ServedApp

PASSWORD = "s3cret-pass"


def clear_throttle(served_app: ServedApp, subject: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "chat_app", "clear-throttle", subject],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "DATA_DIR": str(served_app.data_dir),
            "DATABASE_URL": "",
            "APP_ENV": "development",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_rotating_forwarded_for_does_not_escape_the_throttle(served_app: ServedApp) -> None:
    clear_throttle(served_app, "127.0.0.1")  # whatever earlier tests left on loopback
    email = unique_email("xff")
    with httpx.Client(base_url=served_app.base_url, timeout=30) as client:
        created = client.post(
            "/api/v1/auth/register",
            json={"email": email, "display_name": "X", "password": PASSWORD},
        )
        assert created.status_code == 201, created.text
        # A spray over many accounts, each attempt claiming another address: if the server
        # believed X-Forwarded-For from 127.0.0.1 (gunicorn/uvicorn's default), every attempt
        # would count against a fresh address and nothing would ever be throttled.
        for i in range(20):
            response = client.post(
                "/api/v1/auth/login",
                json={"email": unique_email("spray"), "password": f"guess {i}"},
                headers={"X-Forwarded-For": f"192.0.2.{i}"},
            )
            assert response.status_code == 403, (i, response.text)
        blocked = client.post(
            "/api/v1/auth/login",
            json={"email": email, "password": PASSWORD},
            headers={"X-Forwarded-For": "192.0.2.77"},
        )
        assert blocked.status_code == 429, blocked.text
        assert "Try again in" in blocked.json()["error"]["message"]

        # The administrator's CLI, another process, clears the running server's throttle.
        assert clear_throttle(served_app, "127.0.0.1").startswith("Cleared ")
        # Nor is the scheme taken from a client's header: no Secure cookie over plain http.
        ok = client.post(
            "/api/v1/auth/login",
            json={"email": email, "password": PASSWORD, "set_cookie": True},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert ok.status_code == 200, ok.text
        assert "secure" not in ok.headers["set-cookie"].lower()
    clear_throttle(served_app, "127.0.0.1")  # leave loopback clean for the rest of the suite


def test_log_out_everywhere_warns_then_revokes_personal_tokens(page, served_app) -> None:
    email = unique_email("everywhere")
    register(page, email, password=PASSWORD)
    with httpx.Client(base_url=served_app.base_url, timeout=30) as client:
        bearer = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {bearer.json()['access_token']}"}
        secret = client.post("/api/v1/tokens", json={"name": "script"}, headers=headers).json()[
            "secret"
        ]
        as_token = {"Authorization": f"Bearer {secret}"}
        assert client.get("/api/v1/me", headers=as_token).status_code == 200

        page.get_by_test_id("user-menu").click()
        page.get_by_test_id("logout-everywhere").click()
        dialog = page.get_by_role("alertdialog")
        expect(dialog).to_contain_text("Log out everywhere?")
        expect(dialog).to_contain_text("revokes all your personal API tokens")
        # Cancel changes nothing.
        dialog.get_by_role("button", name="Cancel").click()
        expect(dialog).to_have_count(0)
        expect(page.get_by_test_id("chat-shell")).to_be_visible()
        assert client.get("/api/v1/me", headers=as_token).status_code == 200

        page.get_by_test_id("user-menu").click()
        page.get_by_test_id("logout-everywhere").click()
        page.get_by_test_id("logout-everywhere-confirm").click()
        expect(page).to_have_url(re.compile(r"/login/?\?reason=logged_out_everywhere"))
        assert client.get("/api/v1/me", headers=as_token).status_code == 401
        assert client.get("/api/v1/me", headers=headers).status_code == 401
