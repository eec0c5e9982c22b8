"""A simulated browser tab: speaks the app's Socket.IO protocol on ``/_event`` like the compiled
frontend (``.web/utils/state.js`` of Reflex 0.10.1), over ``bench.websocket``.

What the frontend does, and this client mirrors (recorded with Chromium, see docs/benchmarks.md):

1. ``GET /_event/?token=<tab uuid>&EIO=4&transport=websocket`` upgraded to a websocket with
   ``Sec-WebSocket-Protocol: <reflex version>``, ``Sec-WebSocket-Extensions: permessage-deflate;
   client_max_window_bits`` and the page's cookies (the HttpOnly ``chat_session`` cookie is how
   the app knows the user). The tab token is per tab (sessionStorage) and survives reloads.
2. Engine.IO open packet ``0{"sid":…,"pingInterval":…}`` from the server.
3. Socket.IO CONNECT to namespace ``/_event`` whose auth payload carries the hydrate event:
   ``40/_event,{"event":{"name":"<root>.hydrate_and_load","payload":{"hashes":[…]},
   "router_data":{"pathname":…,"asPath":…}},"state_schema":"…"}``. The server answers
   ``40/_event,{"sid":…}`` and then state deltas; the page's on_load handlers run server-side.
4. Each event: ``42/_event,["event",{"name","payload","router_data"}]``; each update from the
   server: ``42/_event,["event",{"delta":{substate:{var_rx_state_:value}},"events":[…]}]``.
   Frontend-only events (``_redirect``, ``_call_script``…) arrive in ``events``; backend events a
   handler returns are queued server-side (never round-trip through the browser).
5. A client-side navigation (a sidebar link) sends ``on_load_internal`` with the new route's
   router data (route params in ``query``). Engine.IO pings ``2`` are answered ``3``.

Every name the client depends on is in the tables right below: when a state or handler is
renamed, this is the one place to change (``check_names`` verifies them against the app).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.websocket import ConnectionClosed, Counters, WebSocket

# ---- the names this client depends on ---------------------------------------------------------

ROOT = "reflex___state____state"
STATES = {
    "auth": f"{ROOT}.chat_app___state___auth____auth_state",
    "conversation": f"{ROOT}.chat_app___state___conversation____conversation_state",
    "stream": f"{ROOT}.chat_app___state___stream____stream_state",
    "composer": f"{ROOT}.chat_app___state___composer____composer_state",
    "sidebar": f"{ROOT}.chat_app___state___sidebar____sidebar_state",
}
# (state key, handler) -> the full event name the browser sends.
EVENTS = {
    "hydrate": f"{ROOT}.hydrate_and_load",
    "on_load": f"{ROOT}.reflex___state____on_load_internal_state.on_load_internal",
    "send": f"{STATES['composer']}.send",  # payload: {"form": <form data: message>}
    "stop": f"{STATES['stream']}.stop",
    "show_earlier": f"{STATES['conversation']}.show_earlier",
    "search": f"{STATES['sidebar']}.search_changed",  # payload: {"value": str}
    "load_more": f"{STATES['sidebar']}.load_more",
    "close_drawer": f"{STATES['sidebar']}.close_drawer",  # a sidebar link's on_click
    # live_markdown's on_gap: the browser missed a chunk; payload {"reply_id": str}.
    "resync": f"{STATES['stream']}.resync_live",
    # The visit store's on_gap: a message of this visit was missed; payload {"visit_key": str}.
    "resync_visit": f"{STATES['conversation']}.resync_visit",
}
# Vars read from the deltas: (state key, var name as declared in Python).
VARS = {
    "hydrated": (None, "is_hydrated"),
    "authenticated": ("auth", "authenticated"),
    "cid": ("conversation", "cid"),
    "loading": ("conversation", "loading"),
    "history": ("conversation", "history"),
    "visit_key": ("conversation", "visit_key"),
    "recent_count": ("conversation", "recent_count"),
    "not_found": ("conversation", "not_found"),
    "has_text": ("stream", "has_text"),
    "reply_id": ("stream", "reply_id"),
    "active": ("stream", "active"),
    "stream_cid": ("stream", "stream_cid"),
    "composer_error": ("composer", "error"),
    "items": ("sidebar", "items"),
    "sidebar_loading": ("sidebar", "loading"),
}
# The composer form as Chromium submits it: the textarea by name, and again by its ref.
COMPOSER_FIELDS = ("message", "composer_input")
SEARCH_EVENT_ACTIONS = {"debounce": 300}  # sent along by the frontend, as recorded
CONVERSATION_ROUTE = "/c/{cid}"
ROUTE_PARAM = "conversation_id"
VAR_SUFFIX = "_rx_state_"  # how Reflex names vars on the wire
FORM_DATA_KEY = "__reflex_form_data__"  # how the frontend encodes a submitted form
# The streaming text itself is not a state var: the server sends frontend events
# ``_call_script`` whose code calls the browser store of components/live_markdown.py (the
# scripts are built by chat_app/state/live_events.py),
# e.g. ``window.__chatLive?.append("<reply id>",<offset>,"<new text>")`` (also ``reset`` with
# the whole text, ``clear``). The arguments are JSON literals; offsets count code points.
LIVE_CALL = re.compile(r"^window\.__chatLive\?\.(append|reset|clear)\((.*)\)$", re.S)
RESYNC_ARG = "reply_id"
# The messages written during a visit are appended to another browser store
# (components/visit_store.py, scripts from chat_app/state/visit_events.py):
# ``window.__chatVisit?.add("<visit key>",<index>,"<message as JSON>")``, also ``truncate``
# (key, count) and ``reset`` (key, JSON list). One visit at a time; a gap asks for a reset.
VISIT_CALL = re.compile(r"^window\.__chatVisit\?\.(add|truncate|reset)\((.*)\)$", re.S)
VISIT_RESYNC_ARG = "visit_key"
SOCKET_PATH = "/_event"
NAMESPACE = "/_event"

CHROMIUM_HEADERS = [
    ("Pragma", "no-cache"),
    ("Cache-Control", "no-cache"),
    (
        "User-Agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/156.0.0.0 Safari/537.36 chat-bench",
    ),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Accept-Language", "en-US,en;q=0.9"),
]
BACKEND_ERROR_MARK = "backend_error"  # the toast id Reflex's default exception handler uses
MAX_UPDATES_KEPT = 20_000  # per tab; older ones are dropped (counters keep counting)


def state_key(name: str | None) -> str:
    return ROOT if name is None else STATES[name]


def wire_var(var: str) -> str:
    return var + VAR_SUFFIX


def form_payload(fields: dict[str, str]) -> dict[str, Any]:
    return {FORM_DATA_KEY: [[k, v] for k, v in fields.items()]}


def conversation_path(cid: str) -> str:
    return CONVERSATION_ROUTE.format(cid=cid)


def check_names() -> list[str]:
    """Problems with the tables above, checked against the app's state classes (import)."""
    problems: list[str] = []
    try:
        from chat_app.state.auth import AuthState
        from chat_app.state.composer import ComposerState
        from chat_app.state.conversation import ConversationState
        from chat_app.state.sidebar import SidebarState
        from chat_app.state.stream import StreamState
    except Exception as exc:  # a state module missing or broken: say so, do not crash
        return [f"cannot import the chat states: {exc!r}"]
    classes: dict[str, Any] = {
        "auth": AuthState,
        "conversation": ConversationState,
        "stream": StreamState,
        "composer": ComposerState,
        "sidebar": SidebarState,
    }
    for key, cls in classes.items():
        if cls.get_full_name() != STATES[key]:
            problems.append(f"state {key}: app says {cls.get_full_name()}, client {STATES[key]}")
    for event, full in EVENTS.items():
        if event in ("hydrate", "on_load"):
            continue
        state_name, _, handler = full.rpartition(".")
        owner = next((k for k, v in STATES.items() if v == state_name), None)
        if owner is None or handler not in classes[owner].event_handlers:
            problems.append(f"event {event}: {full} is not a handler of the app")
    for var, (state, name) in VARS.items():
        if state is not None and name not in getattr(classes[state], "vars", {}):
            problems.append(f"var {var}: {state}.{name} is not a var of the app")
    return problems


