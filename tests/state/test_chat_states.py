"""The chat states' handlers, called directly on a real state tree (see test_auth_state.py),
against a real database and the fake OpenAI server.

One ``Tab`` is one browser tab: a root ``State`` whose router carries the session cookie and the
page URL, with the sidebar, conversation, stream and composer substates taken from it. The
background watcher (``StreamState.follow``) runs here as a plain call (``async with self`` is a
no-op outside Reflex's event loop); the browser suite watches it stream for real.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from reflex.istate.data import RouterData
from reflex.state import State
from reflex_base.event import EventSpec

from chat_app.core.session_cookie import SESSION_COOKIE
from chat_app.models.message import MessagePublic
from chat_app.services import auth, generation, replies
from chat_app.services import chat as chat_service
from chat_app.services.errors import NotFound
from chat_app.state import conversation as conversation_state
from chat_app.state.auth import AuthState
from chat_app.state.composer import ComposerState
from chat_app.state.conversation import (
    ConversationState,
    MessageView,
    add_recent,
    cut_after_last_user,
    reply_meta,
    route_conversation_id,
)
from chat_app.state.sidebar import PAGE_SIZE, SidebarState
from chat_app.state.stream import StreamState
from chat_app.state.visit_events import visit_add_js, visit_truncate_js
from tests.conftest import unique_email
from tests.support.fake_openai import FakeOpenAI

# ---- fixtures and helpers ----------------------------------------------------------------------


@dataclass
class Tab:
    root: State
    auth: AuthState
    sidebar: SidebarState
    conversation: ConversationState
    stream: StreamState
    composer: ComposerState
    cookie: str

    def at(self, url: str, *, sid: str = "socket-1") -> Tab:
        """Point the tab at ``url`` (what a navigation or the on_load event carries)."""
        self.root.router = RouterData.from_router_data(
            {
                "headers": {"origin": "http://localhost:3000", "cookie": self.cookie},
                "ip": "127.0.0.1",
                "sid": sid,
                "pathname": url,
                "asPath": url,
            }
        )
        return self

    async def open(self, cid: str) -> None:
        """The on_load chain of /c/<cid> (after the page guard)."""
        self.at(f"/c/{cid}")
        await self.sidebar.load()
        async for _ in self.conversation.open_from_route():
            pass
        self.resumed = await self.stream.resume()


def new_tab(token: str | None, url: str = "/") -> Tab:
    root = State(_reflex_internal_init=True)
    states = [
        root.get_substate(cls.get_full_name().split("."))
        for cls in (AuthState, SidebarState, ConversationState, StreamState, ComposerState)
    ]
    cookie = f"{SESSION_COOKIE}={token}" if token else ""
    return Tab(root, *states, cookie=cookie).at(url)  # type: ignore[arg-type]


async def user_token(name: str = "Ann") -> tuple[uuid.UUID, str]:
    registered = await auth.register(unique_email(name.lower()), name, "correct horse battery")
    return registered.user.id, registered.token


async def new_chat_tab(token: str) -> Tab:
    tab = new_tab(token, "/")
    await tab.sidebar.load()
    await tab.conversation.open_new()
    await tab.stream.resume()
    return tab


def handler_name(event: Any) -> str:
    if isinstance(event, list):  # the browser-store scripts first, then the handler queued
        event = event[-1]
    if isinstance(event, EventSpec):
        return event.handler.fn.__qualname__  # type: ignore[union-attr]
    return event.fn.__name__


def redirect_path(events: list[Any]) -> str | None:
    for event in events:
        if isinstance(event, EventSpec) and handler_name(event) == "_redirect":
            args = {name._js_expr: getattr(value, "_var_value", None) for name, value in event.args}
            return args["path"]
    return None


async def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def finished(user_id: uuid.UUID, cid: str) -> None:
    """Wait until the conversation's reply is no longer live (title included)."""
    await wait_until(lambda: replies.live_reply(user_id, cid) is None)


async def messages(user_id: uuid.UUID, cid: str) -> list[MessagePublic]:
    return await chat_service.list_messages(user_id, cid)


