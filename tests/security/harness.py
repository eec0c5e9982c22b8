"""What the authorization matrix runs on: the surface it enumerates, the two users, and the
comparison of outcomes.

* **Surface.** Every event handler of every Reflex state defined in ``chat_app`` (the
  ``event_handlers`` of each class in the ``State`` tree: exactly what Reflex registers and
  dispatches, ``setvar`` included), and every route of ``create_api()``. Each one is classified:
  does it take an identifier (a parameter, path/query parameter or body field named like an id,
  a cursor or an email) or act on an id held in the tab's state (its source reads one)?
* **World.** Alice (A) has a finished conversation, a conversation whose reply is being written
  right now (the fake OpenAI server at a slow pace), a personal API token and a session. Bob (B)
  has his own account, token and conversation. B acts; A is checked through the services.
* **Outcome.** What B gets back (a tab's public and server-side vars plus the events its handlers
  returned, or the API's status and body), rendered to text with the ids B supplied replaced by
  placeholders, so B-with-A's-ids can be compared with B-with-ids-that-exist-nowhere.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib
import inspect
import json
import pkgutil
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel
from reflex.istate.data import RouterData
from reflex.state import BaseState, State
from reflex_base.event import EventHandler, EventSpec

import chat_app
from chat_app.api.app import create_api
from chat_app.core.session_cookie import SESSION_COOKIE
from chat_app.models.common import utcnow
from chat_app.services import api_tokens, auth, generation, replies, transfer
from chat_app.services import chat as chat_service
from chat_app.services.errors import NotFound
from chat_app.state.auth import AuthState
from chat_app.state.tab_session import app_state_classes, session_fingerprint
from tests.services.conftest import wait_until
from tests.support.fake_openai import FakeOpenAI

PASSWORD = "correct horse battery"

# ---- the surface -------------------------------------------------------------------------------

# Names that carry an identifier: conversation_id, message_id, reply_id, token_id, model_id,
# cid, id, _streaming_ids, _next_cursor (a cursor encodes a row's id), and a user's email.
ID_NAME = re.compile(r"(^|_)(c?id|ids|cursor|email)$")
# The acting user's own id, re-derived from the session cookie at every event: not a target.
ACTING_USER_VARS = {"AuthState._user_id"}
# Random each time they change (StreamState's watcher sequence, the visit key) or derived from
# the session token (the tab's session fingerprint): equal runs differ there.
NONCE_VARS = {
    "StreamState._seq",
    "StreamState._claimed",
    "AuthState._session_fingerprint",
    "ConversationState.visit_key",  # random per opening of a conversation (the visit store's key)
}
# Entry modules build the app (or run the CLI) when imported; they define no state.
ENTRY_MODULES = {"chat_app.chat_app", "chat_app.__main__"}


def _import_the_app() -> None:
    """Import every module of the app, so that no state class can be missed.

    Done once, when this module is imported (at collection): Reflex registers a state class in
    the registration context active when the class is created.
    """
    for module in pkgutil.walk_packages(chat_app.__path__, "chat_app."):
        if module.name not in ENTRY_MODULES:
            importlib.import_module(module.name)


_import_the_app()


@functools.cache
def chat_states() -> tuple[type[BaseState], ...]:
    """Every Reflex state class the app defines, walking the ``State`` tree."""
    return tuple(app_state_classes())


def state_by_name(name: str) -> type[BaseState]:
    return next(cls for cls in chat_states() if cls.__name__ == name)


def reflex_handlers() -> dict[str, EventHandler]:
    """``"SidebarState.confirm_delete"`` -> the handler Reflex dispatches for that event."""
    handlers: dict[str, EventHandler] = {}
    for cls in chat_states():
        for name, handler in cls.event_handlers.items():
            key = f"{cls.__name__}.{name}"
            assert key not in handlers, f"two states are called {cls.__name__}"
            handlers[key] = handler
    return handlers


def state_id_vars() -> set[str]:
    """Vars (public or server-only) of the app's states that hold an identifier."""
    names = set()
    for cls in chat_states():
        for name, f in cls.__fields__.items():
            if (
                f._owner is cls
                and ID_NAME.search(name)
                and f"{cls.__name__}.{name}" not in ACTING_USER_VARS
            ):
                names.add(name)
    return names


