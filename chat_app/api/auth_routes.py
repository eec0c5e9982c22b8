"""HTTP endpoints that set and clear the HttpOnly session cookie.

Reflex talks over a websocket, which cannot set cookies. So a successful login in the UI yields
a 30-second signed ticket (not a session token); the page posts it here (a top-level form POST,
so SameSite=Lax cookies are accepted), and this route sets the cookie and redirects. The full
page load that follows reconnects the websocket, whose handshake then carries the cookie.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from chat_app.api.cookies import clear_session_cookie, set_session_cookie
from chat_app.core.session_cookie import read_session_cookie
from chat_app.services import auth as auth_service

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/session", include_in_schema=False)
async def start_browser_session(request: Request) -> RedirectResponse:
    form = await request.form()
    ticket = form.get("ticket")
    token = await auth_service.exchange_login_ticket(ticket if isinstance(ticket, str) else "")
    if token is None:
        return RedirectResponse("/login?reason=expired", status_code=303)
    response = RedirectResponse(auth_service.safe_next_path(form.get("next")), status_code=303)
    set_session_cookie(response, request, token)
    return response


@router.post("/logout", include_in_schema=False)
async def end_browser_session(request: Request) -> RedirectResponse:
    await auth_service.logout(read_session_cookie(request.headers.get("cookie", "")))
    form = await request.form()
    reason = "logged_out_everywhere" if form.get("everywhere") == "1" else "logged_out"
    response = RedirectResponse(f"/login?reason={reason}", status_code=303)
    clear_session_cookie(response, request)
    return response


@router.get("/expired", include_in_schema=False)
async def clear_dead_session(request: Request) -> RedirectResponse:
    """Where the UI sends a browser whose cookie stopped working: drop it, then log in again.

    A GET, so it only clears a cookie that no longer authenticates anyone: a third-party page
    linking here cannot log a user out.
    """
    token = read_session_cookie(request.headers.get("cookie", ""))
    if token and await auth_service.resolve_session(token) is not None:
        return RedirectResponse("/", status_code=303)
    response = RedirectResponse("/login?reason=expired", status_code=303)
    clear_session_cookie(response, request)
    return response
