"""Setting and clearing the session cookie: HttpOnly, so page script can never read the token."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from chat_app.api.peer import request_is_https
from chat_app.core.session_cookie import SESSION_COOKIE
from chat_app.core.settings import get_settings


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(get_settings().session_lifetime_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=request_is_https(request),
        path="/",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=request_is_https(request), path="/"
    )
