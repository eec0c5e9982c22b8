"""Authorization matrix: every browser event and every API route, fed another user's ids.

The surface is enumerated, not listed by hand (tests/security/harness.py): every event handler
Reflex registers for the app's states (``setvar`` included) and every route of ``create_api()``.
The tables below must name each one, either with a *case* (Bob acts on Alice's ids) or as
*id-free* with the reason. A new handler or route that is in neither table, an id-free entry
that the classifier sees taking an identifier, and an entry for something that no longer exists
all fail ``test_every_*_is_in_the_table``: coverage cannot rot silently.

Each case runs twice, with Alice's ids and with ids that exist nowhere, in fresh tabs/clients of
Bob's. It passes when:

* nothing of Alice's reaches Bob (her titles, messages, live reply text, token names, email,
  and any of her ids Bob did not supply himself);
* nothing of Alice's changed (read back as her: conversations, messages, tokens, her session,
  API token and password still work) and her live reply is still being written (or ended
  normally), not stopped by Bob;
* Bob cannot tell her ids from unknown ones: the same resulting state vars and returned events
  (Reflex), the same status and body (API), with the supplied ids masked.

Handlers guarded by the tab's own state (``not_found``, an inactive stream, a dialog only opened
for ids in Bob's list) are also run *forged*: the tab's state is set as if the guard had let
Alice's id through, so the services' ownership checks are exercised, not only the UI's. A case
may name texts its outcome must contain ("Conversation not found"...): proof that it reached
the ownership check rather than stopping somewhere harmless.

Both tables run on SQLite and PostgreSQL, one world per database and table (building one per
case would cost most of the time budget); each case is judged on its own and the failure
report names every failing case.
"""

from __future__ import annotations

import dataclasses
import difflib
import io
import json
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import reflex as rx

from chat_app.api.app import create_api
from chat_app.core.settings import get_settings
from chat_app.state.conversation import ConversationState
from chat_app.state.sidebar import SidebarState
from chat_app.state.stream import StreamState, begin
from tests.security.harness import (
    PASSWORD,
    Tab,
    Target,
    World,
    api_routes,
    build_world,
    chat_states,
    handler_identifiers,
    reflex_handlers,
    route_identifiers,
    state_by_name,
)
from tests.services.conftest import fake, fake_openai_server  # noqa: F401  (fixtures)

Run = Callable[[World, Target], Awaitable[Any]]


@dataclasses.dataclass(frozen=True)
class Case:
    run: Run
    # What Bob's answer with Alice's identifier is compared with: an identifier that exists
    # nowhere ("unknown"), or Bob's own ("own": sign-up, where any taken email is refused).
    control: str = "unknown"
    # Texts Bob's outcome must contain: proof that the attempt reached the ownership check
    # (a case stopped earlier by something unrelated would pass without testing anything).
    expect: tuple[str, ...] = ()


NOT_FOUND = "Conversation not found"


def conversations_of(t: Target) -> tuple[str, str]:
    return (t.conversation, t.live_conversation)


def spellings_of(t: Target) -> tuple[str, ...]:
    """Her conversations, and other spellings of an id that the services accept."""
    return (*conversations_of(t), t.conversation.upper(), f"urn:uuid:{t.live_conversation}")


def resolve(value: Any, t: Target) -> Any:
    """Event arguments and request parts may depend on the target: ``lambda t: t.token``."""
    return value(t) if callable(value) else value


# ---- Reflex cases ------------------------------------------------------------------------------


async def on_alices_pages(world: World, t: Target, events: tuple, *, forged: bool) -> list:
    """Bob opens each of Alice's conversations by URL (``/c/<id>``: the id comes from the route,
    and stays in ``ConversationState.cid``), then sends ``events`` from that page. ``forged``:
    as if the page had opened it (``not_found`` cleared), so handlers reach the services."""
    outcomes = []
    for cid in conversations_of(t):
        tab = await world.b_tab()
        await tab.visit(f"/c/{cid}")
        if forged:
            tab.state(ConversationState).not_found = False
        for event, *args in events:
            await tab.fire(event, *(resolve(a, t) for a in args))
        outcomes.append(tab.outcome())
    return outcomes


