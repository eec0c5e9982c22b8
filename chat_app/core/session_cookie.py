"""Name and parsing of the session cookie, shared by the HTTP routes and the Reflex states."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

SESSION_COOKIE = "chat_session"


def read_session_cookie(cookie_header: str | None) -> str | None:
    """The token from a raw ``Cookie`` header (the websocket handshake's, or a request's)."""
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None else None
