"""/api/v1/auth/* (JSON), /api/v1/me, and personal API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from chat_app.api.cookies import set_session_cookie
from chat_app.api.deps import CurrentUser, presented_token
from chat_app.api.peer import request_client_address
from chat_app.api.schemas import (
    LoginRequest,
    RegisterRequest,
    TokenCreated,
    TokenCreateRequest,
    TokenResponse,
)
from chat_app.models.api_token import ApiTokenPublic
from chat_app.models.user import UserPublic
from chat_app.services import api_tokens
from chat_app.services import auth as auth_service

router = APIRouter(prefix="/api/v1", tags=["account"])


@router.post("/auth/login", response_model=TokenResponse)
async def login(body: LoginRequest, request: Request) -> JSONResponse:
    result = await auth_service.login(body.email, body.password, request_client_address(request))
    response = JSONResponse(
        TokenResponse(access_token=result.token, user=result.user).model_dump(mode="json")
    )
    if body.set_cookie:
        set_session_cookie(response, request, result.token)
    return response


@router.post("/auth/register", response_model=TokenResponse, status_code=201)
async def register(body: RegisterRequest) -> TokenResponse:
    result = await auth_service.register(body.email, body.display_name, body.password)
    return TokenResponse(access_token=result.token, user=result.user)


@router.post("/auth/revoke", status_code=204)
async def revoke(user: CurrentUser, request: Request) -> Response:
    """Revoke the session token this request carries (personal tokens: DELETE /tokens/{id})."""
    token = presented_token(request)
    if token and not api_tokens.is_personal_token(token):
        await auth_service.logout(token)
    return Response(status_code=204)


@router.post("/auth/revoke-all", status_code=204)
async def revoke_all(user: CurrentUser) -> Response:
    """Log out everywhere: every session token and personal API token of this user stops working."""
    await auth_service.logout_everywhere(user.id)
    return Response(status_code=204)


@router.get("/me", response_model=UserPublic)
async def me(user: CurrentUser) -> UserPublic:
    return user


@router.get("/tokens", response_model=list[ApiTokenPublic])
async def list_tokens(user: CurrentUser) -> list[ApiTokenPublic]:
    return await api_tokens.list_tokens(user.id)


@router.post("/tokens", response_model=TokenCreated, status_code=201)
async def create_token(body: TokenCreateRequest, user: CurrentUser) -> TokenCreated:
    created = await api_tokens.create_token(user.id, body.name)
    return TokenCreated(token=created.token, secret=created.plaintext)


@router.delete("/tokens/{token_id}", status_code=204)
async def revoke_token(token_id: str, user: CurrentUser) -> Response:
    await api_tokens.revoke_token(user.id, token_id)
    return Response(status_code=204)