def on_alices_page(*events: tuple) -> Run:
    async def run(world: World, t: Target) -> Any:
        return [await on_alices_pages(world, t, events, forged=f) for f in (False, True)]

    return run


async def open_alices_conversations(world: World, t: Target) -> Any:
    """The whole page load of /c/<Alice's id>: guard, sidebar, open_from_route, resume."""
    outcomes = []
    for cid in spellings_of(t):
        tab = await world.b_tab()
        await tab.visit(f"/c/{cid}")
        outcomes.append(tab.outcome())
    return outcomes


def setvar(state_name: str) -> Run:
    """``setvar`` is an event every state has: it must not let the browser write any var that
    has no handler of its own (ids in the state come only from the server)."""

    async def run(world: World, t: Target) -> Any:
        cls = state_by_name(state_name)
        tab = await world.b_tab(f"/c/{t.conversation}")
        attempts = {}
        for name, f in cls.__fields__.items():
            if f._owner is not cls or f._backend or f"set_{name}" in cls.event_handlers:
                continue
            try:
                await tab.fire(f"{state_name}.setvar", name, t.conversation)
            except AttributeError as exc:
                if f"set_{name}" not in str(exc):
                    raise  # not the refusal this case is about
                attempts[name] = "no setter"
            else:
                attempts[name] = "set"
        written = [name for name, result in attempts.items() if result == "set"]
        assert not written, f"the browser can set {state_name}.{written} through setvar"
        return {"attempts": attempts, "tab": tab.outcome()}

    return run


def sidebar_dialog(open_event: str, confirm: tuple = (), held: str = "") -> Run:
    """Bob, on Alice's URL, opens the rename/delete dialog for her ids (the sidebar opens it only
    for ids in Bob's own list) and confirms; forged: the dialog holds her id anyway."""

    async def run(world: World, t: Target) -> Any:
        outcomes = []
        for forged in (False, True) if held else (False,):
            for cid in conversations_of(t):
                tab = await world.b_tab(f"/c/{cid}")  # a delete that worked would redirect
                await tab.fire(f"SidebarState.{open_event}", cid)
                if forged:
                    setattr(tab.state(SidebarState), held, cid)
                if confirm:
                    await tab.fire(confirm[0], *confirm[1:])
                outcomes.append(tab.outcome())
        return outcomes

    return run


async def sidebar_load(world: World, t: Target) -> Any:
    tab = await world.b_tab("/settings")  # a page without the sidebar: load it now
    await tab.fire("SidebarState.load")
    return tab.outcome()


async def sidebar_search(world: World, t: Target) -> Any:
    """Search matches titles and message text: neither may find Alice's."""
    outcomes = []
    for words in (t.search, t.search_text):
        tab = await world.b_tab()
        await tab.fire("SidebarState.search_changed", words)
        outcomes.append(tab.outcome())
    return outcomes


async def sidebar_load_more(world: World, t: Target) -> Any:
    """Bob's list has no next page; forged: its server-held cursor points into Alice's list."""
    outcomes = []
    for forged in (False, True):
        tab = await world.b_tab()
        if forged:
            tab.state(SidebarState)._next_cursor = t.cursor
        await tab.fire("SidebarState.load_more")
        outcomes.append(tab.outcome())
    return outcomes


def on_alices_live_reply(event: str, *args: Any) -> Run:
    """Bob on the URL of Alice's conversation whose reply is being written; forged: his tab
    follows her reply as if it had started it (``begin``) and lists it as pending."""

    async def run(world: World, t: Target) -> Any:
        outcomes = []
        for forged in (False, True):
            tab = await world.b_tab(f"/c/{t.live_conversation}")
            if forged:
                conversation = tab.state(ConversationState)
                conversation.not_found = False
                conversation._streaming_ids = [t.live_reply]
                begin(tab.state(StreamState), t.live_conversation, t.live_reply)
            await tab.fire(event, *(resolve(a, t) for a in args))
            outcomes.append(tab.outcome())
        return outcomes

    return run


