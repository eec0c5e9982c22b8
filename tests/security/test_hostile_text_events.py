"""NUL and lone surrogates in every argument of every Reflex event: no error, and a tab whose
state can still be sent (so it can hydrate and reconnect).

The handlers are enumerated (``harness.reflex_handlers``: what Reflex registers, ``setvar``
included). Each event goes through the real app's middleware, as Reflex's event processor does
before any handler (``app._preprocess``), then to the handler on a real state tree; its form
fields, string arguments and a var's new value carry each hostile value, on SQLite and
PostgreSQL. After every event the whole state is serialized the way Reflex sends it (JSON, then
UTF-8 for the websocket): one unencodable string anywhere and the tab could never load again.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
from reflex_base.event import Event
from reflex_base.utils import format

from chat_app.chat_app import app
from chat_app.models.message import MessageStatus, Role
from chat_app.services import chat, generation, replies
from chat_app.state.composer import ComposerState
from chat_app.state.conversation import ConversationState
from chat_app.state.sidebar import SidebarState
from tests.security.harness import Tab, new_account, plain, reflex_handlers, state_by_name
from tests.services.conftest import (  # noqa: F401  (fixtures)
    fake,
    fake_openai_server,
    settle,
    wait_until,
)

pytestmark = pytest.mark.usefixtures("settle")

HOSTILE = {
    "nul": "a\x00b",
    "lone high surrogate": "a\ud800b",
    "lone low surrogate": "\udfffz",
    "reversed pair": "\ude00\ud83d",
}
# Every field any of the app's forms has (and one no form has): each carries the hostile value.
FORM_FIELDS = (
    "message",
    "title",
    "system_prompt",
    "name",
    "email",
    "password",
    "display_name",
    "next",
    "unexpected",
)
# Not driven here, with the reason.
NOT_DRIVEN = {
    "SettingsState.import_file": "an upload (bytes, over HTTP): tests/api/test_hostile_text.py "
    "and tests/services/transfer/ cover the file's text",
}


def replaced(value: str) -> str:
    return "".join("\ufffd" if ch == "\x00" or 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value)


def sendable_problem(tab: Tab, result: Any) -> str | None:
    """Why Reflex could not send this tab's state (or the handler's events), if it could not."""
    try:
        format.json_dumps(tab.root.dict()).encode("utf-8")
        json.dumps(plain(result), ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError) as exc:
        return str(exc)
    return None


def payloads(key: str, value: str) -> list[dict[str, Any]]:
    """The event payloads the browser could send to this handler, each carrying ``value``."""
    handler = reflex_handlers()[key]
    params = list(inspect.signature(handler.fn).parameters)[1:]
    if key.endswith(".setvar"):
        assert handler.state is not None
        cls = handler.state
        return [
            {"var_name": name, "value": value}
            for name, f in cls.__fields__.items()
            if f._owner is cls
        ] + [{"var_name": value, "value": value}]
    form = {field: value for field in FORM_FIELDS} | {value: value}
    return [{p: form if "form" in p else value for p in params}]


async def dispatch(tab: Tab, key: str, payload: dict[str, Any]) -> Any:
    """As Reflex does: the app's middleware sees the event first, then the handler runs."""
    handler = reflex_handlers()[key]
    assert handler.state is not None
    event = Event(name=f"{handler.state.get_full_name()}.{handler.fn.__name__}", payload=payload)
    assert await app._preprocess(tab.root, event) is None
    try:
        return await tab.fire(key, *event.payload.values())
    except AttributeError as exc:
        if key.endswith(".setvar") and "set_" in str(exc):
            return "refused: no setter"  # Reflex's own refusal of a var without a setter
        raise


async def finished_conversation(user_id) -> str:  # type: ignore[no-untyped-def]
    # Titled: no automatic title may land after the reply (and over a rename).
    seeded = await chat.create_conversation(user_id, title="Seed")
    started = await generation.send_message(user_id, seeded.id, "hello there")

    async def done() -> bool:
        reply = await chat.get_message(user_id, started.assistant_message.id)
        return reply.status != MessageStatus.STREAMING

    await wait_until(done)
    return str(started.conversation.id)


