"""Scenario 4 — big data.

- Opening a conversation of 1,000 messages: a click on its sidebar link in an open tab (the
  ``on_load_internal`` navigation event) until the delta that carries its messages; and a page
  load (connect) of its URL until the same delta; then "show earlier" (all 1,000).
- The sidebar of a user with 10,000 conversations (seeded directly in the database): first page
  on a page load, and searches (a word only in one message, a title, a common word, no match).
- Importing a 1,000-conversation export (chat_app.services.transfer.import_json), timed
  in-process against the same database; skipped with a note if the module is absent.
"""

from __future__ import annotations

import importlib
import json
import time
import uuid
from collections.abc import Callable

from bench.common import Stack
from bench.reflex_client import ReflexTab, Update
from bench.report import percentile, table
from bench.seed import seed_conversations
from bench.users import create_users

BIG = 1000
SIDEBAR_CONVERSATIONS = 10_000
IMPORT_CONVERSATIONS = 1000
IMPORT_MESSAGES_EACH = 10
MARKER = "zebracorn"


def _first_update(tab: ReflexTab, start: int, after: float, predicate) -> Update | None:
    for update in tab.updates[start:]:
        if update.t >= after and predicate(update):
            return update
    return None


def _has_history(update) -> bool:
    found, value = update.get("history")
    return found and bool(value)


def _stats(values: list[float]) -> dict:
    return {"n": len(values), "median": percentile(values, 50), "p95": percentile(values, 95)}


async def _open_big(stack: Stack, repeats: int) -> dict:
    [user] = await create_users(stack.app.base_url, 1, "bigconv")
    started = time.perf_counter()
    [big] = await seed_conversations(user.user_id, 1, BIG, title="Big conversation")
    seed_seconds = time.perf_counter() - started
    big_id = str(big)
    navigate_ms, navigate_wire, navigate_payload, load_ms = [], [], [], []
    tab = stack.tab(user)
    try:
        await tab.open("/")
        for _ in range(repeats):
            start = len(tab.updates)
            sent = await tab.open_conversation(big_id)
            await tab.wait_for(
                lambda t: t.var("cid") == big_id and not t.var("loading") and t.var("history"),
                60,
            )
            update = _first_update(tab, start, sent, _has_history)
            if update is not None:
                navigate_ms.append((update.t - sent) * 1000)
                navigate_wire.append(update.wire_bytes)
                navigate_payload.append(update.payload_bytes)
            shown = len(tab.var("history"))
            await tab.navigate("/")
            await tab.wait_for(lambda t: t.var("cid") == "" and t.var("hydrated") is True, 60)
        # "Show earlier": every message of the conversation.
        await tab.open_conversation(big_id)
        await tab.wait_for(lambda t: t.var("cid") == big_id and t.var("history"), 60)
        start = len(tab.updates)
        sent = await tab.emit(_event("show_earlier"))
        await tab.wait_for(lambda t: len(t.var("history") or []) >= BIG, 120)
        update = _first_update(tab, start, sent, _has_history)
        earlier = {
            "ms": (update.t - sent) * 1000 if update else None,
            "wire_bytes": update.wire_bytes if update else None,
            "payload_bytes": update.payload_bytes if update else None,
        }
    finally:
        await tab.close()
    for _ in range(repeats):
        fresh = stack.tab(user)
        try:
            t_connect = await fresh.open(f"/c/{big_id}", {"conversation_id": big_id})
            update = _first_update(fresh, 0, t_connect, _has_history)
            if update is not None:
                load_ms.append((update.t - t_connect) * 1000)
        finally:
            await fresh.close()
    return {
        "messages": BIG,
        "shown_on_open": shown,
        "seed_seconds": seed_seconds,
        "navigate_ms": _stats(navigate_ms),
        "navigate_wire_bytes": percentile(navigate_wire, 50),
        "navigate_payload_bytes": percentile(navigate_payload, 50),
        "page_load_ms": _stats(load_ms),
        "show_earlier": earlier,
    }


def _event(name: str) -> str:
    from bench.reflex_client import EVENTS

    return EVENTS[name]


def _items_update(term: str):
    def check(update) -> bool:
        found, _ = update.get("items")
        if not found:
            return False
        values = update.delta.get(_sidebar_key(), {})
        return values.get("search_rx_state_", term) == term

    return check


def _searched(term: str) -> Callable[[ReflexTab], bool]:
    def check(tab: ReflexTab) -> bool:
        values = tab.state.get(_sidebar_key(), {})
        return values.get("search_rx_state_") == term and not tab.var("sidebar_loading")

    return check


def _sidebar_key() -> str:
    from bench.reflex_client import STATES

    return STATES["sidebar"]


