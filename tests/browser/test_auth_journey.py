"""Register → land on / → reload stays logged in → log out → / redirects to /login."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.conftest import unique_email


def register(page, email: str, name: str = "Browser User", password: str = "s3cret-pass") -> None:
    page.goto("/register")
    page.fill("#email", email)
    page.fill("#display_name", name)
    page.fill("#password", password)
    page.get_by_test_id("register-submit").click()
    expect(page.get_by_test_id("chat-shell")).to_be_visible()


def test_register_reload_logout(page, artifacts_dir):
    email = unique_email("journey")
    register(page, email, name="Journey <b>User</b>")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_test_id("user-name")).to_have_text("Journey <b>User</b>")

    # The session cookie is HttpOnly: page script cannot see it.
    cookies = page.context.cookies()
    session = [c for c in cookies if c["name"] == "chat_session"]
    assert session and session[0]["httpOnly"] and session[0]["sameSite"] == "Lax"
    assert "chat_session" not in page.evaluate("document.cookie")

    page.reload()
    expect(page.get_by_test_id("chat-shell")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "auth-logged-in.png"))

    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_text("You have been logged out.")).to_be_visible()

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_test_id("chat-shell")).to_have_count(0)


def test_wrong_password_shows_inline_error(page):
    email = unique_email("wrongpw")
    register(page, email)
    page.context.clear_cookies()
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", "not-the-password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_role("alert")).to_contain_text("Incorrect email or password.")
    page.fill("#password", "s3cret-pass")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("chat-shell")).to_be_visible()


def test_tampered_cookie_sends_back_to_login(page, served_app):
    page.context.add_cookies(
        [
            {
                "name": "chat_session",
                "value": "eyJhbGciOiJIUzI1NiJ9.e30.bad",
                "url": served_app.base_url,
            }
        ]
    )
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/?\?reason=expired"))
    expect(page.get_by_text("Your session has ended")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "chat_session"]