async def settings_load(world: World, t: Target) -> Any:
    tab = await world.b_tab()
    await tab.fire("SettingsState.load")
    return tab.outcome()


async def settings_revoke_token(world: World, t: Target) -> Any:
    tab = await world.b_tab("/settings")
    await tab.fire("SettingsState.revoke_token", t.token)
    return tab.outcome()


def chatgpt_file(t: Target) -> bytes:
    """A ChatGPT export whose conversation, node and message ids are the target's."""

    def node(node_id: str, role: str, text: str, parent: str | None, children: list) -> dict:
        message = {
            "id": node_id,
            "author": {"role": role},
            "content": {"content_type": "text", "parts": [text]},
            "create_time": 1714557600.0 if parent is None else 1714557601.0,
            "recipient": "all",
        }
        return {"id": node_id, "message": message, "parent": parent, "children": children}

    return json.dumps(
        [
            {
                "id": t.conversation,
                "conversation_id": t.conversation,
                "title": "Bob's import",
                "create_time": 1714557600.0,
                "update_time": 1714557601.0,
                "current_node": t.reply,
                "mapping": {
                    t.user_message: node(t.user_message, "user", "Bob asks", None, [t.reply]),
                    t.reply: node(t.reply, "assistant", "Bob's answer", t.user_message, []),
                },
            }
        ]
    ).encode()


def native_file(t: Target) -> bytes:
    """This app's export format, with ids it has no field for (refused whole)."""
    stamp = "2026-01-01T00:00:00Z"
    message = {"id": t.user_message, "role": "user", "content": "Bob", "created_at": stamp}
    conversation = {
        "id": t.conversation,
        "title": "Bob's import",
        "created_at": stamp,
        "updated_at": stamp,
        "messages": [message],
    }
    document = {"format": "chat-app-export", "version": 1, "conversations": [conversation]}
    return json.dumps(document).encode()


async def settings_import(world: World, t: Target) -> Any:
    outcomes = []
    for source, content in (("chatgpt", chatgpt_file(t)), ("native", native_file(t))):
        tab = await world.b_tab("/settings")
        await tab.fire("SettingsState.set_import_source", source)
        await tab.fire("SettingsState.import_file", [rx.UploadFile(file=io.BytesIO(content))])
        outcomes.append(tab.outcome())
    return outcomes


async def submit_login(world: World, t: Target) -> Any:
    tab = await Tab(None).visit("/login")
    tab.events.clear()
    await tab.fire("AuthState.submit_login", {"email": t.email, "password": "not-the-password"})
    return tab.outcome()


async def submit_register(world: World, t: Target) -> Any:
    tab = await Tab(None).visit("/register")
    tab.events.clear()
    form = {"email": t.email, "display_name": "Mallory", "password": PASSWORD}
    await tab.fire("AuthState.submit_register", form)
    return tab.outcome()


async def logout_everywhere(world: World, t: Target) -> Any:
    tab = await world.b_tab()
    await tab.fire("AuthState.logout_everywhere")
    return tab.outcome()