# ---- sending -------------------------------------------------------------------------------


async def test_send_on_new_chat_creates_it_and_follows_the_reply(model: FakeOpenAI) -> None:
    user_id, token = await user_token()
    tab = await new_chat_tab(token)
    assert tab.conversation.cid == ""
    assert [o.id for o in tab.conversation.model_options] == ["fake-small", "fake-large"]
    assert tab.conversation.model == "fake-small"  # the configured default

    model.configure(tokens_per_second=20, reply_tokens=40)
    events = await tab.composer.send({"message": "Hello there"})

    cid = tab.conversation.cid
    assert redirect_path(events) == f"/c/{cid}"
    assert handler_name(events[-1]) == "follow"
    assert [(m.role, m.content) for m in tab.conversation._recent] == [("user", "Hello there")]
    assert tab.stream.active and tab.stream.stream_cid == cid and not tab.stream.has_text
    assert tab.sidebar.items[0].id == cid
    assert tab.composer.error == ""

    # The navigation to /c/<id> that follows keeps what this tab already shows.
    await tab.open(cid)
    assert [m.content for m in tab.conversation._recent] == ["Hello there"]
    assert tab.conversation.history == []
    assert tab.resumed is None and tab.stream.active

    await finished(user_id, cid)
    stored = await messages(user_id, cid)
    assert [(m.role, m.status) for m in stored] == [("user", "complete"), ("assistant", "complete")]
    assert (await chat_service.get_conversation(user_id, cid)).model == "fake-small"


def live_calls(events: list[Any]) -> list[str]:
    """The live-store scripts a watcher sent, as the JavaScript the browser runs."""
    return [{k._js_expr: v._decode() for k, v in e.args}["javascript_code"] for e in events]


def replay(calls: list[str], reply_id: str) -> str:
    """The text the browser's live store holds just before ``clear``, checking every offset."""
    text = ""
    for code in calls[:-1]:
        name, _, args = code.removeprefix("window.__chatLive?.").partition("(")
        values = json.loads(f"[{args.removesuffix(')')}]")
        assert values[0] == reply_id
        if name == "reset":
            text = values[1]
        else:
            assert values[1] == len(text), "a gap or a duplicate"
            text += values[2]
    return text


async def watch(tab: Tab) -> list[Any]:
    """Run the tab's background watcher to its end, the way Reflex would (as a plain call)."""
    handler = StreamState.event_handlers["follow"].fn
    events: list[Any] = []
    async for event in handler(tab.stream):
        events.extend(event if isinstance(event, list) else [event])
    return events


@pytest.mark.parametrize("joins", ["sender", "second tab mid-reply"])
async def test_the_watcher_translates_the_reply_into_live_events_then_commits_it_once(
    model: FakeOpenAI, joins: str
) -> None:
    user_id, token = await user_token()
    model.configure(tokens_per_second=100, reply_tokens=60)
    tab = await new_chat_tab(token)
    await tab.composer.send({"message": "Hello there"})
    cid, reply_id = tab.conversation.cid, tab.stream.reply_id
    if joins == "second tab mid-reply":
        live = replies.live_reply(user_id, cid)
        assert live is not None
        await wait_until(lambda: live.length > 20)
        tab = new_tab(token)
        await tab.open(cid)  # a reload or a second tab: the reply is still being written
        assert handler_name(tab.resumed) == "follow" and tab.stream.reply_id == reply_id

    sent = live_calls(await watch(tab))
    calls = [c for c in sent if c.startswith("window.__chatLive?.")]
    visit = [c for c in sent if c.startswith("window.__chatVisit?.")]

    stored = (await messages(user_id, cid))[-1]
    assert stored.status == "complete" and str(stored.id) == reply_id
    # The whole text so far once, then only new text at its exact offset, then forget it.
    names = [code.removeprefix("window.__chatLive?.").partition("(")[0] for code in calls]
    assert names[0] == "reset" and names[-1] == "clear" and set(names[1:-1]) <= {"append"}
    assert replay(calls, reply_id) == stored.content
    # Committed once, as stored; the stream is over and the sidebar has the auto-title.
    assert [m.id for m in tab.conversation._recent if m.role == "assistant"] == [reply_id]
    assert tab.conversation._recent[-1] == conversation_state.message_view(stored)
    # ... and in the browser: one message appended to this visit's store, right before the
    # live text is forgotten (the list of the visit's messages is not sent again).
    index = len(tab.conversation._recent) - 1
    expected = visit_add_js(
        tab.conversation.visit_key, index, conversation_state.message_view(stored)
    )
    assert visit == [expected] and sent[-2:] == [expected, calls[-1]]
    assert not tab.stream.active and tab.stream.reply_id == ""
    title = (await chat_service.get_conversation(user_id, cid)).title
    assert title != "Hello there" and tab.sidebar.items[0].title == title


