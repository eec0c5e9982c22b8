"""One new user's whole first session, end to end in real Chromium, against the served app and a
slow fake OpenAI server (25 tokens/s): register, chat and watch the reply arrive, stop a reply,
regenerate, rename, search, switch conversations mid-reply and come back, reload, export, look at
it light and dark on a desktop and a phone, log out.

Screenshots go to test-artifacts/ (journey-*.png); docs/screenshot.png is picked from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import BROWSER_MODELS
from tests.browser.test_auth_journey import register
from tests.conftest import unique_email
from tests.support.fake_openai import FakeOpenAI
from tests.support.served_app import ServedApp

pytestmark = pytest.mark.browser

TOKENS_PER_SECOND = 25
REPLY_TOKENS = 80
LONG_REPLY_TOKENS = 160  # 6.4 s: time to leave the conversation and come back mid-reply
WAIT_MS = 20_000  # expect()'s default is 5 s; a loaded machine needs more
REPLY_MS = 30_000
CONVERSATION_URL = re.compile(r"/c/[0-9a-f-]{36}$")
MODELS = BROWSER_MODELS

LIVE = "[data-testid=streaming-reply]"
REPLY_TEXT = "[data-testid=message-assistant] .chat-markdown"

QUESTION = "How do I greet someone in Python?"
FORMATTED_REPLY = """Here are three ways to greet someone in Python:

1. Print a fixed greeting
2. Use an **f-string** with the name
3. Wrap it in a function you can reuse

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"