REFLEX_CASES: dict[str, Case] = {
    # AuthState
    "AuthState.setvar": Case(setvar("AuthState")),
    "AuthState.submit_login": Case(submit_login, expect=("Incorrect email or password",)),
    "AuthState.submit_register": Case(submit_register, control="own", expect=("already exists",)),
    "AuthState.logout_everywhere": Case(logout_everywhere),
    # ConversationState
    "ConversationState.setvar": Case(setvar("ConversationState")),
    "ConversationState.open_from_route": Case(
        open_alices_conversations, expect=('"not_found": true',)
    ),
    "ConversationState.show_earlier": Case(
        on_alices_page(("ConversationState.show_earlier",)), expect=(NOT_FOUND,)
    ),
    "ConversationState.choose_model": Case(
        on_alices_page(("ConversationState.choose_model", "fake-large")), expect=(NOT_FOUND,)
    ),
    "ConversationState.save_system_prompt": Case(
        on_alices_page(("ConversationState.save_system_prompt", {"system_prompt": "Bob's"})),
        expect=(NOT_FOUND,),
    ),
    # ComposerState
    "ComposerState.setvar": Case(setvar("ComposerState")),
    "ComposerState.send": Case(
        on_alices_page(("ComposerState.send", {"message": "Bob's"})), expect=(NOT_FOUND,)
    ),
    "ComposerState.regenerate": Case(
        on_alices_page(("ComposerState.regenerate",)), expect=(NOT_FOUND,)
    ),
    "ComposerState.start_edit": Case(
        on_alices_page(("ComposerState.start_edit", lambda t: t.user_message))
    ),
    "ComposerState.cancel_edit": Case(
        on_alices_page(
            ("ComposerState.start_edit", lambda t: t.user_message),
            ("ComposerState.cancel_edit",),
        )
    ),
    "ComposerState.save_edit": Case(
        on_alices_page(
            ("ComposerState.start_edit", lambda t: t.user_message),
            ("ComposerState.save_edit", {"message": "Bob's rewrite"}),
        ),
        expect=(NOT_FOUND,),
    ),
    # SidebarState
    "SidebarState.setvar": Case(setvar("SidebarState")),
    "SidebarState.load": Case(sidebar_load),
    "SidebarState.search_changed": Case(sidebar_search),
    "SidebarState.load_more": Case(sidebar_load_more),
    "SidebarState.open_rename": Case(sidebar_dialog("open_rename")),
    "SidebarState.save_rename": Case(
        sidebar_dialog(
            "open_rename", ("SidebarState.save_rename", {"title": "Bob's now"}), "rename_id"
        ),
        expect=(NOT_FOUND,),
    ),
    "SidebarState.open_delete": Case(sidebar_dialog("open_delete")),
    "SidebarState.confirm_delete": Case(
        sidebar_dialog("open_delete", ("SidebarState.confirm_delete",), "delete_id"),
        expect=(NOT_FOUND,),
    ),
    # StreamState
    "StreamState.setvar": Case(setvar("StreamState")),
    "StreamState.resume": Case(on_alices_live_reply("StreamState.resume")),
    "StreamState.stop": Case(on_alices_live_reply("StreamState.stop")),
    "StreamState.resync_live": Case(
        on_alices_live_reply("StreamState.resync_live", lambda t: t.live_reply)
    ),
    "StreamState.follow": Case(on_alices_live_reply("StreamState.follow")),
    # The visit store's gap answer: a tab only ever gets its own visit's messages back (here
    # Bob's tab on Alice's URL, offering her reply's id as the key).
    "ConversationState.resync_visit": Case(
        on_alices_live_reply("ConversationState.resync_visit", lambda t: t.live_reply)
    ),
    # SettingsState
    "SettingsState.setvar": Case(setvar("SettingsState")),
    "SettingsState.load": Case(settings_load),
    "SettingsState.revoke_token": Case(settings_revoke_token, expect=("Token not found",)),
    "SettingsState.import_file": Case(
        settings_import, expect=("Imported: Bob's import", "Nothing was imported")
    ),
}

REFLEX_ID_FREE: dict[str, str] = {
    "AuthState.guard_private_page": "checks this tab's own session cookie; reads no id",
    "AuthState.open_login_page": "resets the login form; only a notice key from the URL",
    "AuthState.open_register_page": "resets the sign-up form",
    "AuthState.logout": "forgets this tab's user; the cookie is cleared by a same-site POST",
    "AuthState.set_logout_everywhere_open": "a dialog's open flag",
    "ConversationState.open_new": "an empty new chat: clears the open conversation",
    "ConversationState.set_prompt_dialog_open": "a dialog's open flag",
    "SidebarState.set_drawer": "the phone drawer's open flag",
    "SidebarState.close_drawer": "the phone drawer's open flag",
    "SidebarState.set_rename_open": "a dialog's open flag (the id it holds is save_rename's)",
    "SidebarState.set_delete_open": "a dialog's open flag (the id it holds is confirm_delete's)",
    "SettingsState.create_token": "creates a token for the acting user (after their password); "
    "names nothing existing",
    "SettingsState.dismiss_token_secret": "hides the just-created token's secret in this tab",
    "SettingsState.set_import_source": "one of two fixed import formats",
    "ComposerState.too_long": "the page's character count, only shown in this tab's message",
    "ComposerState.edit_too_long": "the page's character count, only shown in this tab's message",
}


