"""Hostile input typed or pasted in real Chromium: lone surrogates in every text box, a 1 MB paste.

A page can hold a lone surrogate in a string (a broken paste, a script); before the input rule
it gave error toasts and a search holding one left the tab unable to load again. A 1 MB message
was one websocket frame larger than the server accepts: the socket closed and the text vanished.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, WebSocket, expect

from tests.browser.conftest import BROWSER_MAX_MESSAGE_CHARS
from tests.browser.test_auth_journey import register
from tests.conftest import unique_email
from tests.support.fake_openai import FakeOpenAI
from tests.support.served_app import ServedApp

pytestmark = pytest.mark.browser

REPLY_TEXT = "[data-testid=message-assistant] .chat-markdown"
TOAST = "[data-sonner-toast]"
# JavaScript source (not Python strings): Playwright's protocol could not carry the character.
LONE = "\\uD800"


@pytest.fixture
def page(browser, served_app: ServedApp, fake_model: FakeOpenAI) -> Iterator[Page]:
    fake_model.configure(tokens_per_second=200, reply_tokens=5, reply_text="Fine answer", ttft_ms=0)
    context = browser.new_context(
        base_url=served_app.base_url, viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    register(page, unique_email("hostile"))
    yield page
    context.close()


class Sockets:
    """The page's websockets: how many closed, and the engine.io handshake's frame limit."""

    def __init__(self, page: Page) -> None:
        self.closed = 0
        self.max_payload: int | None = None
        self.sent: list[str] = []
        page.on("websocket", self._watch)

    def _watch(self, socket: WebSocket) -> None:
        socket.on("close", lambda _socket: self._close())
        socket.on("framereceived", self._frame)
        socket.on("framesent", self._sent)

    def _sent(self, payload: str | bytes) -> None:
        if isinstance(payload, str):
            self.sent.append(payload)

    def carried_lone_surrogate(self) -> bool:
        """A frame sent the surrogate as JSON does (an escape): it did reach the server."""
        return any("\\ud800" in frame.lower() for frame in self.sent)

    def _close(self) -> None:
        self.closed += 1

    def _frame(self, payload: str | bytes) -> None:
        if isinstance(payload, str) and payload.startswith("0{"):
            self.max_payload = json.loads(payload[1:]).get("maxPayload")


def set_value(page: Page, test_id: str, js_text: str) -> None:
    """Put ``js_text`` (a JS string literal's content) into an uncontrolled box."""
    expect(page.get_by_test_id(test_id)).to_be_editable()
    page.evaluate(
        f"() => {{ document.querySelector('[data-testid={test_id}]').value = '{js_text}'; }}"
    )


def no_toast_and_connected(page: Page, served_app: ServedApp) -> None:
    expect(page.locator(TOAST)).to_have_count(0)
    assert "surrogates not allowed" not in served_app.log_tail(400)


def test_lone_surrogates_in_send_search_rename_and_system_prompt(
    page: Page, served_app: ServedApp
) -> None:
    sockets = Sockets(page)
    page.reload()  # the watcher sees this page's socket from its handshake on
    box = page.get_by_test_id("composer-input")
    set_value(page, "composer-input", f"say {LONE} ok")
    box.press("Enter")
    expect(page.locator(REPLY_TEXT).last).to_contain_text("Fine answer", timeout=20_000)
    expect(page.get_by_test_id("message-user").last).to_have_text("say \ufffd ok")
    no_toast_and_connected(page, served_app)
    assert sockets.carried_lone_surrogate()
    sockets.sent.clear()
    first_chat = page.url

    page.get_by_test_id("system-prompt").click()
    set_value(page, "system-prompt-input", f"Be brief {LONE}")
    page.get_by_test_id("system-prompt-save").click()
    expect(page.get_by_test_id("system-prompt-input")).to_have_count(0)
    no_toast_and_connected(page, served_app)
    # Read through the browser's FormData, which already makes the text well-formed (U+FFFD);
    # a script's raw payload is driven in tests/security/test_hostile_text_events.py.

    items = page.get_by_test_id("sidebar-item")
    items.first.get_by_test_id("sidebar-item-menu").click()
    page.get_by_test_id("rename").click()
    set_value(page, "rename-input", f"Odd {LONE} title")
    page.get_by_test_id("rename-save").click()
    expect(items.first).to_have_text("Odd \ufffd title")
    no_toast_and_connected(page, served_app)
    page.get_by_test_id("new-chat").click()
    expect(page.get_by_test_id("welcome")).to_be_visible()
    box.fill("a plain chat")
    box.press("Enter")
    expect(items).to_have_count(2)
    sockets.sent.clear()

    # The search box is controlled by React: type into it the way a paste does.
    page.get_by_test_id("search").focus()
    page.evaluate(f"() => document.execCommand('insertText', false, 'Odd {LONE}')")
    expect(items).to_have_count(1)
    expect(items.first).to_have_text("Odd \ufffd title")
    no_toast_and_connected(page, served_app)
    assert sockets.carried_lone_surrogate()

    # The same tab (same tab token) loads again, and keeps working.
    page.reload()
    expect(page.get_by_test_id("chat-shell")).to_be_visible()
    expect(page.get_by_test_id("message-user").last).to_have_text("a plain chat")
    page.goto(first_chat)
    expect(page.get_by_test_id("message-user").last).to_have_text("say \ufffd ok")
    page.get_by_test_id("new-chat").click()
    # The new chat's composer replaces the conversation's: type into that one.
    expect(page.get_by_test_id("welcome")).to_be_visible()
    box.fill("after the reload")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}$"))
    expect(page.locator(REPLY_TEXT).last).to_contain_text("Fine answer", timeout=20_000)
    no_toast_and_connected(page, served_app)


