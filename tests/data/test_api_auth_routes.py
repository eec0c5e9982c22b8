"""The cookie endpoints (chat_app/api/auth_routes.py) over ASGI, against real databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from http.cookies import SimpleCookie

import httpx
import pytest

from chat_app.api.app import create_api
from chat_app.core.session_cookie import SESSION_COOKIE
from chat_app.core.settings import get_settings
from chat_app.services import auth

PASSWORD = "correct horse battery"


@pytest.fixture
async def client(db: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def session_cookies(response: httpx.Response) -> list[str]:
    return [
        value
        for value in response.headers.get_list("set-cookie")
        if value.startswith(f"{SESSION_COOKIE}=")
    ]


def cookie_attributes(set_cookie: str) -> tuple[str, dict[str, str]]:
    jar: SimpleCookie = SimpleCookie()
    jar.load(set_cookie)
    morsel = jar[SESSION_COOKIE]
    attributes = {k: v for k, v in morsel.items() if v}
    return morsel.value, attributes


def with_cookie(token: str) -> dict[str, str]:
    return {"cookie": f"theme=dark; {SESSION_COOKIE}={token}"}


async def test_valid_ticket_sets_the_httponly_cookie(client: httpx.AsyncClient) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    response = await client.post(
        "/api/v1/auth/session", data={"ticket": registered.ticket, "next": "/c/123?x=1"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/c/123?x=1"
    (set_cookie,) = session_cookies(response)
    token, attributes = cookie_attributes(set_cookie)
    lowered = set_cookie.lower()
    assert "httponly" in lowered
    assert "samesite=lax" in lowered
    assert "secure" not in lowered  # plain http: a Secure cookie would never come back
    assert attributes["path"] == "/"
    assert int(attributes["max-age"]) > 0
    # The cookie holds a fresh session token (not the ticket) for the right user.
    assert token != registered.ticket
    user = await auth.resolve_session(token)
    assert user is not None and user.id == registered.user.id


async def test_cookie_is_secure_over_https(db: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    transport = httpx.ASGITransport(app=create_api())
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        response = await client.post("/api/v1/auth/session", data={"ticket": registered.ticket})
    assert response.status_code == 303
    (set_cookie,) = session_cookies(response)
    assert "secure" in set_cookie.lower()


@pytest.mark.parametrize("ticket", [None, "", "garbage", "a.b.c", "x" * 5000])
async def test_bad_ticket_sends_to_login_without_cookie(
    client: httpx.AsyncClient, ticket: str | None
) -> None:
    data = {"next": "/"} if ticket is None else {"ticket": ticket, "next": "/"}
    response = await client.post("/api/v1/auth/session", data=data)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?reason=expired"
    assert session_cookies(response) == []


async def test_session_token_is_not_accepted_as_a_ticket(client: httpx.AsyncClient) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    response = await client.post("/api/v1/auth/session", data={"ticket": registered.token})
    assert response.headers["location"] == "/login?reason=expired"
    assert session_cookies(response) == []


async def test_ticket_from_before_logout_everywhere_is_refused(client: httpx.AsyncClient) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    await auth.logout_everywhere(registered.user.id)
    response = await client.post("/api/v1/auth/session", data={"ticket": registered.ticket})
    assert response.headers["location"] == "/login?reason=expired"
    assert session_cookies(response) == []


@pytest.mark.parametrize(
    "next_",
    [
        "//evil.example",
        "//evil.example/path",
        "https://evil.example",
        "http://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "",
    ],
)
async def test_next_never_leaves_the_site(client: httpx.AsyncClient, next_: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    response = await client.post(
        "/api/v1/auth/session", data={"ticket": registered.ticket, "next": next_}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert len(session_cookies(response)) == 1


@pytest.mark.parametrize("next_", ["/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example"])
async def test_next_with_whitespace_cannot_become_protocol_relative(
    client: httpx.AsyncClient, next_: str
) -> None:
    # Browsers drop tabs and newlines from URLs: "/<TAB>/evil" would turn into "//evil".
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    response = await client.post(
        "/api/v1/auth/session", data={"ticket": registered.ticket, "next": next_}
    )
    location = response.headers["location"]
    as_browser_sees_it = location.replace("\t", "").replace("\n", "").replace("\r", "")
    assert as_browser_sees_it.startswith("/")
    assert not as_browser_sees_it.startswith(("//", "/\\"))


async def test_logout_revokes_the_token_and_clears_the_cookie(client: httpx.AsyncClient) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    other_device = await auth.login("ann@example.com", PASSWORD)
    response = await client.post("/api/v1/auth/logout", headers=with_cookie(registered.token))
    assert response.status_code == 303
    assert response.headers["location"] == "/login?reason=logged_out"
    (set_cookie,) = session_cookies(response)
    value, attributes = cookie_attributes(set_cookie)
    assert value == ""
    assert attributes.get("max-age") == "0" or "1970" in attributes.get("expires", "")
    assert await auth.resolve_session(registered.token) is None
    assert await auth.resolve_session(other_device.token) is not None


async def test_logout_everywhere_reason(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/logout", data={"everywhere": "1"})
    assert response.headers["location"] == "/login?reason=logged_out_everywhere"
    assert len(session_cookies(response)) == 1  # cleared, even without a cookie


async def test_expired_with_a_valid_cookie_keeps_it(client: httpx.AsyncClient) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    response = await client.get("/api/v1/auth/expired", headers=with_cookie(registered.token))
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert session_cookies(response) == []
    assert await auth.resolve_session(registered.token) is not None


@pytest.mark.parametrize("cookie", ["garbage", "revoked", None])
async def test_expired_with_a_dead_cookie_clears_it(
    client: httpx.AsyncClient, cookie: str | None
) -> None:
    headers = {}
    if cookie == "garbage":
        headers = with_cookie("not.a.token")
    elif cookie == "revoked":
        registered = await auth.register("ann@example.com", "Ann", PASSWORD)
        await auth.logout(registered.token)
        headers = with_cookie(registered.token)
    response = await client.get("/api/v1/auth/expired", headers=headers)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?reason=expired"
    (set_cookie,) = session_cookies(response)
    assert cookie_attributes(set_cookie)[0] == ""


async def test_session_endpoint_refuses_get(client: httpx.AsyncClient) -> None:
    # The ticket must travel in a POST body, never in a URL.
    response = await client.get("/api/v1/auth/session", params={"ticket": "x"})
    assert response.status_code == 405


# ---- forwarded headers (issue 8 #9) and single-use tickets (#11) ------------------------------


async def test_rotating_forwarded_for_does_not_escape_the_api_throttle(
    client: httpx.AsyncClient,
) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    for i in range(5):
        response = await client.post(
            "/api/v1/auth/login",
            json={"email": "ann@example.com", "password": f"wrong {i}"},
            headers={"x-forwarded-for": f"192.0.2.{i}"},
        )
        assert response.status_code == 403
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": "ann@example.com", "password": PASSWORD},
        headers={"x-forwarded-for": "192.0.2.99"},
    )
    assert response.status_code == 429
    assert response.json()["error"]["message"] == (
        "Too many failed attempts. Try again in 5 seconds."
    )
    assert 1 <= int(response.headers["retry-after"]) <= 5


async def test_behind_a_trusted_proxy_each_client_has_its_own_throttle(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1")
    get_settings.cache_clear()
    await auth.register("ann@example.com", "Ann", PASSWORD)
    guesser = {"x-forwarded-for": "198.51.100.66"}
    for i in range(5):
        await client.post(
            "/api/v1/auth/login",
            json={"email": "ann@example.com", "password": f"wrong {i}"},
            headers=guesser,
        )
    # Repeated headers are all read: the rightmost entry (our proxy's) decides.
    blocked = await client.post(
        "/api/v1/auth/login",
        json={"email": "ann@example.com", "password": PASSWORD},
        headers=[("x-forwarded-for", "192.0.2.1"), ("x-forwarded-for", "198.51.100.66")],
    )
    assert blocked.status_code == 429
    owner = await client.post(
        "/api/v1/auth/login",
        json={"email": "ann@example.com", "password": PASSWORD},
        headers={"x-forwarded-for": "203.0.113.10"},
    )
    assert owner.status_code == 200


@pytest.mark.parametrize(
    ("trusted", "proto", "secure"),
    [("", "https", False), ("127.0.0.1", "https", True), ("127.0.0.1", "http", False)],
)
async def test_cookie_is_secure_only_when_a_trusted_proxy_says_https(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    trusted: str,
    proto: str,
    secure: bool,
) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", trusted)
    get_settings.cache_clear()
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    response = await client.post(
        "/api/v1/auth/session",
        data={"ticket": registered.ticket},
        headers={"x-forwarded-proto": proto},
    )
    (set_cookie,) = session_cookies(response)
    assert ("secure" in set_cookie.lower()) is secure


async def test_a_ticket_sets_a_cookie_once(client: httpx.AsyncClient) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    first = await client.post("/api/v1/auth/session", data={"ticket": registered.ticket})
    assert len(session_cookies(first)) == 1
    for _ in range(2):
        again = await client.post("/api/v1/auth/session", data={"ticket": registered.ticket})
        assert again.headers["location"] == "/login?reason=expired"
        assert session_cookies(again) == []
