"""Settings in Chromium: create and revoke an API token; import a file; export links."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from tests.browser.test_auth_journey import register
from tests.conftest import unique_email

EXPORT = {
    "format": "chat-app-export",
    "version": 1,
    "exported_at": "2026-01-01T00:00:00Z",
    "conversations": [
        {
            "title": "Imported <img src=x onerror=window.__pwned=1>",
            "model": "demo",
            "system_prompt": "",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:01Z",
            "messages": [
                {"role": "user", "content": "old question", "created_at": "2026-01-01T00:00:00Z"},
                {
                    "role": "assistant",
                    "content": "old **answer**",
                    "created_at": "2026-01-01T00:00:01Z",
                },
            ],
        }
    ],
}


def test_token_lifecycle_and_import(page, tmp_path):
    register(page, unique_email("settings"))
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("open-settings").click()
    expect(page.get_by_test_id("settings-page")).to_be_visible()

    # A token outlives the session: the password is asked again, and a wrong one makes none.
    page.get_by_placeholder("Token name, e.g. laptop script").fill("ci script")
    page.get_by_test_id("token-password").fill("not my password")
    page.get_by_test_id("create-token").click()
    expect(page.get_by_text("That password is not correct.")).to_be_visible()
    expect(page.get_by_text("No tokens yet.")).to_be_visible()

    page.get_by_placeholder("Token name, e.g. laptop script").fill("ci script")
    page.get_by_test_id("token-password").fill("s3cret-pass")
    page.get_by_test_id("create-token").click()
    secret = page.get_by_test_id("new-token-secret")
    expect(secret).to_have_value(re.compile("^cat_"))
    token = secret.input_value()
    me = page.request.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.ok
    expect(page.get_by_role("cell", name="ci script")).to_be_visible()

    page.get_by_test_id("revoke-token").click()
    expect(page.get_by_text("No tokens yet.")).to_be_visible()
    revoked = page.request.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status == 401

    path = tmp_path / "export.json"
    path.write_text(json.dumps(EXPORT))
    page.set_input_files(f"#{'import-file'} input[type=file]", str(path))
    page.get_by_test_id("import-submit").click()
    expect(page.get_by_test_id("import-report")).to_contain_text("Imported")
    assert page.evaluate("window.__pwned") is None

    # The export link works with the browser's session cookie (a GET).
    exported = page.request.get("/api/v1/export?format=json")
    assert exported.ok and exported.json()["conversations"][0]["title"].startswith("Imported")

    page.goto("/")
    expect(page.get_by_text("Imported <img src=x onerror=window.__pwned=1>")).to_be_visible()
    assert page.evaluate("window.__pwned") is None