# ---- API cases ---------------------------------------------------------------------------------

Request = dict[str, Any] | Callable[[Target], dict[str, Any]]


def on_each_conversation(method: str, suffix: str = "", *variants: Request) -> Run:
    """The route on each of Alice's conversations (and other spellings of their ids), once per
    request variant, with each of Bob's credentials."""

    async def run(world: World, t: Target) -> Any:
        return [
            await world.b_api(method, f"/api/v1/conversations/{cid}{suffix}", **resolve(v, t))
            for cid in spellings_of(t)
            for v in variants or ({},)
        ]

    return run


def as_bob(method: str, path: str | Callable[[Target], str], *variants: Request) -> Run:
    async def run(world: World, t: Target) -> Any:
        return [
            await world.b_api(method, resolve(path, t), **resolve(v, t)) for v in variants or ({},)
        ]

    return run


def anonymous(method: str, path: str, body: Callable[[Target], dict[str, Any]]) -> Run:
    async def run(world: World, t: Target) -> Any:
        return await world.anonymous_api(method, path, json=body(t))

    return run


CONVERSATION = "/api/v1/conversations/{conversation_id}"
API_CASES: dict[str, Case] = {
    "POST /api/v1/auth/login": Case(
        anonymous(
            "POST",
            "/api/v1/auth/login",
            lambda t: {"email": t.email, "password": "not-the-password"},
        ),
        expect=("Incorrect email or password",),
    ),
    "POST /api/v1/auth/register": Case(
        anonymous(
            "POST",
            "/api/v1/auth/register",
            lambda t: {"email": t.email, "display_name": "Mallory", "password": PASSWORD},
        ),
        control="own",
        expect=("already exists",),
    ),
    "POST /api/v1/auth/revoke": Case(as_bob("POST", "/api/v1/auth/revoke")),
    "POST /api/v1/auth/revoke-all": Case(as_bob("POST", "/api/v1/auth/revoke-all")),
    "GET /api/v1/tokens": Case(as_bob("GET", "/api/v1/tokens")),
    "DELETE /api/v1/tokens/{token_id}": Case(
        as_bob("DELETE", lambda t: f"/api/v1/tokens/{t.token}"), expect=("Token not found",)
    ),
    "GET /api/v1/conversations": Case(
        as_bob(
            "GET",
            "/api/v1/conversations",
            lambda t: {"params": {"q": t.search}},
            lambda t: {"params": {"q": t.search_text}},
            lambda t: {"params": {"cursor": t.cursor}},
        )
    ),
    f"GET {CONVERSATION}": Case(on_each_conversation("GET"), expect=(NOT_FOUND,)),
    f"PATCH {CONVERSATION}": Case(
        on_each_conversation(
            "PATCH", "", {"json": {"title": "Bob's", "model": "fake-large", "system_prompt": "B"}}
        ),
        expect=(NOT_FOUND,),
    ),
    f"DELETE {CONVERSATION}": Case(on_each_conversation("DELETE"), expect=(NOT_FOUND,)),
    f"GET {CONVERSATION}/messages": Case(
        on_each_conversation("GET", "/messages", {}, lambda t: {"params": {"cursor": t.cursor}}),
        expect=(NOT_FOUND,),
    ),
    f"POST {CONVERSATION}/messages": Case(
        on_each_conversation(
            "POST",
            "/messages",
            {"json": {"content": "Bob's", "stream": True}},
            {"json": {"content": "Bob's", "stream": False}},
        ),
        expect=(NOT_FOUND,),
    ),
    f"POST {CONVERSATION}/regenerate": Case(
        on_each_conversation("POST", "/regenerate", {}, {"params": {"stream": "false"}}),
        expect=(NOT_FOUND,),
    ),
    f"PUT {CONVERSATION}/last-user-message": Case(
        on_each_conversation(
            "PUT",
            "/last-user-message",
            {"json": {"content": "Bob's rewrite", "stream": True}},
            {"json": {"content": "Bob's rewrite", "stream": False}},
        ),
        expect=(NOT_FOUND,),
    ),
    f"GET {CONVERSATION}/reply": Case(
        on_each_conversation(
            "GET", "/reply", {}, {"params": {"offset": 0}}, {"headers": {"Last-Event-ID": "4"}}
        ),
        expect=(NOT_FOUND,),
    ),
    f"POST {CONVERSATION}/stop": Case(on_each_conversation("POST", "/stop"), expect=(NOT_FOUND,)),
    f"GET {CONVERSATION}/export": Case(
        on_each_conversation(
            "GET", "/export", {"params": {"format": "json"}}, {"params": {"format": "markdown"}}
        ),
        expect=(NOT_FOUND,),
    ),
    "GET /api/v1/export": Case(
        as_bob(
            "GET",
            "/api/v1/export",
            {"params": {"format": "json"}},
            {"params": {"format": "markdown"}},
        )
    ),
    "POST /api/v1/import": Case(
        as_bob(
            "POST",
            "/api/v1/import",
            lambda t: {"params": {"source": "chatgpt"}, "content": chatgpt_file(t)},
            lambda t: {"params": {"source": "native"}, "content": native_file(t)},
        ),
        expect=("Bob's import", "Nothing was imported"),
    ),
}