def test_a_one_megabyte_paste_is_refused_in_the_page_and_the_tab_stays(
    page: Page, served_app: ServedApp
) -> None:
    sockets = Sockets(page)
    page.reload()  # the watcher sees this page's socket from its handshake on
    expect(page.get_by_test_id("chat-shell")).to_be_visible()
    size = 1_000_000
    box = page.get_by_test_id("composer-input")
    box.focus()
    # A real paste, through the system clipboard.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.evaluate("(size) => navigator.clipboard.writeText('x'.repeat(size))", size)
    box.press("Control+V")
    assert page.evaluate("() => document.activeElement.value.length") == size
    box.press("Enter")
    error = page.get_by_test_id("composer-error")
    expect(error).to_contain_text(
        f"too long ({size:,} characters; the limit is {BROWSER_MAX_MESSAGE_CHARS:,})"
    )
    assert page.evaluate("() => document.activeElement.value.length") == size  # text kept
    assert sockets.closed == 0
    expect(page.get_by_test_id("sidebar-item")).to_have_count(0)  # nothing was sent
    # Any message within the limit fits the server's frame, whatever JSON makes of it.
    assert sockets.max_payload is not None
    assert sockets.max_payload >= 6 * BROWSER_MAX_MESSAGE_CHARS

    # Counted as the server counts: an emoji is one character, not two UTF-16 units.
    page.evaluate(
        "(n) => { document.activeElement.value = '\\u{1F600}'.repeat(n); }",
        BROWSER_MAX_MESSAGE_CHARS,
    )
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}$"), timeout=30_000)
    expect(page.locator(REPLY_TEXT).last).to_contain_text("Fine answer", timeout=30_000)
    assert sockets.closed == 0
    no_toast_and_connected(page, served_app)

    # The edit box of the last message has the same check (the clipboard still holds 1 MB).
    page.get_by_test_id("edit").click()
    edit = page.get_by_test_id("edit-input")
    edit.focus()
    edit.press("Control+A")
    edit.press("Control+V")
    page.get_by_test_id("edit-save").click()
    expect(page.get_by_role("alert")).to_contain_text(
        f"too long ({size:,} characters; the limit is {BROWSER_MAX_MESSAGE_CHARS:,})"
    )
    assert edit.evaluate("(box) => box.value.length") == size  # the text stays to fix
    assert sockets.closed == 0