# ---- the compiled frontend's constants ----------------------------------------------------------


@dataclass(frozen=True)
class FrontendBuild:
    """What the compiled frontend sends in its CONNECT packet besides the event."""

    hashes: list[str] | None
    state_schema: str | None
    reflex_version: str

    @classmethod
    def read(cls, web_dir: Path) -> FrontendBuild:
        context = (web_dir / "utils" / "context.jsx").read_text()
        hashes = re.search(r"initialStateHashes = (\[[^\]]*\])", context)
        schema = re.search(r'stateSchema = "([^"]+)"', context)
        version = json.loads((web_dir / "reflex.json").read_text())["version"]
        return cls(
            json.loads(hashes.group(1)) if hashes else None,
            schema.group(1) if schema else None,
            version,
        )


# ---- the tab ------------------------------------------------------------------------------------


@dataclass
class Update:
    """One state update as received: when, its size on the wire, and what it changed."""

    t: float  # time.perf_counter() when the frame was read
    wire_bytes: int
    payload_bytes: int
    delta: dict[str, dict[str, Any]]
    events: list[dict[str, Any]]
    # Changes to the browser-side live text store: (op, reply id, text length after it).
    live: list[tuple[str, str, int]] = field(default_factory=list)
    # Messages this update added to the visit store (window.__chatVisit).
    visit_added: list[dict[str, Any]] = field(default_factory=list)

    def get(self, var: str) -> tuple[bool, Any]:
        key, name = VARS[var]
        values = self.delta.get(state_key(key))
        if values is None or wire_var(name) not in values:
            return False, None
        return True, values[wire_var(name)]


