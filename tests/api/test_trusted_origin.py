"""The Origin guard (chat_app/api/trusted_origin.py) in front of the HTTP API, over ASGI.

A page of another origin on the same site (another port, a sibling subdomain; ``null`` for
sandboxed frames) has the user's cookie sent along: it must get nothing, and change nothing.
The served app's websocket and CORS headers are checked for real in tests/browser.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chat_app.api.app import create_api
from chat_app.api.trusted_origin import trusted_origin_guard
from chat_app.core.session_cookie import SESSION_COOKIE
from chat_app.core.settings import get_settings
from chat_app.services import auth, chat
from chat_app.services import auth as auth_service

PASSWORD = "correct horse battery"
TITLE = "Alice-secret-title"
OWN = "http://127.0.0.1:3000"
FOREIGN = ["http://127.0.0.1:3001", "http://evil.127.0.0.1:3000", "null", "https://127.0.0.1:3000"]
READS = ["/api/v1/export?format=json", "/api/v1/conversations", "/api/v1/me"]


@pytest.fixture
async def client(db: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=trusted_origin_guard(create_api()))
    async with httpx.AsyncClient(transport=transport, base_url=OWN) as c:
        yield c


@pytest.fixture
async def alice_cookie(db: str) -> str:
    registered = await auth.register("alice@example.com", "Alice", PASSWORD)
    await chat.create_conversation(registered.user.id, title=TITLE)
    return f"{SESSION_COOKIE}={registered.token}"


def refused(response: httpx.Response) -> bool:
    return (
        response.status_code == 403
        and response.json()["error"]["code"] == "foreign_origin"
        and TITLE not in response.text
        and "access-control-allow-origin" not in response.headers
    )


@pytest.mark.parametrize("origin", FOREIGN)
@pytest.mark.parametrize("path", READS)
async def test_a_foreign_page_reads_nothing_with_the_cookie(
    client: httpx.AsyncClient, alice_cookie: str, origin: str, path: str
) -> None:
    response = await client.get(path, headers={"cookie": alice_cookie, "origin": origin})
    assert refused(response), response.text


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
@pytest.mark.parametrize("path", READS)
async def test_a_same_site_fetch_without_origin_reads_nothing(
    client: httpx.AsyncClient, alice_cookie: str, site: str, path: str
) -> None:
    # Chromium leaves Origin out of no-cors GETs, but always says which site asked.
    headers = {"cookie": alice_cookie, "sec-fetch-site": site, "sec-fetch-mode": "no-cors"}
    assert refused(await client.get(path, headers=headers))


async def test_a_link_from_elsewhere_still_opens(
    client: httpx.AsyncClient, alice_cookie: str
) -> None:
    headers = {"cookie": alice_cookie, "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"}
    response = await client.get("/api/v1/export?format=json", headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": OWN, "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors"},
        {"sec-fetch-site": "same-origin", "sec-fetch-mode": "navigate"},
        {"sec-fetch-site": "none", "sec-fetch-mode": "navigate"},  # typed into the address bar
        {},  # not a browser (curl with the cookie)
    ],
)
async def test_the_apps_own_pages_read(
    client: httpx.AsyncClient, alice_cookie: str, headers: dict[str, str]
) -> None:
    response = await client.get(
        "/api/v1/export?format=json", headers={"cookie": alice_cookie, **headers}
    )
    assert response.status_code == 200
    assert TITLE in response.text


@pytest.mark.parametrize("origin", FOREIGN)
async def test_a_foreign_page_cannot_post_a_login_ticket(
    client: httpx.AsyncClient, db: str, origin: str
) -> None:
    # Login CSRF: the attacker's own ticket, posted from their page, would log the victim in
    # as the attacker. No cookie is involved, so the Origin alone decides.
    mallory = await auth.register("mallory@example.com", "Mallory", PASSWORD)
    response = await client.post(
        "/api/v1/auth/session", data={"ticket": mallory.ticket}, headers={"origin": origin}
    )
    assert refused(response)
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("origin", FOREIGN)
async def test_a_foreign_page_cannot_log_the_user_out(
    client: httpx.AsyncClient, alice_cookie: str, origin: str
) -> None:
    response = await client.post(
        "/api/v1/auth/logout", headers={"cookie": alice_cookie, "origin": origin}
    )
    assert refused(response)
    token = alice_cookie.split("=", 1)[1]
    assert await auth_service.resolve_session(token) is not None


async def test_bearer_clients_are_not_affected(client: httpx.AsyncClient, db: str) -> None:
    registered = await auth.register("bot@example.com", "Bot", PASSWORD)
    response = await client.get(
        "/api/v1/me", headers={"authorization": f"Bearer {registered.token}"}
    )
    assert response.status_code == 200


async def test_behind_a_proxy_app_url_is_the_one_origin(
    db: str, alice_cookie: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_URL", "https://chat.example.com")
    get_settings.cache_clear()
    transport = httpx.ASGITransport(app=trusted_origin_guard(create_api()))
    # What the app sees behind the proxy: plain HTTP from the proxy, the public Host kept.
    async with httpx.AsyncClient(transport=transport, base_url="http://chat.example.com") as c:
        ok = await c.get(
            "/api/v1/export?format=json",
            headers={"cookie": alice_cookie, "origin": "https://chat.example.com"},
        )
        assert ok.status_code == 200 and TITLE in ok.text
        for origin in ["http://chat.example.com", "https://evil.example.com", "null"]:
            response = await c.get(
                "/api/v1/conversations", headers={"cookie": alice_cookie, "origin": origin}
            )
            assert refused(response), origin


# ---- the websocket handshake (the guard as an ASGI app; the served app in tests/browser) -----


async def handshake(origin: str | None, *, app_url: str = "") -> list[dict[str, Any]]:
    """What the guard sends for a websocket handshake; the inner app accepts when reached."""

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "websocket.accept"})

    headers = [(b"host", b"127.0.0.1:3000"), (b"cookie", b"chat_session=abc")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    scope = {"type": "websocket", "path": "/_event/", "scheme": "ws", "headers": headers}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await trusted_origin_guard(inner)(scope, receive, send)
    return sent


@pytest.mark.parametrize("origin", FOREIGN)
async def test_a_foreign_websocket_handshake_is_closed_before_it_opens(origin: str) -> None:
    assert await handshake(origin) == [{"type": "websocket.close", "code": 1008}]


async def test_the_apps_own_websocket_handshake_goes_through() -> None:
    assert await handshake(OWN) == [{"type": "websocket.accept"}]
    assert await handshake(None) == [{"type": "websocket.accept"}]  # not a browser