def handler_identifiers(handler: EventHandler) -> list[str]:
    """Why a handler counts as taking an identifier (empty: it takes none we can see)."""
    fn = handler.fn
    reasons = [
        f"parameter {p!r}"
        for p in list(inspect.signature(fn).parameters)[1:]
        if ID_NAME.search(p) and p != "var_name"
    ]
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return reasons  # setvar: Reflex's own code, classified by the table
    held = sorted(state_id_vars())
    reads = set(re.findall(r"\.(" + "|".join(map(re.escape, held)) + r")\b", source))
    reasons += [f"acts on the state-held id {name!r}" for name in sorted(reads)]
    if "route_conversation_id" in source:
        reasons.append("acts on the id in the page's URL")
    return reasons


def api_routes() -> dict[str, Any]:
    """``"DELETE /api/v1/tokens/{token_id}"`` -> the route (HEAD is folded into GET)."""
    routes: dict[str, Any] = {}
    for context in iter_route_contexts(create_api().routes):
        methods = set(context.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")
        for method in sorted(methods):
            routes[f"{method} {context.path}"] = context
    return routes


def _params(dependant: Any) -> Iterator[tuple[str, Any]]:
    for kind in ("path_params", "query_params", "header_params", "cookie_params", "body_params"):
        for param in getattr(dependant, kind):
            yield kind, param
    for sub in dependant.dependencies:
        yield from _params(sub)


def route_identifiers(route: Any) -> list[str]:
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return []
    reasons = []
    for kind, param in _params(dependant):
        if kind == "path_params":
            reasons.append(f"path parameter {param.name!r}")
            continue
        annotation = param.field_info.annotation
        if kind == "body_params" and inspect.isclass(annotation):
            if issubclass(annotation, BaseModel):
                reasons += [
                    f"body field {name!r}"
                    for name in annotation.model_fields
                    if ID_NAME.search(name)
                ]
                continue
        if ID_NAME.search(param.name):
            reasons.append(f"{kind.removesuffix('_params')} parameter {param.name!r}")
    return reasons


# ---- outcomes ----------------------------------------------------------------------------------

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d| UTC)?")