@pytest.mark.parametrize(
    ("text", "error"),
    [("", "Type a message first."), ("   \n ", "Type a message first."), ("x" * 501, "too long")],
)
async def test_send_refuses_empty_or_too_long_and_stores_nothing(
    model: FakeOpenAI, text: str, error: str
) -> None:
    user_id, token = await user_token()
    tab = await new_chat_tab(token)
    assert await tab.composer.send({"message": text}) is None
    assert error in tab.composer.error
    assert tab.conversation.cid == "" and not tab.stream.active
    assert (await chat_service.list_conversations(user_id)).items == []


async def test_second_send_while_streaming_is_refused_in_every_tab(model: FakeOpenAI) -> None:
    user_id, token = await user_token()
    model.configure(tokens_per_second=10, reply_tokens=200)
    tab = await new_chat_tab(token)
    await tab.composer.send({"message": "one"})
    cid = tab.conversation.cid

    assert await tab.composer.send({"message": "two"}) is None
    assert tab.composer.busy_refused

    other = new_tab(token)
    await other.open(cid)
    assert handler_name(other.resumed) == "follow"  # the reload/second-tab path
    assert other.stream.active and other.stream.stream_cid == cid
    assert [m.content for m in other.conversation.history] == ["one"]  # the live reply is not
    assert await other.composer.send({"message": "three"}) is None
    assert other.composer.busy_refused

    # A tab that does not know about the reply gets the service's refusal.
    unaware = new_tab(token)
    await unaware.open(cid)
    unaware.stream.active = False
    await unaware.composer.send({"message": "four"})
    assert unaware.composer.error == generation.ALREADY_STREAMING

    # Stop works from any tab viewing it; the text so far is kept.
    await other.stream.stop()
    assert other.stream.stopping
    await finished(user_id, cid)
    stored = await messages(user_id, cid)
    assert [m.content for m in stored if m.role == "user"] == ["one"]
    assert stored[-1].status == "stopped"


async def test_resume_shows_a_reply_that_finished_while_the_page_loaded(model: FakeOpenAI) -> None:
    user_id, token = await user_token()
    model.configure(tokens_per_second=10, reply_tokens=200)
    tab = await new_chat_tab(token)
    await tab.composer.send({"message": "one"})
    cid = tab.conversation.cid
    await wait_until(lambda: (replies.live_reply(user_id, cid) or []) and True)

    other = new_tab(token).at(f"/c/{cid}")
    async for _ in other.conversation.open_from_route():
        pass
    assert [m.content for m in other.conversation.history] == ["one"]
    await replies.stop_reply(user_id, cid)
    await finished(user_id, cid)

    shown = live_calls(await other.stream.resume())
    assert not other.stream.active
    assert shown == [
        visit_add_js(
            other.conversation.visit_key,
            0,
            conversation_state.message_view((await messages(user_id, cid))[-1]),
        )
    ]
    assert [(m.role, m.status) for m in other.conversation._recent] == [("assistant", "stopped")]
    assert other.conversation.last_assistant_id == other.conversation._recent[0].id


# ---- opening -------------------------------------------------------------------------------


