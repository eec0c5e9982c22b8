"""Who is calling: a bearer token (session JWT or personal API token), or, for reads only, the
browser's session cookie (so export links work in the UI; writes need a bearer token, which
a cross-site form cannot send, so no CSRF token is needed). A cookie request reaches this only
from the app's own pages: api/trusted_origin.py refuses any other origin, same-site ones too."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from chat_app.api.errors import ApiError
from chat_app.core.session_cookie import read_session_cookie
from chat_app.models.user import UserPublic
from chat_app.services import api_tokens
from chat_app.services import auth as auth_service

_SAFE_METHODS = {"GET", "HEAD"}
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def presented_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.method in _SAFE_METHODS:
        return read_session_cookie(request.headers.get("cookie"))
    return None


async def current_user(request: Request) -> UserPublic:
    token = presented_token(request)
    if token is None:
        raise ApiError(401, "not_authenticated", "Send a bearer token.", _CHALLENGE)
    if api_tokens.is_personal_token(token):
        user = await api_tokens.authenticate(token)
    else:
        user = await auth_service.resolve_session(token)
    if user is None:
        raise ApiError(
            401, "invalid_token", "The token is invalid, expired or revoked.", _CHALLENGE
        )
    return user


CurrentUser = Annotated[UserPublic, Depends(current_user)]
