"""Only the app's own pages may use a user's session: the Origin guard in front of everything.

The session cookie is SameSite=Lax, which stops other *sites*, not other origins of the same
site: a page on another port of this host, or on a sibling subdomain, gets the cookie sent with
its requests and websocket handshakes. This ASGI layer wraps the whole app (Reflex's ``/_event``
websocket, its upload route and the HTTP API) and refuses, before anything else runs:

* a websocket handshake whose ``Origin`` is not trusted (browsers always send one);
* a request that carries the session cookie from a page that is not trusted: a foreign
  ``Origin``, or ``Sec-Fetch-Site: same-site/cross-site`` on anything but a top-level navigation
  (a link to the app from elsewhere must still open it);
* a state-changing request (not GET/HEAD/OPTIONS) from a foreign ``Origin``, cookie or not
  (a login form posted from elsewhere would log the victim into someone else's account).

Clients that are not browsers send no ``Origin`` and are unaffected; they authenticate with a
bearer token, which a foreign page cannot obtain. Reflex's CORS layer is configured from the
same settings (rxconfig.py), so no foreign origin is ever told it may read a response.
"""

from __future__ import annotations

import json
import logging

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from chat_app.core.origins import is_trusted_origin, request_origin
from chat_app.core.session_cookie import read_session_cookie
from chat_app.core.settings import get_settings

log = logging.getLogger(__name__)

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_FOREIGN_FETCH_SITES = {"same-site", "cross-site"}
FOREIGN_ORIGIN_MESSAGE = "This request came from a page that is not this app."
# 1008: policy violation. Sent before the handshake is accepted, servers answer HTTP 403.
_WS_POLICY_VIOLATION = 1008


def refusal_reason(scope: Scope) -> str | None:
    """Why this request or handshake must not reach the app, or None when it may."""
    headers = Headers(scope=scope)
    origin = headers.get("origin")
    trusted = get_settings().trusted_origins
    own = request_origin(scope.get("scheme", "http"), headers.get("host"))

    def foreign() -> bool:
        return origin is not None and not is_trusted_origin(origin, trusted=trusted, own_origin=own)

    if scope["type"] == "websocket":
        return f"websocket from foreign origin {origin!r}" if foreign() else None
    if read_session_cookie(headers.get("cookie")) is not None:
        if foreign():
            return f"session cookie sent by foreign origin {origin!r}"
        if (
            headers.get("sec-fetch-site") in _FOREIGN_FETCH_SITES
            and headers.get("sec-fetch-mode") != "navigate"
        ):
            return f"session cookie sent by a {headers.get('sec-fetch-site')} page"
    if scope.get("method", "GET") not in _SAFE_METHODS and foreign():
        return f"{scope.get('method')} from foreign origin {origin!r}"
    return None


def trusted_origin_guard(app: ASGIApp) -> ASGIApp:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        reason = refusal_reason(scope)
        if reason is None:
            await app(scope, receive, send)
            return
        log.warning("refused %s %s: %s", scope["type"], scope.get("path", ""), reason)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": _WS_POLICY_VIOLATION})
            return
        body = json.dumps(
            {"error": {"code": "foreign_origin", "message": FOREIGN_ORIGIN_MESSAGE}}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"vary", b"Origin"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return guarded