def plain(value: Any) -> Any:
    """A JSON-able copy of a state var or handler result (proxies, dataclasses, events)."""
    value = getattr(value, "__wrapped__", value)  # Reflex's MutableProxy
    if isinstance(value, EventSpec):
        handler = value.handler
        return {
            "event": getattr(handler.fn, "__qualname__", repr(handler.fn)),
            "args": {name._js_expr: str(arg) for name, arg in value.args},
        }
    if isinstance(value, EventHandler):
        return {"event": getattr(value.fn, "__qualname__", repr(value.fn))}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, BaseModel):
        return plain(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


@dataclasses.dataclass(frozen=True)
class Target:
    """The identifiers B puts into events and requests: A's, or ones that exist nowhere."""

    conversation: str  # finished: a user message and a reply
    live_conversation: str  # its reply is being written while B acts
    user_message: str  # the last user message of ``conversation``
    reply: str  # the finished reply of ``conversation``
    live_reply: str  # the reply being written in ``live_conversation``
    token: str  # a personal API token's id
    email: str
    search: str  # a word of A's title
    search_text: str  # a word of A's messages only
    cursor: str  # a page cursor at A's newest conversation

    def substitute(self, text: str) -> str:
        """Each supplied value -> ``<field>`` (longest first, emails in any case)."""
        values = sorted(dataclasses.asdict(self).items(), key=lambda kv: -len(kv[1]))
        for name, value in values:
            text = re.sub(re.escape(value), f"<{name}>", text, flags=re.IGNORECASE)
        return text


@dataclasses.dataclass
class Account:
    user_id: uuid.UUID
    email: str
    name: str
    session: str  # logged in at setup
    api_token: str  # a personal API token's secret
    api_token_id: str

    async def fresh_session(self) -> str:
        """A new login: the tab or client of one run does not share another run's session."""
        return (await auth.login(self.email, PASSWORD)).token


async def new_account(name: str) -> Account:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    registered = await auth.register(email, name, PASSWORD)
    created = await api_tokens.create_token(registered.user.id, f"{name} token")
    return Account(
        registered.user.id,
        email,
        name,
        registered.token,
        created.plaintext,
        str(created.token.id),
    )


# ---- a browser tab -----------------------------------------------------------------------------


def on_load(url: str) -> list[EventHandler]:
    """The on_load handlers Reflex queues when a tab opens ``url`` (as chat_app.chat_app wires)."""
    from chat_app.pages.chat import CONVERSATION_ON_LOAD, NEW_CHAT_ON_LOAD
    from chat_app.pages.settings import ON_LOAD as SETTINGS_ON_LOAD
    from chat_app.state.auth import AuthState

    path = url.partition("?")[0]
    if path.startswith("/c/"):
        return list(CONVERSATION_ON_LOAD)
    pages = {
        "/": NEW_CHAT_ON_LOAD,
        "/settings": SETTINGS_ON_LOAD,
        "/login": [AuthState.open_login_page],
        "/register": [AuthState.open_register_page],
    }
    return list(pages[path])


# A watcher that follows someone else's reply would otherwise run until that reply ends.
GENERATOR_LIMIT_SECONDS = 3.0


async def _drain(events: Any) -> list[Any]:
    """What an async-generator handler yields, cut off (and marked) if it runs on and on."""
    items: list[Any] = []
    try:
        async with asyncio.timeout(GENERATOR_LIMIT_SECONDS):
            async for item in events:
                items.append(item)
    except TimeoutError:
        items.append(f"<still yielding after {GENERATOR_LIMIT_SECONDS} s>")
    finally:
        await events.aclose()
    return items


class Tab:
    """One browser tab: a real state tree whose router carries the tab's cookie and URL.

    ``fire`` runs an event the way the browser names it (``"SidebarState.confirm_delete"``):
    the registered handler's function on this tab's instance of its state; background handlers
    included (outside Reflex's event loop ``async with self`` is a no-op on a plain state).
    """

    def __init__(self, token: str | None, url: str = "/") -> None:
        self.root = State(_reflex_internal_init=True)
        self.cookie = f"{SESSION_COOKIE}={token}" if token else ""
        self.events: list[Any] = []
        self.at(url)
        # What the app's TabSessionBinding does at a connection's first event: this tab's state
        # belongs to this cookie's session (a later event with another cookie would empty it).
        auth = self.root.get_substate(AuthState.get_full_name().split("."))
        auth._session_fingerprint = session_fingerprint(token)

    def at(self, url: str) -> Tab:
        path, _, query = url.partition("?")
        self.root.router = RouterData.from_router_data(
            {
                "headers": {"origin": "http://localhost:3000", "cookie": self.cookie},
                "ip": "127.0.0.1",
                "sid": "socket-1",
                "pathname": path,
                "asPath": url,
                "query": dict(p.split("=", 1) for p in query.split("&") if "=" in p),
            }
        )
        return self

    def state(self, cls: type[BaseState]) -> Any:
        return self.root.get_substate(cls.get_full_name().split("."))

    async def fire(self, event: str | EventHandler, *args: Any) -> Any:
        if isinstance(event, str):
            state_name, _, name = event.partition(".")
            handler = state_by_name(state_name).event_handlers[name]
        else:
            handler = event
        assert handler.state is not None
        key = f"{handler.state.__name__}.{handler.fn.__name__}"
        result = handler.fn(self.state(handler.state), *args)
        if inspect.isasyncgen(result):
            result = await _drain(result)
        elif inspect.isawaitable(result):
            result = await result
        self.events.append([key, plain(result)])
        return result

    async def visit(self, url: str) -> Tab:
        """Open ``url`` in this tab: its on_load handlers, in order."""
        self.at(url)
        for handler in on_load(url):
            await self.fire(handler)
        return self

    def outcome(self) -> dict[str, Any]:
        """What this tab was sent, and what it holds: every var of every app state."""
        held = {}
        for cls in chat_states():
            state = self.state(cls)
            held[cls.__name__] = {
                name: "<nonce>"
                if f"{cls.__name__}.{name}" in NONCE_VARS and getattr(state, name)
                else plain(getattr(state, name))
                for name, f in cls.__fields__.items()
                if f._owner is cls
            }
        return {"events": self.events, "state": held}


# ---- the world ---------------------------------------------------------------------------------

LIVE_TEXT = "Qzx-alice-live-"


@dataclasses.dataclass
class World:
    a: Account
    b: Account
    client: httpx.AsyncClient
    target_a: Target
    secrets: list[str]  # A's texts: none may reach B
    a_ids: set[str]  # A's ids: none may reach B unless B supplied it
    live_conversation: str
    live_reply: str

    # ---- B's side

    async def b_tab(self, url: str = "/") -> Tab:
        """A new tab of B's (its own login), on ``url``; what loading it sent is not recorded."""
        tab = await Tab(await self.b.fresh_session()).visit(url)
        tab.events.clear()
        return tab

    async def b_api(self, method: str, path: str, **request: Any) -> list[dict[str, Any]]:
        """The request with each of B's credentials: session bearer, API token, session cookie.

        (The cookie is accepted for reads only: writes answer 401 either way.)
        """
        credentials = {
            "session": {"Authorization": f"Bearer {await self.b.fresh_session()}"},
            "api token": {"Authorization": f"Bearer {self.b.api_token}"},
            "cookie": {"Cookie": f"{SESSION_COOKIE}={await self.b.fresh_session()}"},
        }
        extra = request.pop("headers", {})
        results = []
        for name, headers in credentials.items():
            headers = {**headers, **extra}
            results.append({"as": name, **await self.request(method, path, headers, **request)})
        return results

    async def anonymous_api(self, method: str, path: str, **request: Any) -> dict[str, Any]:
        return await self.request(method, path, {}, **request)

    async def request(
        self, method: str, path: str, headers: dict[str, str], **request: Any
    ) -> dict[str, Any]:
        # A stream B should not get would otherwise run until A's reply ends.
        response = await asyncio.wait_for(
            self.client.request(method, path, headers=headers, **request), timeout=5
        )
        return {
            "status": response.status_code,
            "type": response.headers.get("content-type", ""),
            "disposition": response.headers.get("content-disposition", ""),
            "body": response.text,
        }

    # ---- targets

    def target_unknown(self) -> Target:
        """Ids of the right shape that exist nowhere (the cursor: A's position, an unknown id)."""
        position = chat_service._decode_cursor(self.target_a.cursor)
        return Target(
            *(str(uuid.uuid4()) for _ in range(6)),
            email=f"nobody-{uuid.uuid4().hex[:8]}@example.com",
            search=f"Nothing{uuid.uuid4().hex[:8]}",
            search_text=f"Nowhere{uuid.uuid4().hex[:8]}",
            cursor=chat_service._encode_cursor(position.updated_at, uuid.uuid4()),
        )

    def target_own(self) -> Target:
        """Unknown ids, but B's own (existing) email: for sign-up, which must refuse it."""
        return dataclasses.replace(self.target_unknown(), email=self.b.email)

    # ---- judging

    def render(self, outcome: Any, target: Target) -> str:
        """The outcome as text: supplied ids -> placeholders, other non-A ids and times masked."""
        text = target.substitute(json.dumps(plain(outcome), sort_keys=True, ensure_ascii=False))
        text = UUID.sub(lambda m: m[0] if m[0].lower() in self.a_ids else "<uuid>", text)
        return TIMESTAMP.sub("<time>", text)

    def leaks(self, rendered: str, target: Target) -> list[str]:
        lowered = rendered.lower()
        found = [
            f"A's text {secret!r}"
            for secret in self.secrets
            if target.substitute(secret).lower() in lowered
        ]
        found += [f"A's id {a_id}" for a_id in sorted(self.a_ids) if a_id in lowered]
        return found

    async def snapshot_a(self) -> dict[str, Any]:
        """Everything of A's, read as A (the live reply's text and status change on their own)."""
        a = self.a.user_id
        conversations = []
        for conversation in (await chat_service.list_conversations(a, limit=100)).items:
            live = str(conversation.id) == self.live_conversation
            entry = conversation.model_dump(mode="json", exclude={"updated_at"} if live else set())
            entry["messages"] = [
                m.model_dump(mode="json", include={"id", "role"})
                if str(m.id) == self.live_reply
                else m.model_dump(mode="json")
                for m in await chat_service.list_messages(a, conversation.id)
            ]
            conversations.append(entry)
        session = await auth.resolve_session(self.a.session)
        by_token = await api_tokens.authenticate(self.a.api_token)
        return {
            "conversations": conversations,
            "tokens": [
                t.model_dump(mode="json", exclude={"last_used_at"})
                for t in await api_tokens.list_tokens(a)
            ],
            "session": session.model_dump(mode="json") if session else None,
            "api token works": by_token is not None and by_token.id == a,
            "password works": await _can_log_in(self.a),
        }

    def reply_is_live(self) -> bool:
        reply = replies.live_reply(self.a.user_id, self.live_conversation)
        return reply is not None and not reply.finished

    async def live_reply_problem(self) -> str | None:
        """None while A's reply is still being written, or if it ended normally."""
        reply = replies.get_replies().bus.peek(uuid.UUID(self.live_conversation))
        if reply is not None and str(reply.message_id) == self.live_reply:
            if not reply.finished or reply.status == "complete":
                return None
            return f"A's live reply ended as {reply.status!r}"
        try:
            stored = await chat_service.get_message(self.a.user_id, self.live_reply)
        except NotFound:
            return "A's live reply is gone"
        return None if stored.status == "complete" else f"A's live reply is {stored.status!r}"


async def _can_log_in(account: Account) -> bool:
    try:
        await auth.login(account.email, PASSWORD)
    except Exception:
        return False
    return True


async def build_world(fake: FakeOpenAI, client: httpx.AsyncClient) -> World:
    tag = uuid.uuid4().hex[:8]
    # Bob first: on an empty database the first account is the admin, and not even the admin
    # may reach another user's things (the app gives admins no such power).
    b = await new_account(f"Bob{tag}")
    a = await new_account(f"Alice{tag}")
    # B's own things: his views are not trivially empty, and his token was already used once
    # (its "last used" then stays put within the minute: both runs of a case see the same).
    await chat_service.create_conversation(b.user_id, title=f"Bob notes {tag}")
    await api_tokens.authenticate(b.api_token)

    # Alice's finished conversation, through the import service (no model round trip).
    word, hidden = f"Zebraplan{tag}", f"Quagga{tag}"
    stamp = (utcnow() - timedelta(minutes=1)).isoformat()
    document = {
        "format": "chat-app-export",
        "version": 1,
        "conversations": [
            {
                "title": f"Alice {word}",
                "system_prompt": f"Alice prompt {tag}",
                "created_at": stamp,
                "updated_at": stamp,
                "messages": [
                    {"role": "user", "content": f"Alice asks {tag}", "created_at": stamp},
                    {"role": "assistant", "content": f"Alice reply {hidden}", "created_at": stamp},
                ],
            }
        ],
    }
    imported = await transfer.import_json(a.user_id, json.dumps(document))
    done = await chat_service.get_conversation(a.user_id, imported.imported[0].conversation_id)
    question, answer = await chat_service.list_messages(a.user_id, done.id)
    for words in (word, hidden):  # the search cases are only worth something if she finds it
        found = await chat_service.list_conversations(a.user_id, search=words)
        assert [c.id for c in found.items] == [done.id], words

    # Alice's reply being written: ~37 s (under the app's 4096-token cap, which would stop it).
    fake.configure(reply_text=LIVE_TEXT * 1000, tokens_per_second=100)
    live = await chat_service.create_conversation(a.user_id, title=f"Alice live {tag}")
    second = await generation.send_message(a.user_id, live.id, f"Alice asks live {tag}")

    def has_text() -> bool:
        reply = replies.live_reply(a.user_id, live.id)
        return reply is not None and reply.length >= len(LIVE_TEXT)

    await wait_until(has_text, interval=0.005)

    cursor = (await chat_service.list_conversations(a.user_id, limit=1)).next_cursor
    assert cursor is not None
    assert second.user_message is not None
    tokens = await api_tokens.list_tokens(a.user_id)
    target = Target(
        conversation=str(done.id),
        live_conversation=str(live.id),
        user_message=str(question.id),
        reply=str(answer.id),
        live_reply=str(second.assistant_message.id),
        token=a.api_token_id,
        email=a.email,
        search=word,
        search_text=hidden,
        cursor=cursor,
    )
    a_ids = {
        str(a.user_id),
        str(done.id),
        str(live.id),
        str(question.id),
        str(answer.id),
        str(second.user_message.id),
        str(second.assistant_message.id),
        a.api_token_id,
    }
    secrets = [
        done.title,
        live.title,
        done.system_prompt,
        f"Alice asks {tag}",
        f"Alice reply {hidden}",
        f"Alice asks live {tag}",
        LIVE_TEXT,
        a.email,
        a.name,
        f"{a.name} token",
        tokens[0].prefix,
        a.api_token,
        a.session,
    ]
    return World(
        a=a,
        b=b,
        client=client,
        target_a=target,
        secrets=secrets,
        a_ids={i.lower() for i in a_ids},
        live_conversation=str(live.id),
        live_reply=str(second.assistant_message.id),
    )