async def _sidebar(stack: Stack, repeats: int) -> dict:
    [user] = await create_users(stack.app.base_url, 1, "sidebar")
    started = time.perf_counter()
    await seed_conversations(
        user.user_id,
        SIDEBAR_CONVERSATIONS,
        2,
        title="Seeded",
        user_chars=200,
        assistant_chars=600,
        markers={1234: MARKER},
    )
    seed_seconds = time.perf_counter() - started
    first_page_ms, first_page_wire = [], []
    for _ in range(repeats):
        tab = stack.tab(user)
        try:
            t_connect = await tab.open("/")
            update = _first_update(tab, 0, t_connect, _items_update(""))
            if update is not None:
                first_page_ms.append((update.t - t_connect) * 1000)
                first_page_wire.append(update.wire_bytes)
            items = len(tab.var("items") or [])
        finally:
            await tab.close()
    searches = {}
    tab = stack.tab(user)
    try:
        await tab.open("/")
        for label, term in (
            ("word in one message", MARKER),
            ("title (Seeded 9999)", "Seeded 9999"),
            ("common word", "model"),
            ("no match", "qqqxyzzy"),
        ):
            times, found = [], None
            for _ in range(repeats):
                start = len(tab.updates)
                sent = await tab.search(term)
                await tab.wait_for(_searched(term), 120)
                update = _first_update(tab, start, sent, _items_update(term))
                if update is not None:
                    times.append((update.t - sent) * 1000)
                found = len(tab.var("items") or [])
                await tab.search("")
                await tab.wait_for(
                    lambda t: t.state.get(_sidebar_key(), {}).get("search_rx_state_") == "", 120
                )
            searches[label] = {"term": term, "results_on_page": found, **_stats(times)}
    finally:
        await tab.close()
    return {
        "conversations": SIDEBAR_CONVERSATIONS,
        "seed_seconds": seed_seconds,
        "first_page_ms": _stats(first_page_ms),
        "first_page_items": items,
        "first_page_wire_bytes": percentile(first_page_wire, 50),
        "search": searches,
    }


async def _import(stack: Stack) -> dict:
    try:
        transfer = importlib.import_module("chat_app.services.transfer")
        import_json = transfer.import_json
        export_json = transfer.export_json
    except (ImportError, AttributeError) as exc:
        return {"skipped": f"chat_app.services.transfer.import_json is not available: {exc!r}"}
    source, target = await create_users(stack.app.base_url, 2, "import")
    started = time.perf_counter()
    await seed_conversations(
        source.user_id, IMPORT_CONVERSATIONS, IMPORT_MESSAGES_EACH, title="Exported"
    )
    seed_seconds = time.perf_counter() - started
    started = time.perf_counter()
    exported = await export_json(source.user_id)
    raw = json.dumps(exported).encode()
    export_seconds = time.perf_counter() - started
    started = time.perf_counter()
    report = await import_json(uuid.UUID(str(target.user_id)), raw)
    import_seconds = time.perf_counter() - started
    return {
        "conversations": len(report.imported),
        "messages": report.message_count,
        "file_bytes": len(raw),
        "seed_seconds": seed_seconds,
        "export_seconds": export_seconds,
        "import_seconds": import_seconds,
        "note": "timed in the benchmark process (service call), same database as the app",
    }


async def run(stack: Stack) -> dict:
    repeats = stack.options.repeat or (3 if stack.options.quick else 5)
    big = await _open_big(stack, repeats)
    sidebar = await _sidebar(stack, repeats)
    imported = await _import(stack)
    rows = [
        [
            f"open {BIG}-message conversation (sidebar click)",
            big["navigate_ms"]["median"],
            big["navigate_ms"]["p95"],
            f"{big['shown_on_open']} msgs, {_kb(big['navigate_wire_bytes'])} wire / "
            f"{_kb(big['navigate_payload_bytes'])} raw",
        ],
        [
            f"page load of the {BIG}-message conversation",
            big["page_load_ms"]["median"],
            big["page_load_ms"]["p95"],
            "connect -> messages delta",
        ],
        [
            "show earlier (all messages)",
            big["show_earlier"]["ms"],
            None,
            f"{_kb(big['show_earlier']['wire_bytes'])} wire / "
            f"{_kb(big['show_earlier']['payload_bytes'])} raw",
        ],
        [
            f"sidebar first page, {SIDEBAR_CONVERSATIONS:,} conversations (page load)",
            sidebar["first_page_ms"]["median"],
            sidebar["first_page_ms"]["p95"],
            f"{sidebar['first_page_items']} items, {_kb(sidebar['first_page_wire_bytes'])} wire",
        ],
    ]
    for label, s in sidebar["search"].items():
        rows.append(
            [f"search: {label}", s["median"], s["p95"], f"{s['results_on_page']} on first page"]
        )
    if "skipped" in imported:
        rows.append(["import 1,000-conversation export", None, None, imported["skipped"]])
    else:
        rows.append(
            [
                f"import {imported['conversations']:,}-conversation export",
                imported["import_seconds"] * 1000,
                None,
                f"{imported['messages']:,} messages, {imported['file_bytes'] / 2**20:.1f} MB "
                f"(export took {imported['export_seconds']:.1f} s)",
            ]
        )
    text = table(
        ["operation", "median ms", "p95 ms", "notes"],
        rows,
        title=f"Big data (median of {repeats} runs where repeated)",
    )
    return {"table": text, "open": big, "sidebar": sidebar, "import": imported}


def _kb(value: float | None) -> str:
    return "–" if value is None else f"{value / 1024:,.1f} KB"