print(greet("Ada"))
```

Call `greet()` with any name you like."""
REGENERATED = "Here you go: one, two, three, and so on up to eighty."


def tokens(count: int) -> str:
    return " ".join(f"tok{i}" for i in range(count))


@pytest.fixture
def fake(fake_model: FakeOpenAI) -> FakeOpenAI:
    fake_model.configure(tokens_per_second=TOKENS_PER_SECOND, reply_tokens=REPLY_TOKENS)
    return fake_model


@pytest.fixture
def journey_app(served_app: ServedApp) -> ServedApp:
    return served_app


@pytest.fixture
def page(browser, journey_app: ServedApp) -> Iterator[Page]:
    context = browser.new_context(
        base_url=journey_app.base_url, viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    yield page
    context.close()


def send(page: Page, text: str) -> None:
    box = page.get_by_test_id("composer-input")
    box.fill(text)
    box.press("Enter")


def live_length(page: Page) -> int:
    """Visible length of the reply being written (-1: none on screen)."""
    return page.evaluate(f"() => document.querySelector('{LIVE}')?.innerText.trim().length ?? -1")


def wait_until_longer(page: Page, than: int) -> None:
    page.wait_for_function(
        f"n => (document.querySelector('{LIVE}')?.innerText.trim().length ?? 0) > n", arg=than
    )


def reply_texts(page: Page) -> list[str]:
    return [t.strip() for t in page.locator(REPLY_TEXT).all_inner_texts()]


def wait_for_reply(page: Page, last_words: str) -> None:
    expect(page.locator(REPLY_TEXT).last).to_contain_text(last_words, timeout=REPLY_MS)
    expect(page.locator(LIVE)).to_have_count(0, timeout=WAIT_MS)


def shot(page: Page, path) -> None:
    page.mouse.move(0, 0)  # no hover highlight or tooltip in the picture
    page.screenshot(path=str(path), animations="disabled")


def toggle_dark_mode(page: Page, dark: bool) -> None:
    page.get_by_test_id("user-menu").click()
    page.get_by_text("Toggle dark mode").click()
    html = expect(page.locator("html"))
    if dark:
        html.to_have_class(re.compile(r"\bdark\b"), timeout=WAIT_MS)
    else:
        html.not_to_have_class(re.compile(r"\bdark\b"), timeout=WAIT_MS)


def test_first_session(page: Page, fake: FakeOpenAI, artifacts_dir) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sidebar_links = page.get_by_test_id("sidebar-link")

    # ---- register ----
    register(page, unique_email("journey"), name="Ada Lovelace")
    expect(page.get_by_test_id("welcome")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("user-name")).to_have_text("Ada Lovelace", timeout=WAIT_MS)

    # ---- chat: the reply arrives a little at a time, then is formatted ----
    fake.configure(reply_text=FORMATTED_REPLY, tokens_per_second=TOKENS_PER_SECOND)
    send(page, QUESTION)
    expect(page).to_have_url(CONVERSATION_URL, timeout=WAIT_MS)
    python_url = page.url
    expect(page.get_by_test_id("message-user")).to_have_text(QUESTION, timeout=WAIT_MS)
    expect(page.locator(LIVE)).to_contain_text("Here are", timeout=WAIT_MS)
    samples = []
    for _ in range(30):
        length = live_length(page)
        if length < 0:
            break
        samples.append(length)
        page.wait_for_timeout(150)  # sampling the stream, not waiting for a condition
    partial = sorted({n for n in samples if 0 < n < len(FORMATTED_REPLY) - 40})
    assert len(partial) >= 3, f"the reply did not grow through intermediate lengths: {samples}"
    assert samples == sorted(samples), f"the visible reply shrank: {samples}"
    wait_for_reply(page, "with any name you like.")
    reply = page.locator(REPLY_TEXT).last
    expect(reply.locator("ol > li")).to_have_count(3, timeout=WAIT_MS)
    expect(reply.locator("pre")).to_contain_text('return f"Hello, {name}!"', timeout=WAIT_MS)
    expect(reply.locator("strong")).to_have_text("f-string", timeout=WAIT_MS)
    expect(page.get_by_test_id("message-meta")).to_contain_text(MODELS[0])
    expect(page.get_by_test_id("message-meta")).to_contain_text("completion tokens")

    # ---- rename it (after the automatic title has landed) ----
    first_item = page.get_by_test_id("sidebar-item").first
    expect(first_item).to_be_visible(timeout=WAIT_MS)
    expect(first_item).not_to_have_text("How do I greet someone in…", timeout=WAIT_MS)
    first_item.get_by_test_id("sidebar-item-menu").click()
    page.get_by_test_id("rename").click()
    page.get_by_test_id("rename-input").fill("Python greetings")
    page.get_by_test_id("rename-save").click()
    expect(first_item).to_have_text("Python greetings", timeout=WAIT_MS)

    # ---- a second conversation: stop a reply halfway, then regenerate it ----
    page.get_by_test_id("new-chat").click()
    expect(page.get_by_test_id("welcome")).to_be_visible(timeout=WAIT_MS)
    fake.configure(reply_text=None, reply_tokens=REPLY_TOKENS)
    send(page, "Count to eighty, slowly")
    expect(page).to_have_url(CONVERSATION_URL, timeout=WAIT_MS)
    count_url = page.url
    assert count_url != python_url
    expect(page.locator(LIVE)).to_contain_text("tok5", timeout=WAIT_MS)
    page.get_by_test_id("stop").click()
    expect(page.get_by_test_id("status-badge")).to_have_text("Stopped", timeout=WAIT_MS)
    expect(page.locator(LIVE)).to_have_count(0, timeout=WAIT_MS)
    stopped = reply_texts(page)
    assert len(stopped) == 1 and stopped[0].startswith("tok0 tok1 tok2 tok3 tok4 tok5")
    assert f"tok{REPLY_TOKENS - 1}" not in stopped[0]  # partial text kept, nothing more

    fake.configure(reply_text=REGENERATED)
    page.get_by_test_id("regenerate").click()
    wait_for_reply(page, "up to eighty.")
    assert reply_texts(page) == [REGENERATED]  # replaced, not added
    expect(page.get_by_test_id("status-badge")).to_have_count(0, timeout=WAIT_MS)

    # ---- leave mid-reply for the other conversation, come back: it went on ----
    fake.configure(reply_text=None, reply_tokens=LONG_REPLY_TOKENS)
    send(page, "Now count once more")
    expect(page.locator(LIVE)).to_contain_text("tok3", timeout=WAIT_MS)
    left_at = live_length(page)
    sidebar_links.filter(has_text="Python greetings").click()
    expect(page).to_have_url(python_url, timeout=WAIT_MS)
    expect(page.get_by_test_id("message-user")).to_have_text([QUESTION], timeout=WAIT_MS)
    expect(page.locator(REPLY_TEXT)).to_contain_text(["with any name you like."])
    expect(page.locator(LIVE)).to_have_count(0, timeout=WAIT_MS)  # not shown in this one
    sidebar_links.filter(has_text="Count to eighty").click()
    expect(page).to_have_url(count_url, timeout=WAIT_MS)
    expect(page.locator(LIVE)).to_be_visible(timeout=WAIT_MS)  # still writing…
    wait_until_longer(page, left_at)  # …and it had gone on meanwhile
    wait_for_reply(page, f"tok{LONG_REPLY_TOKENS - 1}")
    assert reply_texts(page) == [REGENERATED, tokens(LONG_REPLY_TOKENS)]  # no gap, no repeat

    # ---- search the sidebar ----
    search = page.get_by_test_id("search")
    items = page.get_by_test_id("sidebar-item")
    expect(items).to_have_count(2, timeout=WAIT_MS)
    search.fill("python")
    expect(items).to_have_count(1, timeout=WAIT_MS)
    expect(items.first).to_have_text("Python greetings", timeout=WAIT_MS)
    search.fill("")
    expect(items).to_have_count(2, timeout=WAIT_MS)

    # ---- reload: everything is still there ----
    page.reload()
    expect(page.get_by_test_id("message-user")).to_have_text(
        ["Count to eighty, slowly", "Now count once more"], timeout=WAIT_MS
    )
    assert reply_texts(page) == [REGENERATED, tokens(LONG_REPLY_TOKENS)]
    expect(items).to_have_count(2, timeout=WAIT_MS)

    # ---- export this conversation from its menu ----
    page.get_by_test_id("export-conversation").click()
    link = page.get_by_role("menuitem").locator("a").filter(has_text="Export as JSON")
    href = link.get_attribute("href")
    assert href and href.endswith("/export?format=json")
    page.keyboard.press("Escape")
    exported = page.request.get(href)
    assert exported.ok, exported.text()
    assert "attachment" in exported.headers.get("content-disposition", "")
    conversations = exported.json()["conversations"]
    assert len(conversations) == 1
    messages = [(m["role"], m["content"].strip()) for m in conversations[0]["messages"]]
    assert messages == [
        ("user", "Count to eighty, slowly"),
        ("assistant", REGENERATED),
        ("user", "Now count once more"),
        ("assistant", tokens(LONG_REPLY_TOKENS)),
    ]

    # ---- how it looks: desktop and phone, light and dark ----
    sidebar_links.filter(has_text="Python greetings").click()
    expect(page.locator(REPLY_TEXT).locator("pre")).to_be_visible(timeout=WAIT_MS)
    shot(page, artifacts_dir / "journey-desktop-light.png")
    toggle_dark_mode(page, dark=True)
    shot(page, artifacts_dir / "journey-desktop-dark.png")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_test_id("open-sidebar")).to_be_visible(timeout=WAIT_MS)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    shot(page, artifacts_dir / "journey-phone-dark.png")
    toggle_dark_mode(page, dark=False)
    shot(page, artifacts_dir / "journey-phone-light.png")
    page.get_by_test_id("open-sidebar").click()
    expect(items.first).to_be_in_viewport(timeout=WAIT_MS)
    shot(page, artifacts_dir / "journey-phone-drawer.png")
    sidebar_links.filter(has_text="Python greetings").click()
    expect(items.first).not_to_be_in_viewport(timeout=WAIT_MS)
    page.set_viewport_size({"width": 1280, "height": 800})

    # ---- log out ----
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/login"), timeout=WAIT_MS)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"), timeout=WAIT_MS)
    expect(page.get_by_test_id("chat-shell")).to_have_count(0, timeout=WAIT_MS)
    assert page.request.get(href).status == 401  # the export link is dead too

    assert errors == []
