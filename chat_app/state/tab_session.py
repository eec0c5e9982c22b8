"""A tab's server state belongs to the login session that filled it, and to no one else.

Reflex keys a tab's state by a token the page keeps in ``sessionStorage`` and presents when its
websocket connects; that token also shows up in proxy access logs (``/_event?token=``). Nothing
in Reflex ties it to who is logged in, so a socket presenting an old tab's token would be sent
that tab's open conversation in its first update, and the next person to log in in the same tab
would inherit the previous user's state.

So every event, before any handler runs and before the first update is computed, compares the
session cookie of the socket's handshake with the one the tab's state was filled under. When they
differ (another user, a new login, a logout, no cookie at all), every state of the app is reset
first. The handlers for logout and for a session found dead reset the tab too, at once.

A tab that sends no event would still show what it last loaded after its user was disabled or
logged out everywhere, and a reply being written for a disabled user would run on. So the same
object keeps, per connected tab, the session it was last used with, and a watchdog task checks
them every few seconds: replies of disabled users are stopped, and tabs whose session ended are
emptied and their sockets closed (the page reconnects and lands on the login page).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import TYPE_CHECKING

import reflex as rx
from reflex.middleware import Middleware
from reflex.state import BaseState, StateUpdate
from reflex_base.event import Event

from chat_app.core import metrics
from chat_app.core.session_cookie import read_session_cookie
from chat_app.services import auth as auth_service
from chat_app.services import replies
from chat_app.state.browser import SESSION_EXPIRED_PATH, full_page_load

if TYPE_CHECKING:
    from reflex.app import App

log = logging.getLogger(__name__)

# How soon a disabled user's reply stops and a logged-out-everywhere tab closes.
SESSION_CHECK_SECONDS = 5.0
TAB_LEAVE_GRACE_SECONDS = 1.0


def session_fingerprint(token: str | None) -> str:
    """A stand-in for the session token presented (never the token itself); "" for none."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest() if token else ""


def app_state_classes() -> list[type[BaseState]]:
    """Every state class this app defines, parents before children."""
    found: list[type[BaseState]] = []

    def walk(cls: type[BaseState]) -> None:
        for sub in sorted(cls.get_substates(), key=lambda c: c.get_full_name()):
            if sub.__module__.startswith("chat_app."):
                found.append(sub)
            walk(sub)

    walk(rx.State)
    return found


async def clear_tab(state: BaseState) -> None:
    """Reset every state of the app in this tab (Reflex's own internal states are left alone).

    Each state is loaded first: with the Redis state manager a state not touched by the current
    event is not in memory, and resetting only the loaded ones would leave the others' data.
    """
    root = state._get_root_state()
    for cls in app_state_classes():
        await root.get_state(cls)
    for cls in app_state_classes():
        if cls.get_parent_state() is rx.State:
            (await root.get_state(cls)).reset()  # resets its substates too


def open_sockets(app: App) -> int:
    """This process's open websockets: one per tab. (Reflex's token manager is no count: with
    Redis it also caches other processes' tabs. engine.io keeps a closed socket in its table
    until its next sweep, hence the check.)"""
    if app.sio is None:
        return 0
    return sum(not socket.closed for socket in list(app.sio.eio.sockets.values()))


class TabSessionBinding(Middleware):
    """Before every event, empties a tab whose session changed; watches the signed-in tabs."""

    def __init__(self) -> None:
        # Client token of each signed-in tab of this process -> the session token it used last.
        self._signed_in: dict[str, str] = {}

    async def preprocess(self, app: App, state: BaseState, event: Event) -> StateUpdate | None:
        from chat_app.state.auth import AuthState  # the state module imports this one

        root = state._get_root_state()
        token = read_session_cookie(root.router.headers.cookie)
        presented = session_fingerprint(token)
        auth = await root.get_state(AuthState)
        if auth._session_fingerprint != presented:
            if auth._session_fingerprint or auth._user_id:
                await clear_tab(root)
            auth._session_fingerprint = presented
        client_token = root.router.session.client_token
        if token and auth._user_id:
            self._signed_in[client_token] = token
        else:
            self._signed_in.pop(client_token, None)
        return None  # the event then runs as usual, on the (possibly emptied) state

    # ---- the watchdog (a lifespan task of the app) ---------------------------------------

    async def watch(self, app: App) -> None:
        while True:
            await asyncio.sleep(SESSION_CHECK_SECONDS)
            try:
                await self.check_once(app)
            except Exception:  # a database hiccup must not end the watchdog
                log.exception("session check failed")

    async def check_once(self, app: App) -> list[str]:
        """Stop disabled users' replies; end the tabs whose session ended. Their client tokens."""
        metrics.set_connected_tabs(open_sockets(app))
        await replies.stop_replies_of_inactive_users()
        namespace = app.event_namespace
        connected = namespace.token_to_sid if namespace is not None else {}
        for client_token in [t for t in self._signed_in if t not in connected]:
            del self._signed_in[client_token]  # the tab closed
        if not self._signed_in:
            return []
        ended = sorted(await auth_service.ended_sessions(dict(self._signed_in)))
        for client_token in ended:
            await self._end_tab(app, client_token)
        if ended:
            # Time for the pages to leave by themselves; a client that stays is cut off.
            await asyncio.sleep(TAB_LEAVE_GRACE_SECONDS)
            for client_token in ended:
                sid = connected.get(client_token)
                if sid is not None and namespace is not None:
                    await namespace.disconnect(sid)
        return ended

    async def _end_tab(self, app: App, client_token: str) -> None:
        """Empty the tab's state and send the page to the login page (via the cookie reset)."""
        self._signed_in.pop(client_token, None)
        async with app.modify_state(rx.BaseStateToken(ident=client_token, cls=rx.State)) as root:
            await clear_tab(root)
        if app.event_namespace is not None:
            leave = Event.from_event_type(full_page_load(SESSION_EXPIRED_PATH))
            await app.event_namespace.emit_update(StateUpdate(events=leave), client_token)