API_ID_FREE: dict[str, str] = {
    "POST /api/v1/auth/session": "trades a signed 30-second login ticket for the cookie",
    "POST /api/v1/auth/logout": "revokes the session cookie the request carries",
    "GET /api/v1/auth/expired": "clears a cookie that no longer authenticates anyone",
    "GET /api/v1/me": "the caller, from the caller's own credential",
    "POST /api/v1/tokens": "creates a token for the caller; names nothing existing",
    "GET /api/v1/models": "the provider's model list; no user data",
    "POST /api/v1/conversations": "creates a conversation for the caller",
    "GET /api/openapi.json": "the API description; no user data",
    "GET /api/docs": "the API documentation page; no user data",
    "GET /api/v1/health": "database and Redis status, public on purpose; no user data",
    "GET /metrics": "process-wide counters behind METRICS_TOKEN (404 when unset); no user data",
}


# ---- the table covers the surface --------------------------------------------------------------


def table_problems(
    found: dict[str, Any],
    cases: dict[str, Case],
    id_free: dict[str, str],
    identifiers: Callable[[Any], list[str]],
) -> list[str]:
    problems = []
    for key in sorted(found):
        if key in cases and key in id_free:
            problems.append(f"{key}: both a case and declared id-free")
        elif key not in cases and key not in id_free:
            problems.append(f"{key}: not in the table (add a case, or declare it id-free)")
        elif key in id_free:
            if reasons := identifiers(found[key]):
                problems.append(f"{key}: declared id-free but takes an id: {'; '.join(reasons)}")
            if not id_free[key].strip():
                problems.append(f"{key}: declared id-free without a reason")
    for key in sorted((cases.keys() | id_free.keys()) - found.keys()):
        problems.append(f"{key}: in the table but no longer exists")
    return problems


def test_every_reflex_event_handler_is_in_the_table() -> None:
    handlers = reflex_handlers()
    problems = table_problems(handlers, REFLEX_CASES, REFLEX_ID_FREE, handler_identifiers)
    assert not problems, "\n".join(problems)


def test_every_api_route_is_in_the_table() -> None:
    routes = api_routes()
    problems = table_problems(routes, API_CASES, API_ID_FREE, route_identifiers)
    assert not problems, "\n".join(problems)


