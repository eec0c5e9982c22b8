"""Small browser actions the websocket cannot do itself (it cannot set or clear cookies)."""

from __future__ import annotations

import json

import reflex as rx
from reflex_base.event import EventSpec

# Where a tab whose session stopped working goes: the route drops the dead HttpOnly cookie
# (page script cannot), then shows the login page with "Your session has ended".
SESSION_EXPIRED_PATH = "/api/v1/auth/expired"


def post_form(action: str, fields: dict[str, str]) -> EventSpec:
    """Navigate with a top-level POST, e.g. to trade a login ticket for the HttpOnly cookie.

    A POST keeps the ticket out of the URL, history and server logs. Values are JSON-encoded
    into the script, so no value can break out of its string.
    """
    script = (
        "(() => {const f = document.createElement('form'); f.method = 'POST';"
        f" f.action = {json.dumps(action)}; f.style.display = 'none';"
        f" for (const [k, v] of Object.entries({json.dumps(fields)})) {{"
        " const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v;"
        " f.appendChild(i); }"
        " document.body.appendChild(f); f.submit(); })()"
    )
    return rx.call_script(script)


def full_page_load(path: str) -> EventSpec:
    """Leave the single-page app: the server must see the request (e.g. to clear a cookie)."""
    return rx.call_script(f"window.location.replace({json.dumps(path)})")
