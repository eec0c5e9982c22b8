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
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import reflex as rx
from reflex.middleware import Middleware
from reflex.state import BaseState, StateUpdate
from reflex_base.event import Event

from chat_app.core.session_cookie import read_session_cookie

if TYPE_CHECKING:
    from reflex.app import App


def session_fingerprint(cookie_header: str | None) -> str:
    """A stand-in for the session token presented (never the token itself); "" for none."""
    token = read_session_cookie(cookie_header)
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


class TabSessionBinding(Middleware):
    """Runs before every event: a tab's state is emptied when its session is not the same."""

    async def preprocess(self, app: App, state: BaseState, event: Event) -> StateUpdate | None:
        from chat_app.state.auth import AuthState  # the state module imports this one

        root = state._get_root_state()
        presented = session_fingerprint(root.router.headers.cookie)
        auth = await root.get_state(AuthState)
        if auth._session_fingerprint != presented:
            if auth._session_fingerprint or auth._user_id:
                await clear_tab(root)
            auth._session_fingerprint = presented
        return None  # the event then runs as usual, on the (possibly emptied) state
