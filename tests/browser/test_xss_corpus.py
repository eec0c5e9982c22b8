"""Hostile text everywhere the app shows text, in real Chromium (tests/support/xss_payloads.py).

Places: the user's bubble, a model reply while it streams (the live view) and once stored (the
history view, after a reload too), the sidebar title (generated from the reply, set in the rename
dialog, set through the API), the display name (register form and API), and an imported
conversation (titles, messages, error details, model names; POST /api/v1/import with the bearer
token from /api/v1/auth/login).

For every place: no script ran (the canary stays unset in every frame, no dialog opened; every
link in the rendered messages is clicked too), the browser asked no host but 127.0.0.1 for
anything and reported no CSP violation (an attempted load), nothing rendered contains an element
or attribute that raw HTML would have produced, the page was not restyled or navigated, and the
reader still sees the text: the literal markup, a refused link's text, an image's alt text.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Locator, Page, expect

from chat_app.models.conversation import clean_title
from tests.browser.test_auth_journey import register
from tests.conftest import unique_email
from tests.support.fake_openai import FakeOpenAI
from tests.support.served_app import ServedApp
from tests.support.xss_payloads import (
    BIG,
    BY_NAME,
    CANARY,
    EXFIL_HOST,
    FALLS_BACK_TO_TEXT,
    KATEX_TRUST_GATED,
    PAYLOADS,
    SMALL,
    Payload,
    as_markdown,
    batches,
)

pytestmark = pytest.mark.browser

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
PASSWORD = "s3cret-pass"
BATCH_SIZE = 10
STREAM_TOKENS_PER_SECOND = 400
# After the payloads the reply goes on (~8 s at the rate above) until the test presses Stop, so
# the live view can be inspected while it is still the live view.
TAIL = "\n\n" + " ".join(["tail"] * 3_000)
BIG_REPLY_TIMEOUT_MS = 30_000
WAIT_MS = 20_000  # expect()'s default is 5 s; a loaded machine needs more
CONVERSATION_URL = re.compile(r"/c/[0-9a-f-]{36}$")

LIVE = "[data-testid=streaming-reply]"
REPLY = "[data-testid=message-assistant]"
USER = "[data-testid=message-user]"

# Everything in the messages that only raw HTML could have produced, any handler attribute, any
# URL that is not local (or in-page), any style that loads something. Returns the reader's text.
INSPECT_JS = r"""
(root) => {
  const LOCAL = new Set(["127.0.0.1", "localhost"]);
  const BAD = new Set(["script", "style", "iframe", "frame", "frameset", "object", "embed",
    "applet", "form", "input", "select", "textarea", "meta", "base", "link", "img", "picture",
    "source", "video", "audio", "track", "image", "use", "foreignobject", "animate", "set",
    "noscript", "template", "portal", "marquee", "body", "html", "head", "details", "mglyph"]);
  const URL_ATTRS = new Set(["href", "src", "action", "formaction", "xlink:href", "data",
    "srcset", "poster", "background", "srcdoc", "ping", "codebase", "lowsrc", "dynsrc"]);
  const okUrl = (value) => {
    const s = value.trim();
    if (s.startsWith("#")) return true;
    let u;
    try { u = new URL(s, location.href); } catch (e) { return false; }
    if (u.protocol === "mailto:") return true;
    return (u.protocol === "http:" || u.protocol === "https:") && LOCAL.has(u.hostname);
  };
  const problems = [];
  for (const el of root.querySelectorAll("*")) {
    const tag = el.tagName.toLowerCase();
    if (BAD.has(tag)) problems.push(`element <${tag}>`);
    const icon = el.closest("button, .katex, svg.lucide");  // the app's own icons, KaTeX
    if (tag === "svg" && !icon) problems.push("svg that is not an icon");
    if (tag === "math" && !el.closest(".katex")) problems.push("math outside KaTeX");
    for (const a of el.attributes) {
      const n = a.name.toLowerCase();
      if (n.startsWith("on")) problems.push(`${tag}[${n}]`);
      if (URL_ATTRS.has(n) && !okUrl(a.value)) problems.push(`${tag}[${n}=${a.value}]`);
      if (n === "style" && /url\s*\(|expression\s*\(|@import/i.test(a.value)) {
        problems.push(`${tag}[style=${a.value}]`);
      }
    }
  }
  // The markdown error boundary's plain-text fallback: only where a test expects it.
  const fallback = root.querySelector(".chat-md-fallback") !== null;
  return { problems, text: root.innerText, fallback };
}
"""

PAGE_STATE_JS = r"""
() => {
  const s = getComputedStyle(document.body);
  return {
    body: [s.display, s.visibility, s.opacity, s.backgroundColor, s.backgroundImage, s.color],
    // Elements that act on the whole page wherever they are.
    page_level: [...document.querySelectorAll(
      "base, meta[http-equiv], iframe, frame, object, embed, link[href*='203.0.113.9']"
    )].map((e) => e.outerHTML.slice(0, 120)),
    stylesheets_from_elsewhere: [...document.styleSheets]
      .map((s) => s.href || "").filter((h) => h && !h.startsWith(location.origin)),
  };
}
"""

CSP_LISTENER_JS = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__reportCsp?.(`${e.violatedDirective} ${e.blockedURI}`);
}, true);
"""


# ---- what the browser did ------------------------------------------------------------------


@dataclass
class Watch:
    """Everything the browser context did that a payload could have caused."""

    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    popups: list[str] = field(default_factory=list)

    def external_requests(self) -> list[str]:
        out = []
        for url in self.requests:
            parsed = urlparse(url)
            if parsed.scheme in {"data", "blob", "about"}:
                continue  # never leaves the browser
            if parsed.hostname not in LOCAL_HOSTS:
                out.append(url)
        return out

    def assert_clean(self) -> None:
        assert self.external_requests() == [], "the browser tried a non-local host"
        assert not [u for u in self.requests if EXFIL_HOST in u]
        assert self.dialogs == [], "a payload opened a dialog (script ran)"
        assert self.csp == [], "the CSP had to refuse something a payload asked for"
        assert self.page_errors == [], "the page threw"
        assert self.popups == [], "a click opened a window"


def _watch_page(watch: Watch, page: Page, *, popup: bool) -> None:
    if popup:
        watch.popups.append(page.url)
    page.on("pageerror", lambda error: watch.page_errors.append(str(error)[:300]))

    def on_dialog(dialog) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)


@dataclass
class Session:
    page: Page
    watch: Watch
    baseline: dict[str, Any] = field(default_factory=dict)


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def fake(fake_model: FakeOpenAI) -> FakeOpenAI:
    return fake_model


@pytest.fixture
def xss_app(served_app: ServedApp) -> ServedApp:
    """The suite's one app (tests/browser/conftest.py) takes 250 KB messages and long replies."""
    return served_app


@pytest.fixture
def session(browser, xss_app: ServedApp, fake: FakeOpenAI) -> Iterator[Session]:
    fake.configure(tokens_per_second=None, reply_text=None, reply_tokens=16, ttft_ms=0)
    watch = Watch()
    context = browser.new_context(
        base_url=xss_app.base_url, viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(WAIT_MS)
    context.on("request", lambda request: watch.requests.append(request.url))
    context.expose_binding("__reportCsp", lambda _source, what: watch.csp.append(what))
    context.add_init_script(CSP_LISTENER_JS)
    context.on("page", lambda page: _watch_page(watch, page, popup=True))
    page = context.new_page()
    watch.popups.clear()  # the test's own page is not a popup
    _watch_page(watch, page, popup=False)
    try:
        yield Session(page, watch)
    finally:
        context.close()


# ---- helpers -------------------------------------------------------------------------------


def norm(text: str) -> str:
    return " ".join(text.split())


def send(page: Page, text: str) -> None:
    box = page.get_by_test_id("composer-input")
    box.fill(text)
    box.press("Enter")


def canaries(page: Page) -> list[str]:
    """The canary in every frame (a payload that ran left its name there)."""
    script = f"() => typeof window.{CANARY} === 'undefined' ? null : String(window.{CANARY})"
    return [value for frame in page.frames if (value := frame.evaluate(script)) is not None]


def page_state(page: Page) -> dict[str, Any]:
    return page.evaluate(PAGE_STATE_JS)


def inspect(root: Locator, fallback: bool = False) -> dict[str, Any]:
    report = root.evaluate(INSPECT_JS)
    assert report["problems"] == [], report["problems"][:20]
    assert report["fallback"] == fallback, "markdown fell back to plain text (or did not)"
    return report


def inspect_all(roots: Locator, fallbacks: int = 0) -> str:
    """Inspect every matching element; their texts, joined."""
    reports = roots.evaluate_all(f"(els) => els.map({INSPECT_JS})")
    problems = [p for r in reports for p in r["problems"]]
    assert problems == [], problems[:20]
    assert sum(r["fallback"] for r in reports) == fallbacks, "markdown fell back to plain text"
    return "\n".join(r["text"] for r in reports)


def sections(text: str, payloads: list[Payload]) -> dict[str, str]:
    """The reader's text after each payload's marker, up to the next marker."""
    starts = []
    for p in payloads:
        index = text.find(p.marker)
        assert index >= 0, f"{p.name}: its marker is not on screen"
        starts.append((index + len(p.marker), p.name))
    starts.sort()
    out = {}
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        out[name] = text[start:end]
    return out


def assert_shown_as_markdown(text: str, payloads: list[Payload]) -> None:
    found = sections(text, payloads)
    missing = [
        (p.name, want)
        for p in payloads
        for want in p.shown
        if norm(want) not in norm(found[p.name])
    ]
    assert missing == [], f"not visible to the reader: {missing}"


def assert_shown_as_plain_text(text: str, payloads: list[Payload]) -> None:
    missing = [p.name for p in payloads if p.text not in text]
    assert missing == [], f"user text not shown verbatim: {missing}"


def click_links(root: Locator, limit: int = 60) -> int:
    links = root.locator("a")
    count = links.count()
    for i in range(min(count, limit)):
        links.nth(i).click(timeout=5_000)
    return count


def assert_page_intact(s: Session) -> None:
    page = s.page
    assert canaries(page) == [], "a payload ran script"
    expect(page.get_by_test_id("chat-shell")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("composer-input")).to_be_visible(timeout=WAIT_MS)
    state = page_state(page)
    assert state == s.baseline, "the page was restyled or given page-level elements"
    assert urlparse(page.url).hostname in LOCAL_HOSTS
    s.watch.assert_clean()


def start(s: Session, name: str = "Corpus reader") -> None:
    register(s.page, unique_email("xss"), name=name)
    s.baseline = page_state(s.page)
    assert s.baseline["page_level"] == [] and s.baseline["stylesheets_from_elsewhere"] == []


def api_login(page: Page, email: str) -> str:
    """Log the page's context in over the API (session cookie) and return a bearer token."""
    response = page.request.post(
        "/api/v1/auth/login", data={"email": email, "password": PASSWORD, "set_cookie": True}
    )
    assert response.ok, response.text()
    return response.json()["access_token"]


def api_register(page: Page, email: str, name: str) -> None:
    response = page.request.post(
        "/api/v1/auth/register",
        data={"email": email, "display_name": name, "password": PASSWORD},
    )
    assert response.status == 201, response.text()


def sidebar_titles(page: Page) -> list[str]:
    items = page.get_by_test_id("sidebar-link")
    expect(items.first).to_be_visible(timeout=WAIT_MS)
    while page.get_by_test_id("load-more").count():
        before = items.count()
        page.get_by_test_id("load-more").click()
        expect(items).not_to_have_count(before, timeout=WAIT_MS)
    return [norm(t) for t in items.all_inner_texts()]


# ---- the corpus itself -----------------------------------------------------------------------


def test_corpus_covers_the_brief() -> None:
    names = [p.name for p in PAYLOADS]
    assert len(names) == len(set(names)) and len(PAYLOADS) >= 25
    for p in SMALL:
        assert p.marker not in p.text and "PAYLOADS END" not in p.text
        # Anything that names the canary sets it to its own name; anything that could fetch
        # points at the TEST-NET host.
        if CANARY in p.text:
            assert f"{CANARY}='{p.name}'" in p.text or p.name in {"md-link-data"}, p.name
        assert "://" not in p.text or EXFIL_HOST in p.text, p.name
    kinds = " ".join(p.text for p in PAYLOADS)
    for needle in (
        "onerror=", "<body onload", "ontoggle", "<script>", "srcdoc=", "<svg><script>",
        "<svg onload", "<style>", "<object data", "<embed src", "<form action", "http-equiv",
        "<base href", 'rel="stylesheet"', "](javascript:", "](data:text/html", "](vbscript:",
        '<a href="data:', '<a href="vbscript:', "![", "][leak-ref]", "<javascript:",
        "style=\"background:url(", "jav&#x61;script:", "java\tscript:", "\uff4a\uff41\uff56",
        "JaVaScRiPt:", "&lt;script&gt;", "\\href{javascript:", "\u202e", "\u200b",
        "\\url{", "\\includegraphics[", "\\htmlClass{", "\\htmlId{", "\\htmlStyle{",
        "\\htmlData{",
    ):  # fmt: skip
        assert needle in kinds, needle
    assert KATEX_TRUST_GATED and all(p.shown and not p.big for p in KATEX_TRUST_GATED)
    assert len(BY_NAME["long-100kb"].text) >= 100 * 1024
    assert BY_NAME["nested-quotes"].text.startswith(">" * 5_000)


# ---- model replies: streamed, stored, reloaded; the user's bubble; generated titles -----------


def test_replies_live_stored_and_reloaded(session: Session, fake: FakeOpenAI, artifacts_dir):
    s = session
    page = s.page
    start(s, name=BY_NAME["img-onerror"].text[:80])
    urls = []

    for number, batch in enumerate(batches(SMALL, BATCH_SIZE)):
        text = as_markdown(batch)
        fake.configure(reply_text=text + TAIL, tokens_per_second=STREAM_TOKENS_PER_SECOND)
        send(page, text)
        if number == 0:
            expect(page).to_have_url(CONVERSATION_URL, timeout=WAIT_MS)
            urls.append(page.url)
        live = page.locator(LIVE)
        expect(live).to_contain_text("PAYLOADS END", timeout=WAIT_MS)
        assert_shown_as_markdown(inspect(live)["text"], batch)  # while it streams
        page.get_by_test_id("stop").click()
        expect(page.locator(LIVE)).to_have_count(0, timeout=WAIT_MS)
        reply = page.locator(REPLY).last
        expect(reply.get_by_test_id("status-badge")).to_have_text("Stopped", timeout=WAIT_MS)
        assert_shown_as_markdown(inspect(reply)["text"], batch)  # stored
        assert_shown_as_plain_text(inspect(page.locator(USER).last)["text"], batch)
        click_links(reply)
        assert_page_intact(s)
    page.screenshot(path=str(artifacts_dir / "xss-corpus-replies.png"))

    page.get_by_test_id("new-chat").click()
    expect(page.get_by_test_id("welcome")).to_be_visible(timeout=WAIT_MS)
    fake.configure(tokens_per_second=None)
    for p in BIG:
        fake.configure(reply_text=p.text)
        send(page, p.text)
        reply = page.locator(REPLY).last
        expect(reply).to_contain_text(p.shown[-1], timeout=BIG_REPLY_TIMEOUT_MS)
        expect(page.locator(LIVE)).to_have_count(0, timeout=BIG_REPLY_TIMEOUT_MS)
        report = inspect(reply, fallback=p.name in FALLS_BACK_TO_TEXT)
        for want in p.shown:
            assert want in report["text"], (p.name, want)
        if p.name == "nested-quotes":  # formatted down to the depth limit, then flattened
            assert 40 <= reply.locator("blockquote").count() <= 100
        assert p.text in inspect(page.locator(USER).last)["text"]
        click_links(reply, limit=5)
        if not urls[1:]:
            urls.append(page.url)
    # 100 KB in, every paragraph of it shown.
    long_text, shown = BY_NAME["long-100kb"].text, inspect(page.locator(REPLY).first)["text"]
    assert shown.count("adipiscing elit.") == long_text.count("adipiscing elit.") > 500
    assert_page_intact(s)

    # From the stored history, in a fresh page load.
    replies = len(batches(SMALL, BATCH_SIZE)), len(BIG)
    for url, payloads, count in zip(urls, (SMALL, BIG), replies, strict=True):
        page.goto(url)
        expect(page.locator(REPLY)).to_have_count(count, timeout=WAIT_MS)
        fallbacks = len(FALLS_BACK_TO_TEXT) if payloads is BIG else 0
        text = inspect_all(page.locator(REPLY), fallbacks=fallbacks)
        if payloads is SMALL:
            assert_shown_as_markdown(text, SMALL)
            click_links(page.locator("[data-testid=messages]"))
        else:
            for p in BIG:
                assert p.shown[-1] in text
        assert_shown_as_plain_text(inspect_all(page.locator(USER)), payloads)
        assert_page_intact(s)

    # Titles: the first words of the user's message (the first reply was stopped), and one the
    # model wrote (the fake answers the title request with the start of the 100 KB reply).
    inspect_all(page.get_by_test_id("sidebar-item"))
    titles = sidebar_titles(page)
    assert any(t.startswith("PAYLOAD img-onerror BEGIN <img src=") for t in titles), titles
    model_title = "long-100kb start Lorem **ipsum** dolor `sit` amet, <img src=x onerror="
    assert any(t.startswith(model_title) for t in titles), titles
    expect(page.get_by_test_id("user-name")).to_have_text(
        BY_NAME["img-onerror"].text[:80], timeout=WAIT_MS
    )
    assert_page_intact(s)


# ---- KaTeX: what `trust` gates is shown as text, never a link, a fetch or a red error ---------

# In one rendered reply: the formulas, and anything a trust-gated command could have made.
KATEX_JS = r"""
(root) => {
  const red = [...root.querySelectorAll(".katex *")].filter((el) => {
    const c = getComputedStyle(el).color.replace(/\s/g, "");
    return c === "rgb(204,0,0)";  // KaTeX's errorColor, #cc0000
  });
  return {
    formulas: root.querySelectorAll(".katex").length,
    links: root.querySelectorAll("a, [href], .katex [src]").length,
    errors: root.querySelectorAll(".katex-error").length,
    red: red.map((el) => el.textContent.slice(0, 40)),
    // \htmlClass / \htmlId must not hand a formula the app's own class or id.
    claimed: root.querySelectorAll(".katex .chat-shell, .katex #composer-input").length,
    images: root.querySelectorAll(".katex img, .katex image, .katex svg image").length,
  };
}
"""
KATEX_FORMULAS = len(re.findall(r"\$\$.+?\$\$|\$.+?\$", as_markdown(KATEX_TRUST_GATED)))


def assert_katex_inert(root: Locator) -> None:
    report = inspect(root)
    assert_shown_as_markdown(report["text"], KATEX_TRUST_GATED)
    katex = root.evaluate(KATEX_JS)
    assert katex["formulas"] == KATEX_FORMULAS, katex
    assert katex["links"] == 0, "a formula became a link"
    assert katex["errors"] == 0 and katex["red"] == [], f"red KaTeX errors: {katex}"
    assert katex["claimed"] == 0 and katex["images"] == 0, katex


def test_katex_trust_gated_commands_show_text_only(session: Session, fake: FakeOpenAI) -> None:
    s = session
    page = s.page
    start(s)
    text = as_markdown(KATEX_TRUST_GATED)
    fake.configure(reply_text=text + TAIL, tokens_per_second=STREAM_TOKENS_PER_SECOND)
    send(page, text)
    expect(page).to_have_url(CONVERSATION_URL, timeout=WAIT_MS)
    live = page.locator(LIVE)
    expect(live).to_contain_text("PAYLOADS END", timeout=WAIT_MS)
    assert_katex_inert(live)  # the streaming renderer
    page.get_by_test_id("stop").click()
    expect(page.locator(LIVE)).to_have_count(0, timeout=WAIT_MS)
    reply = page.locator(REPLY).last
    expect(reply.get_by_test_id("status-badge")).to_have_text("Stopped", timeout=WAIT_MS)
    assert_katex_inert(reply)  # the final renderer
    reply.locator(".katex").first.click()  # a formula is not something to follow
    assert_page_intact(s)

    page.reload()
    expect(page.locator(REPLY)).to_have_count(1, timeout=WAIT_MS)
    assert_katex_inert(page.locator(REPLY).last)
    assert_page_intact(s)


# ---- imported conversations, titles (import, rename dialog, API) ------------------------------


def _message(role: str, content: str, when: int, **extra: Any) -> dict[str, Any]:
    return {"role": role, "content": content, "created_at": f"2026-01-01T00:{when // 60:02d}:"
            f"{when % 60:02d}Z", **extra}  # fmt: skip


def _conversation(title: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "title": title,
        "model": "demo",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T01:00:00Z",
        "messages": messages,
    }


def _export() -> dict[str, Any]:
    corpus, big = [], []
    for i, p in enumerate(SMALL):
        corpus.append(_message("user", p.text, 2 * i))
        corpus.append(
            _message(
                "assistant",
                f"{p.marker}\n\n{p.text}",
                2 * i + 1,
                status="error",
                error_detail=p.text,
                model=p.text[:200],
            )
        )
    for i, p in enumerate(BIG):
        big.append(_message("user", p.text, 2 * i))
        big.append(_message("assistant", p.text, 2 * i + 1))
    titled = [
        _conversation(p.text, [_message("user", "hello", 0)]) for p in SMALL if len(p.text) <= 200
    ]
    return {
        "format": "chat-app-export",
        "version": 1,
        "conversations": [
            _conversation("Imported corpus", corpus),
            _conversation("Imported big", big),
            *titled,
        ],
    }


def test_imported_conversations_and_titles(session: Session, artifacts_dir) -> None:
    s = session
    page = s.page
    email = unique_email("xss-import")
    page.goto("/login")
    api_register(page, email, "Importer")
    token = api_login(page, email)
    export = _export()
    response = page.request.post(
        "/api/v1/import",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        data=json.dumps(export),
    )
    assert response.ok, response.text()
    assert len(response.json()["imported"]) == len(export["conversations"])

    page.goto("/")
    expect(page.get_by_test_id("chat-shell")).to_be_visible(timeout=WAIT_MS)
    s.baseline = page_state(page)
    titles = sidebar_titles(page)
    expected = [clean_title(c["title"]) for c in export["conversations"]]
    assert sorted(titles) == sorted(norm(t) for t in expected)
    inspect_all(page.get_by_test_id("sidebar-item"))
    assert_page_intact(s)

    page.get_by_test_id("sidebar-link").filter(has_text="Imported corpus").click()
    expect(page.locator(REPLY)).to_have_count(len(SMALL), timeout=WAIT_MS)
    assert_shown_as_markdown(inspect_all(page.locator(REPLY)), SMALL)
    assert_shown_as_plain_text(inspect_all(page.locator(USER)), SMALL)
    errors = [norm(t) for t in page.get_by_test_id("message-error").all_inner_texts()]
    assert errors == [norm(p.text) for p in SMALL]  # error details, as plain text
    click_links(page.locator("[data-testid=messages]"))
    page.screenshot(path=str(artifacts_dir / "xss-corpus-imported.png"))
    assert_page_intact(s)

    page.get_by_test_id("sidebar-link").filter(has_text="Imported big").click()
    expect(page.locator(REPLY)).to_have_count(len(BIG), timeout=WAIT_MS)
    text = inspect_all(page.locator(REPLY), fallbacks=len(FALLS_BACK_TO_TEXT))
    for p in BIG:
        for want in p.shown:
            assert want in text, (p.name, want)
    assert_shown_as_plain_text(inspect_all(page.locator(USER)), BIG)
    assert_page_intact(s)

    # Rename in the dialog, and through the API; both shown literally.
    dialog_title = BY_NAME["script"].text + " " + BY_NAME["svg-onload"].text
    item = page.get_by_test_id("sidebar-item").filter(has_text="Imported big")
    item.get_by_test_id("sidebar-item-menu").click()
    page.get_by_test_id("rename").click()
    page.get_by_test_id("rename-input").fill(dialog_title)
    page.get_by_test_id("rename-save").click()
    expect(page.get_by_test_id("sidebar-link").filter(has_text=dialog_title)).to_have_count(
        1, timeout=WAIT_MS
    )

    api_title = BY_NAME["iframe-srcdoc"].text + " " + BY_NAME["style-hide"].text
    listing = page.request.get(
        "/api/v1/conversations?limit=100", headers={"Authorization": f"Bearer {token}"}
    ).json()["items"]
    corpus_id = next(c["id"] for c in listing if c["title"] == "Imported corpus")
    patched = page.request.patch(
        f"/api/v1/conversations/{corpus_id}",
        headers={"Authorization": f"Bearer {token}"},
        data={"title": api_title},
    )
    assert patched.ok and patched.json()["title"] == api_title
    page.reload()
    titles = sidebar_titles(page)
    assert dialog_title in titles and api_title in titles
    inspect_all(page.get_by_test_id("sidebar-item"))
    assert_page_intact(s)


# ---- display names -----------------------------------------------------------------------------


def _usable_name(p: Payload) -> bool:
    """Markup that fits a display name (80 characters, no control characters). A name is never
    rendered as markdown, so the markdown-only payloads add nothing here."""
    name = norm(p.text)
    fits = 0 < len(name) <= 80 and not any(unicodedata.category(c) == "Cc" for c in name)
    return fits and "<" in name


def test_display_names(session: Session) -> None:
    s = session
    page = s.page
    names = [p for p in SMALL if _usable_name(p)]
    assert len(names) >= 15
    start(s, name=names[0].text)  # through the register form
    expect(page.get_by_test_id("user-name")).to_have_text(norm(names[0].text), timeout=WAIT_MS)
    for p in names[1:]:
        email = f"name-{uuid.uuid4().hex[:10]}@example.com"
        api_register(page, email, p.text)
        api_login(page, email)
        page.goto("/settings")
        expect(page.get_by_test_id("user-name")).to_have_text(norm(p.text), timeout=WAIT_MS)
        inspect(page.get_by_test_id("user-menu"))
        assert canaries(page) == [], p.name
    page.goto("/")
    assert_page_intact(s)