async def test_open_loads_history_settings_and_usage_lines(model: FakeOpenAI) -> None:
    user_id, token = await user_token()
    tab = await new_chat_tab(token)
    await tab.conversation.save_system_prompt({"system_prompt": "Be terse."})
    await tab.conversation.choose_model("fake-large")
    await tab.composer.send({"message": "Question"})
    cid = tab.conversation.cid
    await finished(user_id, cid)

    reopened = new_tab(token)
    await reopened.open(cid)
    state = reopened.conversation
    assert not state.not_found and not state.loading
    assert [(m.role, m.status) for m in state.history] == [
        ("user", "complete"),
        ("assistant", "complete"),
    ]
    assert state.shown == 2 and state._recent == []
    assert state.last_user_id == state.history[0].id
    assert state.last_assistant_id == state.history[1].id
    meta = state.history[1].meta
    assert meta.startswith("fake-large · ") and "completion tokens" in meta
    assert "first token in" in meta
    assert state.model == "fake-large" and state.system_prompt == "Be terse."
    assert reopened.resumed is None and not reopened.stream.active


async def test_a_long_conversation_opens_with_its_latest_messages(
    model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, token = await user_token()
    tab = await new_chat_tab(token)
    await tab.composer.send({"message": "q0"})
    cid = tab.conversation.cid
    for n in (1, 2):
        await finished(user_id, cid)
        await generation.send_message(user_id, cid, f"q{n}")
    await finished(user_id, cid)

    monkeypatch.setattr(conversation_state, "HISTORY_WINDOW", 4)
    reopened = new_tab(token)
    await reopened.open(cid)
    assert [m.content for m in reopened.conversation.history if m.role == "user"] == ["q1", "q2"]
    assert reopened.conversation.has_earlier

    add_recent(reopened.conversation, MessageView(id="m-new", role="user", content="q3"))
    await reopened.conversation.show_earlier()
    state = reopened.conversation
    assert [m.content for m in state.history if m.role == "user"] == ["q0", "q1", "q2"]
    assert state.shown == 6 and not state.has_earlier
    assert [m.id for m in state._recent] == ["m-new"]


async def test_someone_elses_or_a_garbage_conversation_is_not_found(model: FakeOpenAI) -> None:
    owner_id, owner_token = await user_token("Owner")
    owner = await new_chat_tab(owner_token)
    await owner.composer.send({"message": "My secret plan"})
    cid = owner.conversation.cid
    await finished(owner_id, cid)

    _, stranger_token = await user_token("Stranger")
    stranger = new_tab(stranger_token)
    for target in (cid, "not-an-id", str(uuid.uuid4()), "../../etc"):
        await stranger.open(target)
        assert stranger.conversation.not_found
        assert stranger.conversation.history == [] and stranger.conversation._recent == []
        assert not stranger.stream.active

    # Forged ids from the browser get the same answer, and change nothing.
    stranger.conversation.not_found = False
    stranger.conversation.cid = cid
    stranger.conversation.model_options = owner.conversation.model_options
    await stranger.composer.send({"message": "Hijack"})
    assert stranger.composer.error == "Conversation not found"
    await stranger.composer.regenerate()
    assert stranger.composer.error == "Conversation not found"
    await stranger.conversation.choose_model("fake-large")
    assert stranger.conversation.error == "Conversation not found"
    stranger.sidebar.rename_id = cid
    await stranger.sidebar.save_rename({"title": "Mine now"})
    assert stranger.sidebar.rename_error == "Conversation not found"
    stranger.sidebar.delete_id = cid
    await stranger.sidebar.confirm_delete()
    assert stranger.sidebar.error == "Conversation not found"

    kept = await chat_service.get_conversation(owner_id, cid)
    assert kept.title != "Mine now" and kept.model == "fake-small"
    stored = await messages(owner_id, cid)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[0].content == "My secret plan"


async def test_handlers_do_nothing_without_a_session(model: FakeOpenAI) -> None:
    tab = new_tab(None)
    assert await tab.sidebar.load() is None and tab.sidebar.items == []
    events = await tab.composer.send({"message": "hello"})
    assert handler_name(events) == "_redirect"
    tab.at(f"/c/{uuid.uuid4()}")
    async for _ in tab.conversation.open_from_route():
        pass
    assert tab.conversation.history == [] and not tab.conversation.loading


# ---- regenerate and edit -------------------------------------------------------------------


async def test_regenerate_and_edit_shrink_the_window_instead_of_resending_history(
    model: FakeOpenAI,
) -> None:
    user_id, token = await user_token()
    tab = await new_chat_tab(token)
    await tab.composer.send({"message": "Question one"})
    cid = tab.conversation.cid
    await tab.open(cid)  # the navigation to the new conversation's URL
    await finished(user_id, cid)
    await tab.open(cid)  # as after a reload: both messages are in the loaded history
    first_reply = tab.conversation.history[1].id

    event = await tab.composer.regenerate()
    assert handler_name(event) == "follow"
    # The browser's copy of this visit's messages is cut too (here: nothing was added to it).
    assert live_calls(event[:-1]) == [visit_truncate_js(tab.conversation.visit_key, 0)]
    assert tab.conversation.shown == 1 and len(tab.conversation.history) == 2
    assert tab.conversation.last_assistant_id == ""
    assert tab.stream.active
    await finished(user_id, cid)
    stored = await messages(user_id, cid)
    assert len(stored) == 2 and str(stored[1].id) != first_reply

    await tab.open(cid)
    await tab.composer.start_edit("not-the-last-message")
    assert tab.composer.editing_id == ""
    await tab.composer.start_edit(tab.conversation.last_user_id)
    assert tab.composer.editing_id == tab.conversation.last_user_id
    assert await tab.composer.save_edit({"message": "x" * 501}) is None
    assert "too long" in tab.composer.edit_error
    assert tab.composer.editing_id != ""  # still editing, the text is kept in its box

    event = await tab.composer.save_edit({"message": "Question one, edited"})
    assert handler_name(event) == "follow"
    assert tab.composer.editing_id == ""
    assert tab.conversation.shown == 0
    assert [m.content for m in tab.conversation._recent] == ["Question one, edited"]
    await finished(user_id, cid)
    stored = await messages(user_id, cid)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[0].content == "Question one, edited"


def test_cut_after_last_user_mirrors_regenerate_and_edit() -> None:
    tab = new_tab(None)
    state = tab.conversation

    def view(i: int, role: str) -> MessageView:
        return MessageView(id=f"m{i}", role=role, content=f"{role} {i}")

    state.history = [view(1, "user"), view(2, "assistant"), view(3, "user"), view(4, "assistant")]
    state.shown = 4
    add_recent(state, view(5, "user"), view(6, "assistant"), view(6, "assistant"))
    assert [m.id for m in state._recent] == ["m5", "m6"]  # a message is added once
    assert (state.last_user_id, state.last_assistant_id) == ("m5", "m6")

    cut_after_last_user(state, including_it=False)  # regenerate: the reply goes
    assert [m.id for m in state._recent] == ["m5"] and state.shown == 4
    cut_after_last_user(state, including_it=True)  # edit: the question goes too
    assert state._recent == [] and state.shown == 4
    cut_after_last_user(state, including_it=False)  # now inside the loaded history
    assert state.shown == 3 and len(state.history) == 4
    assert (state.last_user_id, state.last_assistant_id) == ("m3", "")
    cut_after_last_user(state, including_it=True)
    assert state.shown == 2 and state.last_assistant_id == "m2"


def test_route_ids_and_usage_lines() -> None:
    assert route_conversation_id("/c/abc/") == "abc"
    assert route_conversation_id("/") is None
    message = MessagePublic(
        id=uuid.uuid4(),
        conversation_id=uuid.uuid4(),
        role="assistant",
        content="hi",
        status="complete",
        error_detail=None,
        model="m1",
        prompt_tokens=1200,
        completion_tokens=34,
        ttft_ms=250,
        created_at="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
    )
    assert reply_meta(message) == "m1 · 1,200 prompt + 34 completion tokens · first token in 250 ms"
    partial = message.model_copy(update={"prompt_tokens": None, "completion_tokens": None})
    assert reply_meta(partial) == "m1 · first token in 250 ms"


# ---- settings ------------------------------------------------------------------------------


async def test_model_and_system_prompt_are_stored_on_the_conversation(model: FakeOpenAI) -> None:
    user_id, token = await user_token()
    tab = await new_chat_tab(token)
    await tab.conversation.choose_model("not-offered")
    assert tab.conversation.model == "fake-small"
    await tab.conversation.choose_model("fake-large")
    tab.conversation.prompt_dialog_open = True
    await tab.conversation.save_system_prompt({"system_prompt": "Answer in French."})
    assert not tab.conversation.prompt_dialog_open
    assert (await chat_service.list_conversations(user_id)).items == []  # nothing stored yet

    await tab.composer.send({"message": "Bonjour"})
    cid = tab.conversation.cid
    stored = await chat_service.get_conversation(user_id, cid)
    assert (stored.model, stored.system_prompt) == ("fake-large", "Answer in French.")
    await wait_until(lambda: model.requests)  # the reply task sends it on its own time
    system_turns = [m for m in model.requests[0]["messages"] if m["role"] == "system"]
    assert system_turns and system_turns[0]["content"] == "Answer in French."
    await finished(user_id, cid)

    await tab.conversation.choose_model("fake-small")
    await tab.conversation.save_system_prompt({"system_prompt": ""})
    stored = await chat_service.get_conversation(user_id, cid)
    assert (stored.model, stored.system_prompt) == ("fake-small", "")


# ---- sidebar -------------------------------------------------------------------------------


async def test_sidebar_pages_search_rename_and_delete(model: FakeOpenAI) -> None:
    user_id, token = await user_token()
    created = [
        await chat_service.create_conversation(user_id, title=f"Chat {i}")
        for i in range(PAGE_SIZE + 5)
    ]
    tab = new_tab(token)
    await tab.sidebar.load()
    assert len(tab.sidebar.items) == PAGE_SIZE and tab.sidebar.has_more
    assert tab.sidebar.items[0].title == f"Chat {PAGE_SIZE + 4}"  # most recent first
    await tab.sidebar.load_more()
    assert len(tab.sidebar.items) == PAGE_SIZE + 5 and not tab.sidebar.has_more
    assert len({i.id for i in tab.sidebar.items}) == PAGE_SIZE + 5

    # Navigating keeps the list; a new connection (reload, new tab) reloads it.
    tab.sidebar.items = tab.sidebar.items[:1]
    await tab.sidebar.load()
    assert len(tab.sidebar.items) == 1
    tab.at("/", sid="socket-2")
    await tab.sidebar.load()
    assert len(tab.sidebar.items) == PAGE_SIZE

    await tab.sidebar.search_changed("chat 3")
    titles = sorted(i.title for i in tab.sidebar.items)
    assert titles == ["Chat 3", *[f"Chat 3{n}" for n in range(5)]]
    await tab.sidebar.search_changed("")

    target = str(created[0].id)
    tab.sidebar.open_rename(target)  # not on the first page: nothing to rename
    assert not tab.sidebar.rename_open
    target = tab.sidebar.items[0].id
    tab.sidebar.open_rename(target)
    assert tab.sidebar.rename_open and tab.sidebar.rename_title == f"Chat {PAGE_SIZE + 4}"
    await tab.sidebar.save_rename({"title": "   "})
    assert tab.sidebar.rename_error and tab.sidebar.rename_open
    await tab.sidebar.save_rename({"title": "Renamed"})
    assert not tab.sidebar.rename_open and tab.sidebar.items[0].title == "Renamed"
    assert (await chat_service.get_conversation(user_id, target)).title == "Renamed"

    tab.at(f"/c/{target}")
    tab.sidebar.open_delete(target)
    assert tab.sidebar.delete_open and tab.sidebar.delete_title == "Renamed"
    event = await tab.sidebar.confirm_delete()
    assert redirect_path([event]) == "/"  # the open conversation is gone
    assert target not in {i.id for i in tab.sidebar.items}
    with pytest.raises(NotFound):
        await chat_service.get_conversation(user_id, target)
