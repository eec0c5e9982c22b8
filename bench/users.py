"""Simulated users: each registers its own account through the HTTP API and logs in the way a
browser ends up authenticated (the HttpOnly ``chat_session`` cookie, sent in the websocket
handshake), plus a bearer token for the HTTP API scenarios."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import httpx

PASSWORD = "bench password 123"
SESSION_COOKIE = "chat_session"


@dataclass(frozen=True)
class User:
    email: str
    user_id: uuid.UUID
    token: str  # bearer token (API)
    cookie: str  # "chat_session=…" as the browser sends it

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


async def create_user(client: httpx.AsyncClient, email: str) -> User:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": email, "display_name": email.split("@")[0], "password": PASSWORD},
    )
    response.raise_for_status()
    user_id = uuid.UUID(response.json()["user"]["id"])
    login = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": PASSWORD, "set_cookie": True}
    )
    login.raise_for_status()
    cookie = login.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise RuntimeError("login with set_cookie did not set the session cookie")
    return User(email, user_id, login.json()["access_token"], f"{SESSION_COOKIE}={cookie}")


async def create_users(base_url: str, count: int, prefix: str, parallel: int = 8) -> list[User]:
    run = uuid.uuid4().hex[:8]
    limit = asyncio.Semaphore(parallel)
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

        async def one(i: int) -> User:
            async with limit:
                return await create_user(client, f"{prefix}-{run}-{i}@bench.example")

        return list(await asyncio.gather(*(one(i) for i in range(count))))


async def create_conversation(client: httpx.AsyncClient, user: User, title: str) -> str:
    response = await client.post(
        "/api/v1/conversations", json={"title": title}, headers=user.auth_headers
    )
    response.raise_for_status()
    return str(response.json()["id"])


async def all_messages(client: httpx.AsyncClient, user: User, cid: str) -> list[dict]:
    """Every message of a conversation, oldest first (the API pages by 100)."""
    items: list[dict] = []
    cursor = None
    for _ in range(10_000):  # bounded
        params: dict[str, str | int] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(
            f"/api/v1/conversations/{cid}/messages", params=params, headers=user.auth_headers
        )
        response.raise_for_status()
        body = response.json()
        items.extend(body["items"])
        cursor = body.get("next_cursor")
        if not cursor:
            break
    return items
