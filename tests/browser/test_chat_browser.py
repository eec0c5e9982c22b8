"""The chat in real Chromium, against the served app and a slow fake OpenAI server.

What only a browser shows: text arriving in increments, a reload or a second tab picking up a
reply mid-stream, Stop from another tab, Enter/Shift+Enter, hostile model output staying inert,
and how the page looks (screenshots in test-artifacts/).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import BROWSER_MAX_MESSAGE_CHARS, BROWSER_MODELS
from tests.browser.test_auth_journey import register
from tests.conftest import unique_email
from tests.support.fake_openai import FakeOpenAI
from tests.support.served_app import ServedApp

pytestmark = pytest.mark.browser

TOKENS_PER_SECOND = 20
REPLY_TOKENS = 60
MAX_MESSAGE_CHARS = BROWSER_MAX_MESSAGE_CHARS
REPLY_TIMEOUT_MS = 20_000  # the slowest reply here is 300 tokens at 20/s, stopped halfway
CONVERSATION_URL = re.compile(r"/c/[0-9a-f-]{36}$")

LIVE = "[data-testid=streaming-reply]"
REPLY_TEXT = "[data-testid=message-assistant] .chat-markdown"

HOSTILE = "\n\n".join(
    [
        "Here is some hostile output.",
        "<script>window.__pwned=1</script>",
        '<iframe srcdoc="<script>parent.__pwned=2</script>"></iframe>',
        "<svg><script>window.__pwned=3</script></svg>",
        "<style>body{display:none}</style>",
        "[x](javascript:window.__pwned=4)",
        "![i](http://203.0.113.9/leak.png)",
        "The end.",
    ]
)


def tokens(count: int) -> str:
    return " ".join(f"tok{i}" for i in range(count))


# ---- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def fake(fake_model: FakeOpenAI) -> FakeOpenAI:
    return fake_model


@pytest.fixture
def chat_server(served_app: ServedApp) -> ServedApp:
    return served_app


@pytest.fixture
def model(fake: FakeOpenAI) -> FakeOpenAI:
    """The fake model at the default slow pace; tests change it as they need."""
    fake.configure(
        tokens_per_second=TOKENS_PER_SECOND, reply_tokens=REPLY_TOKENS, reply_text=None, ttft_ms=0
    )
    return fake


@pytest.fixture
def context(browser, chat_server: ServedApp) -> Iterator:
    ctx = browser.new_context(
        base_url=chat_server.base_url, viewport={"width": 1280, "height": 800}
    )
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()


@pytest.fixture
def chat(context, model: FakeOpenAI) -> Page:
    """A freshly registered user on the new-chat page."""
    page = context.new_page()
    register(page, unique_email("chat"))
    expect(page.get_by_test_id("welcome")).to_be_visible()
    return page


# ---- helpers ---------------------------------------------------------------------------------


def send(page: Page, text: str) -> None:
    box = page.get_by_test_id("composer-input")
    box.fill(text)
    box.press("Enter")


def live_length(page: Page) -> int:
    """Visible length of the reply being written (-1: none on screen)."""
    return page.evaluate(f"() => document.querySelector('{LIVE}')?.innerText.trim().length ?? -1")


def reply_texts(page: Page) -> list[str]:
    return [t.strip() for t in page.locator(REPLY_TEXT).all_inner_texts()]


def shot(page: Page, path) -> None:
    # Transitions (drawer slide, menu fade) finish at once, so the picture shows the end state.
    page.screenshot(path=str(path), animations="disabled")


def wait_for_reply(page: Page, last_words: str) -> None:
    expect(page.locator(REPLY_TEXT).last).to_contain_text(last_words, timeout=REPLY_TIMEOUT_MS)
    expect(page.locator(LIVE)).to_have_count(0)


# ---- streaming ---------------------------------------------------------------------------------


def test_reply_appears_incrementally_then_joins_the_conversation(chat: Page) -> None:
    send(chat, "Hello there")
    expect(chat).to_have_url(CONVERSATION_URL)
    expect(chat.get_by_test_id("message-user")).to_have_text("Hello there")
    expect(chat.locator(LIVE)).to_contain_text("tok1")

    full = len(tokens(REPLY_TOKENS))
    samples = []
    for _ in range(15):
        length = live_length(chat)
        if length < 0:
            break
        samples.append(length)
        chat.wait_for_timeout(150)  # sampling the stream, not waiting for a condition
    partial = sorted({n for n in samples if 0 < n < full})
    assert len(partial) >= 3, f"the reply did not grow through intermediate lengths: {samples}"
    assert samples == sorted(samples), f"the visible reply shrank: {samples}"

    wait_for_reply(chat, f"tok{REPLY_TOKENS - 1}")
    assert reply_texts(chat) == [tokens(REPLY_TOKENS)]
    meta = chat.get_by_test_id("message-meta")
    expect(meta).to_contain_text(f"{REPLY_TOKENS} completion tokens")
    expect(meta).to_contain_text("first token in")
    expect(meta).to_contain_text(BROWSER_MODELS[0])
    current = chat.locator("[data-testid=sidebar-item][data-current=true]")
    expect(current).to_have_count(1)


def test_reload_mid_reply_shows_text_so_far_and_continues(chat: Page, model: FakeOpenAI) -> None:
    model.configure(reply_tokens=120)  # six seconds: time to reload in the middle
    send(chat, "Tell me a long story")
    expect(chat.locator(LIVE)).to_contain_text("tok5")
    chat.reload()
    expect(chat.get_by_test_id("message-user")).to_have_text("Tell me a long story")
    expect(chat.locator(LIVE)).to_contain_text("tok5")  # the text so far, right away
    assert 0 < live_length(chat) < len(tokens(120))
    wait_for_reply(chat, "tok119")
    assert reply_texts(chat) == [tokens(120)]  # no gap, no duplicate


def test_second_tab_follows_the_reply_and_stops_it(
    chat: Page, context, model, artifacts_dir
) -> None:
    model.configure(reply_tokens=300)
    send(chat, "Count slowly")
    expect(chat).to_have_url(CONVERSATION_URL)
    expect(chat.locator(LIVE)).to_contain_text("tok2")

    other = context.new_page()
    other.goto(chat.url)
    expect(other.locator(LIVE)).to_contain_text("tok2")
    seen = live_length(other)
    other.wait_for_function(
        f"n => (document.querySelector('{LIVE}')?.innerText.trim().length ?? 0) > n", arg=seen
    )
    # A second message while the reply is written is refused, with the reason shown.
    expect(chat.get_by_test_id("composer-busy")).to_be_visible()
    shot(chat, artifacts_dir / "chat-streaming.png")
    send(chat, "Are you done?")
    expect(chat.get_by_test_id("composer-error")).to_have_text("Wait for the reply or press Stop.")
    expect(chat.get_by_test_id("composer-input")).to_have_value("Are you done?")

    other.get_by_test_id("stop").click()
    for page in (chat, other):
        expect(page.get_by_test_id("status-badge")).to_have_text("Stopped", timeout=5_000)
        expect(page.locator(LIVE)).to_have_count(0)
    partial = reply_texts(chat)[0]
    assert partial.startswith("tok0 tok1 tok2") and "tok299" not in partial
    assert reply_texts(other) == [partial]

    chat.reload()
    expect(chat.get_by_test_id("status-badge")).to_have_text("Stopped")
    assert reply_texts(chat) == [partial]
    expect(chat.get_by_test_id("retry")).to_be_visible()
    shot(chat, artifacts_dir / "chat-stopped.png")
    assert chat.get_by_test_id("message-user").count() == 1  # the refused message was not stored


def test_switching_away_mid_reply_and_coming_back(chat: Page, model: FakeOpenAI) -> None:
    model.configure(tokens_per_second=200, reply_text="Other chat answer.")
    send(chat, "Other chat")
    wait_for_reply(chat, "Other chat answer.")
    chat.get_by_test_id("new-chat").click()
    expect(chat.get_by_test_id("welcome")).to_be_visible()
    model.configure(tokens_per_second=TOKENS_PER_SECOND, reply_text=None, reply_tokens=300)
    send(chat, "Long one")
    expect(chat).to_have_url(CONVERSATION_URL)
    expect(chat.locator(LIVE)).to_contain_text("tok2")

    links = chat.get_by_test_id("sidebar-link")
    links.filter(has_text="Other chat").click()
    expect(chat.get_by_test_id("message-user")).to_have_text(["Other chat"])
    expect(chat.get_by_test_id("send")).to_be_visible()  # this conversation is free
    chat.wait_for_timeout(300)  # several flush intervals: a watcher left running would show
    expect(chat.locator(LIVE)).to_have_count(0)
    assert reply_texts(chat) == ["Other chat answer."]

    links.filter(has_text="Long one").click()
    expect(chat.get_by_test_id("message-user")).to_have_text(["Long one"])
    expect(chat.locator(LIVE)).to_contain_text("tok2")  # the text so far, then live again
    seen = live_length(chat)
    chat.wait_for_function(
        f"n => (document.querySelector('{LIVE}')?.innerText.trim().length ?? 0) > n", arg=seen
    )
    chat.get_by_test_id("stop").click()
    expect(chat.get_by_test_id("status-badge")).to_have_text("Stopped", timeout=15_000)


def test_regenerate_and_edit_the_last_message(chat: Page, model: FakeOpenAI) -> None:
    model.configure(tokens_per_second=200, reply_text="First answer.")
    send(chat, "Question one")
    wait_for_reply(chat, "First answer.")

    model.configure(reply_text="Second answer.")
    chat.get_by_test_id("regenerate").click()
    wait_for_reply(chat, "Second answer.")
    assert reply_texts(chat) == ["Second answer."]

    model.configure(reply_text="Third answer.")
    chat.get_by_test_id("edit").click()
    chat.get_by_test_id("edit-input").fill("Question one, edited")
    chat.get_by_test_id("edit-save").click()
    wait_for_reply(chat, "Third answer.")
    expect(chat.get_by_test_id("message-user")).to_have_text(["Question one, edited"])
    assert reply_texts(chat) == ["Third answer."]

    chat.reload()
    expect(chat.get_by_test_id("message-user")).to_have_text(["Question one, edited"])
    expect(chat.locator(REPLY_TEXT)).to_have_text(["Third answer."])

    chat.context.grant_permissions(["clipboard-read", "clipboard-write"])
    chat.get_by_test_id("message-assistant").get_by_test_id("copy").click()
    expect(chat.get_by_text("Copied to clipboard")).to_be_visible()
    assert chat.evaluate("navigator.clipboard.readText()") == "Third answer."


# ---- composer --------------------------------------------------------------------------------


def test_composer_refuses_empty_and_too_long_keeps_text_and_shift_enter(chat: Page) -> None:
    box = chat.get_by_test_id("composer-input")
    box.press("Enter")
    expect(chat.get_by_test_id("composer-error")).to_have_text("Type a message first.")

    box.fill("line one")
    box.press("Shift+Enter")
    box.press_sequentially("line two")
    expect(box).to_have_value("line one\nline two")

    too_long = "x" * (MAX_MESSAGE_CHARS + 1)
    box.fill(too_long)
    box.press("Enter")
    expect(chat.get_by_test_id("composer-error")).to_contain_text("too long")
    expect(box).to_have_value(too_long)
    # Nothing was stored: still the new-chat page, and no conversation in the sidebar.
    expect(chat).to_have_url(re.compile(r"/$"))
    expect(chat.get_by_test_id("sidebar-item")).to_have_count(0)


# ---- ownership -------------------------------------------------------------------------------


def test_someone_elses_conversation_is_not_found(
    chat: Page, browser, chat_server, model, artifacts_dir
) -> None:
    model.configure(tokens_per_second=200, reply_text="Noted.")
    send(chat, "My secret plan")
    wait_for_reply(chat, "Noted.")
    private_url = chat.url

    stranger_context = browser.new_context(base_url=chat_server.base_url)
    try:
        stranger = stranger_context.new_page()
        register(stranger, unique_email("stranger"))
        for url in (private_url, "/c/not-an-id", f"/c/{uuid.uuid4()}"):
            stranger.goto(url)
            expect(stranger.get_by_test_id("conversation-not-found")).to_be_visible()
            expect(stranger.get_by_test_id("messages")).to_have_count(0)
            expect(stranger.get_by_text("My secret plan")).to_have_count(0)
            expect(stranger.get_by_text("Noted.")).to_have_count(0)
        shot(stranger, artifacts_dir / "chat-not-found.png")
        expect(stranger.get_by_test_id("composer-input")).to_have_count(0)
    finally:
        stranger_context.close()
    chat.reload()
    expect(chat.get_by_test_id("message-user")).to_have_text(["My secret plan"])


# ---- hostile output ----------------------------------------------------------------------------


def test_hostile_reply_is_shown_as_text_and_runs_nothing(chat: Page, model: FakeOpenAI) -> None:
    requested: list[str] = []
    chat.on("request", lambda request: requested.append(request.url))
    model.configure(tokens_per_second=None, reply_text=HOSTILE)
    send(chat, "Say something nasty")
    wait_for_reply(chat, "The end.")

    reply = chat.locator(REPLY_TEXT)
    expect(reply).to_contain_text("<script>window.__pwned=1</script>")
    expect(reply).to_contain_text("<style>body{display:none}</style>")
    reply.get_by_text("x", exact=True).click()
    chat.reload()  # the same text rendered again, from the stored history
    wait_for_reply(chat, "The end.")
    chat.locator(REPLY_TEXT).get_by_text("x", exact=True).click()

    assert chat.evaluate("typeof window.__pwned") == "undefined"
    expect(chat.locator("body")).to_be_visible()
    expect(chat.get_by_test_id("chat-shell")).to_be_visible()
    assert chat.locator("[data-testid=message-assistant] iframe").count() == 0
    assert chat.locator("[data-testid=message-assistant] img").count() == 0
    hosts = {urlparse(url).hostname for url in requested}
    assert hosts <= {"127.0.0.1", "localhost"}, hosts


# ---- sidebar -----------------------------------------------------------------------------------


def test_sidebar_search_rename_and_delete(chat: Page, model: FakeOpenAI) -> None:
    model.configure(tokens_per_second=200, reply_text="Alpha answer")
    send(chat, "Alpha question")
    wait_for_reply(chat, "Alpha answer")
    chat.get_by_test_id("new-chat").click()
    expect(chat.get_by_test_id("welcome")).to_be_visible()
    model.configure(reply_text="Beta answer")
    send(chat, "Beta question")
    wait_for_reply(chat, "Beta answer")

    items = chat.get_by_test_id("sidebar-item")
    expect(items).to_have_count(2)
    expect(items.first).to_have_attribute("data-current", "true")

    chat.get_by_test_id("search").fill("alpha")
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Alpha")
    chat.get_by_test_id("search").fill("")
    expect(items).to_have_count(2)

    items.first.get_by_test_id("sidebar-item-menu").click()
    chat.get_by_test_id("rename").click()
    chat.get_by_test_id("rename-input").fill("Renamed chat")
    chat.get_by_test_id("rename-save").click()
    expect(items.first).to_have_text("Renamed chat")

    items.first.get_by_test_id("sidebar-item-menu").click()
    chat.get_by_test_id("delete").click()
    chat.get_by_test_id("delete-confirm").click()
    expect(items).to_have_count(1)
    expect(chat).to_have_url(re.compile(r"/$"))
    chat.reload()
    expect(items).to_have_count(1)
    expect(items.first).to_contain_text("Alpha")


# ---- looks -------------------------------------------------------------------------------------


def test_screenshots_desktop_dark_and_phone(chat: Page, model: FakeOpenAI, artifacts_dir) -> None:
    model.configure(
        tokens_per_second=None,
        reply_text=(
            "Here is a **short** answer with a list and some code:\n\n"
            "1. First point\n2. Second point\n\n"
            "```python\ndef greet(name):\n    return f'Hello, {name}!'\n```\n\n"
            "See [the docs](https://example.com/docs) for more."
        ),
    )
    send(chat, "Show me some formatting, please")
    wait_for_reply(chat, "See the docs")
    shot(chat, artifacts_dir / "chat-desktop-light.png")

    chat.get_by_test_id("user-menu").click()
    chat.get_by_text("Toggle dark mode").click()
    expect(chat.locator("html")).to_have_class(re.compile("dark"))
    chat.mouse.move(0, 0)
    shot(chat, artifacts_dir / "chat-desktop-dark.png")

    chat.set_viewport_size({"width": 390, "height": 844})
    expect(chat.get_by_test_id("open-sidebar")).to_be_visible()
    shot(chat, artifacts_dir / "chat-phone-dark.png")
    assert chat.evaluate("document.documentElement.scrollWidth") <= 390
    chat.get_by_test_id("open-sidebar").click()
    expect(chat.get_by_test_id("sidebar-item")).to_be_in_viewport()
    shot(chat, artifacts_dir / "chat-phone-drawer.png")
    chat.get_by_test_id("sidebar-link").click()
    expect(chat.get_by_test_id("sidebar-item")).not_to_be_in_viewport()

    chat.get_by_test_id("user-menu").click()
    chat.get_by_text("Toggle dark mode").click()
    expect(chat.locator("html")).not_to_have_class(re.compile("dark"))
    chat.mouse.move(0, 0)
    shot(chat, artifacts_dir / "chat-phone-light.png")