def test_the_classifier_sees_identifiers() -> None:
    """A broken classifier would let any entry be declared id-free: it must see the obvious."""
    handlers, routes = reflex_handlers(), api_routes()
    for key in (
        "SettingsState.revoke_token",  # a parameter
        "SidebarState.confirm_delete",  # an id held by a dialog
        "StreamState.stop",  # the conversation being followed
        "ConversationState.open_from_route",  # the id in the URL
    ):
        assert handler_identifiers(handlers[key]), key
    for key in ("DELETE /api/v1/tokens/{token_id}", "POST /api/v1/auth/login"):
        assert route_identifiers(routes[key]), key
    assert not handler_identifiers(handlers["SidebarState.set_drawer"])


def test_no_app_state_var_can_be_written_by_reflex_internals() -> None:
    """Reflex's own update_vars_internal event writes client-storage vars (cookies, local
    storage) of any state from the browser; the app must declare none, or ids could be planted."""
    for cls in chat_states():
        for name, f in cls.__fields__.items():
            if f._owner is cls:
                assert not cls._is_client_storage(name), f"{cls.__name__}.{name}"


# ---- the matrix --------------------------------------------------------------------------------
# A case that broke something (or outlived Alice's reply) gets a fresh world after it, so one
# failure does not muddle the verdict on the cases after it.

NewWorld = Callable[[], Awaitable[World]]


@pytest.fixture
async def new_world(
    db: str,
    fake,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[NewWorld]:
    # Alice's live reply saves its text only when it ends: the teardown that cancels it then
    # never lands in the middle of a write (which, on SQLite, could leave the file locked).
    monkeypatch.setenv("SAVE_INTERVAL_SECONDS", "3600")
    # Bob's own send budget (checked before ownership, as it should be) would otherwise run out
    # across a whole table of attempts and turn his 404s into 429s.
    monkeypatch.setenv("SEND_RATE_PER_MINUTE", "10000")
    get_settings.cache_clear()
    transport = httpx.ASGITransport(app=create_api(), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield lambda: build_world(fake, client)


def diff(expected: Any, got: Any) -> str:
    lines = [
        json.dumps(value, indent=1, sort_keys=True, default=str).splitlines()
        for value in (expected, got)
    ]
    return "\n".join(difflib.unified_diff(*lines, "expected", "got", lineterm="", n=2))


async def judge(world: World, case: Case) -> list[str]:
    """Everything wrong with one case (empty: Bob got nothing, changed nothing, learnt nothing)."""
    before = await world.snapshot_a()
    real_target = world.target_a
    real = world.render(await case.run(world, real_target), real_target)
    control_target = world.target_own() if case.control == "own" else world.target_unknown()
    control = world.render(await case.run(world, control_target), control_target)
    after = await world.snapshot_a()

    problems = [
        f"never reached the ownership check: no {text!r} in Bob's outcome"
        for text in case.expect
        if text.lower() not in real.lower()
    ]
    problems += [f"Bob was shown {leak}" for leak in world.leaks(real, real_target)]
    problems += [f"Bob was shown {leak}" for leak in world.leaks(control, control_target)]
    if after != before:
        problems.append("Alice's data changed:\n" + diff(before, after))
    if problem := await world.live_reply_problem():
        problems.append(problem)
    if real != control:
        problems.append(
            "Bob can tell Alice's ids from unknown ones (expected: with unknown ids):\n"
            + diff(json.loads(control), json.loads(real))
        )
    return problems


async def run_matrix(new_world: NewWorld, cases: dict[str, Case]) -> None:
    world = await new_world()
    failures: dict[str, list[str]] = {}
    for name, case in cases.items():
        if not world.reply_is_live():
            world = await new_world()  # a slow run outlived Alice's reply: start another
        try:
            problems = await judge(world, case)
        except Exception:
            problems = [traceback.format_exc()]
        if problems:
            failures[name] = problems
            world = await new_world()  # Alice's things may be broken now
    report = "\n\n".join(f"{name}:\n" + "\n".join(found) for name, found in failures.items())
    assert not failures, f"{len(failures)} of {len(cases)} cases failed\n\n{report}"


async def test_reflex_events_with_another_users_ids(new_world: NewWorld) -> None:
    await run_matrix(new_world, REFLEX_CASES)


async def test_api_routes_with_another_users_ids(new_world: NewWorld) -> None:
    await run_matrix(new_world, API_CASES)