async def ready_tab(account, cid: str) -> Tab:  # type: ignore[no-untyped-def]
    """A tab on the user's own conversation, with its rename dialog and edit box open, so that
    every handler reaches the services rather than a guard."""
    tab = await Tab(await account.fresh_session()).visit(f"/c/{cid}")
    await tab.fire("SidebarState.open_rename", cid)
    await tab.fire("ComposerState.start_edit", tab.state(ConversationState).last_user_id)
    tab.events.clear()
    return tab


async def test_every_text_taking_handler_keeps_the_tab_sendable(db, fake, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SEND_RATE_PER_MINUTE", "0")
    fake.configure(reply_tokens=3)
    account = await new_account("Hostile")
    handlers = {
        key: handler
        for key, handler in reflex_handlers().items()
        if len(inspect.signature(handler.fn).parameters) > 1
    }
    assert {"ComposerState.send", "SidebarState.search_changed", "SidebarState.save_rename"} <= set(
        handlers
    )
    problems: list[str] = []
    driven = 0
    for key in sorted(handlers):
        if key in NOT_DRIVEN:
            continue
        cid = await finished_conversation(account.user_id)
        for label, value in HOSTILE.items():
            tab = await ready_tab(account, cid)
            for payload in payloads(key, value):
                what = f"{key}({list(payload)}) <- {label}"
                try:
                    result = await dispatch(tab, key, payload)
                except Exception as exc:  # an exception is the error toast in the browser
                    problems.append(f"{what}: raised {exc!r}"[:300])
                    continue
                driven += 1
                if (problem := sendable_problem(tab, result)) is not None:
                    problems.append(f"{what}: the tab cannot be sent: {problem}"[:300])
            # A reply still being written would refuse the next send before it saw the text.
            await replies.stop_reply(account.user_id, cid)
    assert driven > 50
    assert problems == []


async def test_send_search_rename_and_system_prompt_keep_the_text(db, fake, monkeypatch):  # noqa: F811
    """The four the issue names: stored and shown with U+FFFD, nothing else lost."""
    monkeypatch.setenv("SEND_RATE_PER_MINUTE", "0")
    fake.configure(reply_tokens=3)
    account = await new_account("Hostile")
    for index, (label, value) in enumerate(HOSTILE.items()):
        cid = await finished_conversation(account.user_id)
        tab = await ready_tab(account, cid)
        title = f"R{index} {value}"
        await dispatch(tab, "SidebarState.save_rename", {"form": {"title": title}})
        assert tab.state(SidebarState).rename_error == "", label
        await dispatch(
            tab, "ConversationState.save_system_prompt", {"form": {"system_prompt": f"{value}!"}}
        )
        assert tab.state(ConversationState).error == "", label
        assert tab.state(ConversationState).system_prompt == f"{replaced(value)}!", label
        await dispatch(tab, "ComposerState.send", {"form": {"message": f"say {value}"}})
        assert tab.state(ComposerState).error == "", label
        await dispatch(tab, "SidebarState.search_changed", {"value": title})
        sidebar = tab.state(SidebarState)
        assert sidebar.error == "" and sidebar.search == replaced(title), label
        assert [item.id for item in sidebar.items] == [cid], label
        assert sendable_problem(tab, None) is None, label

        conversation = await chat.get_conversation(account.user_id, cid)
        assert conversation.title == replaced(title), label
        assert conversation.system_prompt == f"{replaced(value)}!", label
        messages = await chat.list_messages(account.user_id, cid)
        users = [m.content for m in messages if m.role == Role.USER]
        assert users[-1] == f"say {replaced(value)}", label
        await replies.stop_reply(account.user_id, cid)


def test_the_middleware_is_what_cleans_payloads():
    """Without it the handlers would receive the raw strings (the class test above relies on
    ``app._preprocess`` being the app's real pipeline)."""
    event = Event(
        name=f"{state_by_name('SidebarState').get_full_name()}.search_changed",
        payload={"value": "a\ud800", "nested": [{"k\x00": ["\udc00"]}]},
    )
    import asyncio

    asyncio.run(app._preprocess(Tab(None).root, event))
    assert event.payload == {"value": "a\ufffd", "nested": [{"k\ufffd": ["\ufffd"]}]}