class TabError(Exception):
    pass


@dataclass
class ReflexTab:
    """One browser tab of one user; open it with ``await tab.open(path)``."""

    base_url: str
    build: FrontendBuild
    cookie: str | None = None
    token: str = field(default_factory=lambda: str(uuid.uuid4()))
    compression: bool = True
    keep_updates: bool = True

    ws: WebSocket | None = None
    sid: str | None = None
    path: str = "/"
    params: dict[str, str] = field(default_factory=dict)
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    updates: list[Update] = field(default_factory=list)
    frontend_events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    live: dict[str, str] = field(default_factory=dict)  # window.__chatLive, emulated
    live_stale: set[str] = field(default_factory=set)
    live_gaps: int = 0
    visit_key: str = ""  # window.__chatVisit, emulated: one visit at a time
    visit: list[dict[str, Any]] = field(default_factory=list)
    visit_stale: bool = False
    visit_gaps: int = 0
    errors: list[str] = field(default_factory=list)
    replaced_tokens: list[str] = field(default_factory=list)  # given up for a "new_token"
    counters_at_close: Counters | None = None
    _reader: asyncio.Task | None = None
    _waiters: list[tuple[Callable[[ReflexTab], bool], asyncio.Future]] = field(default_factory=list)
    _connected: asyncio.Future | None = None
    on_update: Callable[[Update], None] | None = None

    # ---- reading state -------------------------------------------------------------------

    def var(self, var: str, default: Any = None) -> Any:
        key, name = VARS[var]
        return self.state.get(state_key(key), {}).get(wire_var(name), default)

    @property
    def counters(self) -> Counters:
        if self.ws is not None:
            return self.ws.counters
        return self.counters_at_close or Counters()

    # ---- connecting (a page load) ---------------------------------------------------------

    async def open(self, path: str, params: dict[str, str] | None = None, timeout: float = 60):
        """Load a page: connect, hydrate, and wait until its on_load handlers have run."""
        await self.close()
        self.path, self.params = path, dict(params or {})
        self.state = {}
        host = self.base_url.split("://", 1)[1]
        url = f"ws://{host}{SOCKET_PATH}/?token={self.token}&EIO=4&transport=websocket"
        headers = [("Origin", self.base_url), *CHROMIUM_HEADERS]
        if self.cookie:
            headers.append(("Cookie", self.cookie))
        self.ws = await WebSocket.connect(
            url, headers, subprotocols=[self.build.reflex_version], compression=self.compression
        )
        opening = await asyncio.wait_for(self.ws.recv(), timeout)
        text = opening.data.decode()
        if not text.startswith("0"):
            raise TabError(f"expected an Engine.IO open packet, got {text[:80]!r}")
        payload: dict[str, Any] = {}
        if self.build.hashes is not None:
            payload["hashes"] = self.build.hashes
        auth: dict[str, Any] = {"event": self._event(EVENTS["hydrate"], payload)}
        if self.build.state_schema is not None:
            auth["state_schema"] = self.build.state_schema
        loop = asyncio.get_running_loop()
        self._connected = loop.create_future()
        self._reader = asyncio.create_task(self._read_loop(), name=f"tab-{self.token[:8]}")
        t_connect = time.perf_counter()
        await self.ws.send_text(f"40{NAMESPACE}," + _dumps(auth))
        await asyncio.wait_for(asyncio.shield(self._connected), timeout)
        await self.wait_for(lambda tab: tab.var("hydrated") is True, timeout)
        return t_connect

    async def navigate(self, path: str, params: dict[str, str] | None = None) -> float:
        """A client-side navigation (a link click): the new route's on_load handlers run."""
        self.path, self.params = path, dict(params or {})
        self.state.setdefault(ROOT, {})[wire_var("is_hydrated")] = False
        return await self.emit(EVENTS["on_load"])

    async def open_conversation(self, cid: str) -> float:
        """A click on the conversation's sidebar link: close_drawer, then the navigation."""
        await self.emit(EVENTS["close_drawer"])
        return await self.navigate(conversation_path(cid), {ROUTE_PARAM: cid})

    async def send_message(self, text: str) -> float:
        fields = dict.fromkeys(COMPOSER_FIELDS, text)
        return await self.emit(EVENTS["send"], {"form": form_payload(fields)})

    async def search(self, text: str) -> float:
        return await self.emit(EVENTS["search"], {"value": text}, SEARCH_EVENT_ACTIONS)

    # ---- events ---------------------------------------------------------------------------

    def _event(
        self,
        name: str,
        payload: dict[str, Any] | None = None,
        actions: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {"name": name}
        if payload:
            event["payload"] = payload
        if actions:
            event["event_actions"] = actions
        router: dict[str, Any] = {"pathname": self.path, "asPath": self.path}
        if self.params:
            router["query"] = dict(self.params)
        event["router_data"] = router
        return event

    async def emit(
        self,
        name: str,
        payload: dict[str, Any] | None = None,
        actions: dict[str, Any] | None = None,
    ) -> float:
        """Send one event; returns the time it was handed to the socket."""
        if self.ws is None or self.ws.closed:
            raise TabError("tab is not connected")
        frame = f"42{NAMESPACE}," + _dumps(["event", self._event(name, payload, actions)])
        t = time.perf_counter()
        await self.ws.send_text(frame)
        return t

    async def wait_for(self, predicate: Callable[[ReflexTab], bool], timeout: float) -> None:
        if predicate(self):
            return
        future = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, timeout)
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    # ---- the socket -----------------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self.ws is not None
        ws = self.ws
        try:
            while True:
                message = await ws.recv()
                t = time.perf_counter()
                text = message.data.decode()
                kind = text[:1]
                if kind == "2":  # Engine.IO ping
                    await ws.send_text("3")
                elif kind == "4":
                    self._on_socketio(text[1:], t, message.wire_bytes, len(message.data))
                elif kind == "1":
                    break
        except ConnectionClosed:
            pass
        except Exception as exc:  # report, never kill the benchmark's loop
            self.errors.append(f"reader: {exc!r}")
        finally:
            self._fail_waiters(TabError("connection closed"))

    def _on_socketio(self, packet: str, t: float, wire: int, size: int) -> None:
        kind, body = packet[:1], packet[1:]
        if body.startswith(NAMESPACE):
            body = body[len(NAMESPACE) :].removeprefix(",")
        if kind == "0":
            self.sid = json.loads(body).get("sid") if body else None
            if self._connected is not None and not self._connected.done():
                self._connected.set_result(True)
        elif kind == "4":
            self.errors.append(f"connect refused: {body[:200]}")
            if self._connected is not None and not self._connected.done():
                self._connected.set_exception(TabError(f"connect refused: {body[:200]}"))
        elif kind == "2":
            name, *args = json.loads(body)
            if name == "event" and args:
                self._on_update(args[0], t, wire, size)
            elif name == "new_token" and args:
                # The server found this token held by another socket (e.g. of a process that
                # died) and gave the tab a new one; the browser keeps it (state.js, new_token).
                self.replaced_tokens.append(self.token)
                self.token = str(args[0])
        elif kind == "1":
            self.errors.append("server disconnected the namespace")

    def _on_update(self, data: dict[str, Any], t: float, wire: int, size: int) -> None:
        delta = data.get("delta") or {}
        for substate, values in delta.items():
            self.state.setdefault(substate, {}).update(values)
        events = data.get("events") or []
        update = Update(t, wire, size, delta, events)
        for event in events:
            if self.keep_updates:
                self.frontend_events.append((t, event))
            self._frontend_event(event, update)
        if self.keep_updates:
            self.updates.append(update)
            if len(self.updates) > MAX_UPDATES_KEPT:
                del self.updates[: len(self.updates) - MAX_UPDATES_KEPT]
            if len(self.frontend_events) > MAX_UPDATES_KEPT:
                del self.frontend_events[: len(self.frontend_events) - MAX_UPDATES_KEPT]
        if self.on_update is not None:
            self.on_update(update)
        self._check_waiters()

    def _frontend_event(self, event: dict[str, Any], update: Update) -> None:
        """What the browser does with frontend events the benchmark cares about."""
        name = event.get("name")
        payload = event.get("payload") or {}
        if name == "_call_script":
            match = LIVE_CALL.match(str(payload.get("javascript_code", "")))
            if match is not None:
                self._live(match.group(1), json.loads(f"[{match.group(2)}]"), update)
                return
            match = VISIT_CALL.match(str(payload.get("javascript_code", "")))
            if match is not None:
                self._visit(match.group(1), json.loads(f"[{match.group(2)}]"), update)
                return
        if name == "_redirect":
            path = str(payload.get("path") or "/")
            if path.startswith("/") and not payload.get("external"):
                params = {}
                if path.startswith(CONVERSATION_ROUTE.split("{", 1)[0]):
                    params[ROUTE_PARAM] = path.rstrip("/").rsplit("/", 1)[-1]
                # A client-side navigation: on_load of the new route.
                asyncio.get_running_loop().create_task(self.navigate(path, params))
        elif name == "_call_script":
            code = str(payload.get("javascript_code", ""))
            if "location.replace" in code or "f.submit()" in code:
                self.errors.append(f"the app sent the tab away: {code[:120]}")
        if name in ("_call_function", "_call_script") and BACKEND_ERROR_MARK in json.dumps(payload):
            # Reflex's default backend exception handler: an error toast (id backend_error).
            self.errors.append("backend exception (error toast)")

    def _live(self, op: str, args: list[Any], update: Update) -> None:
        """window.__chatLive (components/live_markdown.py STORE_JS), in Python."""
        reply_id = str(args[0])
        if op == "clear":
            self.live.pop(reply_id, None)
            self.live_stale.discard(reply_id)
            update.live.append((op, reply_id, 0))
            return
        if op == "reset":
            self.live[reply_id] = str(args[1])
            self.live_stale.discard(reply_id)
            update.live.append((op, reply_id, len(self.live[reply_id])))
            return
        offset, text = args[1], str(args[2])
        current = self.live.get(reply_id, "")
        if offset < len(current):
            return  # a duplicate: ignored
        if offset > len(current):
            # A gap: the browser drops the chunk, marks the entry stale and asks for a reset.
            self.live_gaps += 1
            if reply_id not in self.live_stale:
                self.live_stale.add(reply_id)
                asyncio.get_running_loop().create_task(
                    self.emit(EVENTS["resync"], {RESYNC_ARG: reply_id})
                )
            return
        if text:
            self.live[reply_id] = current + text
            update.live.append((op, reply_id, len(self.live[reply_id])))

    def _visit(self, op: str, args: list[Any], update: Update) -> None:
        """window.__chatVisit (components/visit_store.py STORE_JS), in Python."""
        key = str(args[0])
        if key != self.visit_key:
            self.visit_key, self.visit, self.visit_stale = key, [], False
        if op == "truncate":
            del self.visit[int(args[1]) :]
            return
        if op == "reset":
            self.visit = [m for m in json.loads(args[1]) if isinstance(m, dict)]
            self.visit_stale = False
            update.visit_added.extend(self.visit)
            return
        index, message = int(args[1]), json.loads(args[2])
        if index < len(self.visit):
            return  # a duplicate: ignored
        if index > len(self.visit):
            self.visit_gaps += 1
            if not self.visit_stale:
                self.visit_stale = True
                asyncio.get_running_loop().create_task(
                    self.emit(EVENTS["resync_visit"], {VISIT_RESYNC_ARG: key})
                )
            return
        self.visit.append(message)
        update.visit_added.append(message)

    def visit_messages(self) -> list[dict[str, Any]]:
        """This visit's messages as the browser shows them (the current visit key's)."""
        return self.visit if self.visit_key == self.var("visit_key") else []

    def _check_waiters(self) -> None:
        for predicate, future in list(self._waiters):
            if future.done():
                continue
            try:
                if predicate(self):
                    future.set_result(True)
            except Exception as exc:
                future.set_exception(exc)

    def _fail_waiters(self, exc: Exception) -> None:
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(exc)
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(exc)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
            self._reader = None
        if self.ws is not None:
            self.counters_at_close = self.ws.counters.snapshot()
            await self.ws.close()
            self.ws = None


def _dumps(value: Any) -> str:
    # JSON.stringify's compact form, as the browser sends it.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
