"""AuthState's event handlers, called directly on a real state tree (as Reflex's own tests do).

A root ``State`` is built with ``_reflex_internal_init=True`` (allowed under pytest), the AuthState
substate is taken from it, and its router data (the websocket handshake's headers, the client's
address and the page URL) is set with ``RouterData.from_router_data`` exactly as Reflex builds it
from an incoming event. The handlers then talk to the real auth service and database.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from reflex.istate.data import RouterData
from reflex.state import State
from reflex_base.event import EventSpec

from chat_app.components.user_menu import LOGOUT_EVERYWHERE_WARNING
from chat_app.core.db import session_scope
from chat_app.core.session_cookie import SESSION_COOKIE
from chat_app.core.settings import get_settings
from chat_app.repositories import users as users_repo
from chat_app.services import api_tokens, auth
from chat_app.state.auth import AuthState

PASSWORD = "correct horse battery"


def make_state(
    *, cookie: str = "", url: str = "/", ip: str = "127.0.0.1", forwarded_for: str = ""
) -> AuthState:
    root = State(_reflex_internal_init=True)
    state = root.get_substate(AuthState.get_full_name().split("."))
    assert isinstance(state, AuthState)
    path, _, query = url.partition("?")
    state.router = RouterData.from_router_data(
        {
            "headers": {
                "origin": "http://localhost:3000",
                "cookie": cookie,
                "x-forwarded-for": forwarded_for,
            },
            "ip": ip,
            "pathname": path,
            "asPath": url,
            "query": dict(p.split("=", 1) for p in query.split("&") if "=" in p),
        }
    )
    return state


def spec_args(spec: EventSpec) -> dict[str, Any]:
    return {name._js_expr: getattr(value, "_var_value", None) for name, value in spec.args}


def script_of(spec: Any) -> str:
    assert isinstance(spec, EventSpec), spec
    assert spec.handler.fn is not None and spec.handler.fn.__qualname__ == "_call_script"
    return spec_args(spec)["javascript_code"]


def posted_form(spec: Any) -> tuple[str, dict[str, str]]:
    """(action, fields) of a post_form() event spec."""
    script = script_of(spec)
    action = re.search(r"f\.method = 'POST'; f\.action = (\"[^\"]*\");", script)
    fields = re.search(r"Object\.entries\((\{.*?\})\)", script)
    assert action and fields, script
    return json.loads(action.group(1)), json.loads(fields.group(1))


def page_load_target(spec: Any) -> str:
    match = re.fullmatch(r"window\.location\.replace\((\".*\")\)", script_of(spec))
    assert match, spec
    return json.loads(match.group(1))


def redirect_target(spec: Any) -> str:
    assert isinstance(spec, EventSpec), spec
    assert spec.handler.fn is not None and spec.handler.fn.__qualname__ == "_redirect"
    return spec_args(spec)["path"]


def cookie_header(token: str) -> str:
    return f"theme=dark; {SESSION_COOKIE}={token}; other=1"


async def user_count() -> int:
    async with session_scope() as session:
        return await users_repo.count(session)


# ---- register ----------------------------------------------------------------------------


async def test_submit_register_posts_ticket_for_the_cookie(db: str) -> None:
    state = make_state(url="/register")
    spec = await state.submit_register(
        {"email": "Ann@Example.com", "display_name": "Ann", "password": PASSWORD}
    )
    action, fields = posted_form(spec)
    assert action == "/api/v1/auth/session"
    assert fields["next"] == "/"
    # The ticket is a real one: the cookie endpoint will trade it for a session token.
    token = await auth.exchange_login_ticket(fields["ticket"])
    assert token is not None
    assert (await auth.resolve_session(token)).email == "ann@example.com"  # type: ignore[union-attr]
    assert state.authenticated
    assert state.user_name == "Ann"
    assert state.user_email == "ann@example.com"
    assert state.is_admin  # the first account
    assert state.register_error == ""
    assert state.register_field_errors == {}


async def test_submit_register_invalid_shows_field_errors_and_stores_nothing(db: str) -> None:
    state = make_state(url="/register")
    spec = await state.submit_register(
        {"email": "not-an-email", "display_name": "Ann", "password": "short"}
    )
    assert spec is None
    assert set(state.register_field_errors) == {"email", "password"}
    assert state.register_field_errors["email"] == "Enter a valid email address."
    assert "8" in state.register_field_errors["password"]
    assert state.register_error == ""
    assert not state.authenticated
    assert await user_count() == 0


async def test_submit_register_missing_fields(db: str) -> None:
    state = make_state(url="/register")
    assert await state.submit_register({}) is None
    assert set(state.register_field_errors) == {"email", "display_name", "password"}
    assert await user_count() == 0


async def test_submit_register_duplicate_email(db: str) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    state = make_state(url="/register")
    spec = await state.submit_register(
        {"email": "ANN@example.com", "display_name": "Imposter", "password": PASSWORD}
    )
    assert spec is None
    assert state.register_field_errors == {"email": auth.DUPLICATE_EMAIL}
    assert await user_count() == 1


async def test_submit_register_when_closed(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_REGISTRATION", "false")
    get_settings.cache_clear()
    state = make_state(url="/register")
    await state.open_register_page()
    assert state.registration_open is False
    spec = await state.submit_register(
        {"email": "ann@example.com", "display_name": "Ann", "password": PASSWORD}
    )
    assert spec is None
    assert "closed" in state.register_error
    assert await user_count() == 0


# ---- login -------------------------------------------------------------------------------


async def test_submit_login_wrong_password(db: str) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    state = make_state(url="/login")
    spec = await state.submit_login({"email": "ann@example.com", "password": "wrong password"})
    assert spec is None
    assert state.login_error == auth.LOGIN_FAILED
    assert not state.authenticated


async def test_submit_login_success_keeps_a_safe_next(db: str) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    state = make_state(url="/login?next=/c/abc")
    state.login_error = "stale error"
    spec = await state.submit_login({"email": "ann@example.com", "password": PASSWORD})
    action, fields = posted_form(spec)
    assert action == "/api/v1/auth/session"
    assert fields["next"] == "/c/abc"
    assert await auth.exchange_login_ticket(fields["ticket"]) is not None
    assert state.login_error == ""
    assert state.authenticated and state.user_name == "Ann"


@pytest.mark.parametrize("next_", ["//evil.example", "https://evil.example", "/\\evil.example"])
async def test_submit_login_never_redirects_off_site(db: str, next_: str) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    state = make_state(url=f"/login?next={next_}")
    _, fields = posted_form(
        await state.submit_login({"email": "ann@example.com", "password": PASSWORD})
    )
    assert fields["next"] == "/"


async def test_submit_login_throttles_by_client_address(db: str) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    for i in range(20):  # the per-address bound: 20 free failures, whatever the account
        state = make_state(url="/login", ip="203.0.113.9")
        await state.submit_login({"email": f"guess{i}@example.com", "password": "guess1234"})
        assert state.login_error == auth.LOGIN_FAILED
    state = make_state(url="/login", ip="203.0.113.9")
    assert await state.submit_login({"email": "ann@example.com", "password": PASSWORD}) is None
    assert state.login_error == "Too many failed attempts. Try again in 5 seconds."
    # Another address is not affected.
    other = make_state(url="/login", ip="198.51.100.20")
    assert await other.submit_login({"email": "ann@example.com", "password": PASSWORD}) is not None


@pytest.mark.parametrize(
    "forwarded",
    ["198.51.100.1", "10.0.0.1, 198.51.100.2", "garbage", "", "::1", "203.0.113.9, 127.0.0.1"],
)
async def test_submit_login_ignores_forwarded_for_from_an_untrusted_peer(
    db: str, forwarded: str
) -> None:
    """Rotating X-Forwarded-For must not give a guesser a fresh address (TRUSTED_PROXIES unset)."""
    await auth.register("ann@example.com", "Ann", PASSWORD)
    for i in range(5):
        state = make_state(url="/login", ip="127.0.0.1", forwarded_for=f"192.0.2.{i}")
        await state.submit_login({"email": "ann@example.com", "password": f"wrong {i}"})
        assert state.login_error == auth.LOGIN_FAILED
    # Counted against the websocket's peer, so yet another forwarded value is throttled too.
    state = make_state(url="/login", ip="127.0.0.1", forwarded_for=forwarded)
    assert await state.submit_login({"email": "ann@example.com", "password": PASSWORD}) is None
    assert "Try again in" in state.login_error


async def test_submit_login_believes_a_trusted_proxy(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1")
    get_settings.cache_clear()
    await auth.register("ann@example.com", "Ann", PASSWORD)
    for i in range(5):
        state = make_state(url="/login", ip="127.0.0.1", forwarded_for="198.51.100.7")
        await state.submit_login({"email": "ann@example.com", "password": f"wrong {i}"})
    # The guesser behind the proxy is throttled, even if it writes its own entries in front...
    state = make_state(url="/login", ip="127.0.0.1", forwarded_for="192.0.2.1, 198.51.100.7")
    assert await state.submit_login({"email": "ann@example.com", "password": PASSWORD}) is None
    assert "Try again in" in state.login_error
    # ...while the owner behind the same proxy, at their own address, logs in.
    owner = make_state(url="/login", ip="127.0.0.1", forwarded_for="203.0.113.50")
    assert await owner.submit_login({"email": "ann@example.com", "password": PASSWORD}) is not None


def test_reflex_itself_never_reads_forwarded_for() -> None:
    # session.client_ip must stay the raw peer: only core/client_address.py reads the header.
    from reflex_base.config import get_config

    assert get_config().trusted_proxy_hops == 0


# ---- page guards -------------------------------------------------------------------------


async def test_guard_without_cookie_redirects_to_login(db: str) -> None:
    state = make_state(url="/")
    spec = await state.guard_private_page()
    assert redirect_target(spec) == "/login"
    assert spec_args(spec)["replace"] is True
    assert not state.authenticated


async def test_guard_with_valid_cookie_lets_the_user_in(db: str) -> None:
    registered = await auth.register("ann@example.com", "Ann Lee", PASSWORD)
    state = make_state(url="/", cookie=cookie_header(registered.token))
    assert await state.guard_private_page() is None
    assert state.authenticated
    assert state.user_name == "Ann Lee"
    assert state.user_email == "ann@example.com"
    assert state.is_admin
    assert await state._require_user_id() == registered.user.id


@pytest.mark.parametrize("how", ["logged-out", "logged-out-everywhere", "disabled", "garbage"])
async def test_guard_with_dead_cookie_sends_the_browser_to_expired(db: str, how: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    token = registered.token
    if how == "logged-out":
        await auth.logout(token)
    elif how == "logged-out-everywhere":
        await auth.logout_everywhere(registered.user.id)
    elif how == "disabled":
        await auth.admin_set_active("ann@example.com", False)
    else:
        token = "not.a.token"
    state = make_state(url="/", cookie=cookie_header(token))
    # The tab still remembers the user from before: the guard must not trust that.
    state.user_name, state.authenticated = "Ann", True
    spec = await state.guard_private_page()
    assert page_load_target(spec) == "/api/v1/auth/expired"
    assert not state.authenticated
    assert state.user_name == ""
    assert await state._require_user_id() is None


async def test_open_login_page_shows_the_expired_notice(db: str) -> None:
    state = make_state(url="/login?reason=expired")
    state.login_error = "old error"
    assert await state.open_login_page() is None
    assert state.notice == auth.SESSION_EXPIRED
    assert state.login_error == ""
    assert state.registration_open


@pytest.mark.parametrize(
    ("reason", "notice"),
    [
        ("logged_out", "You have been logged out."),
        ("logged_out_everywhere", "You have been logged out on every device."),
        ("<script>alert(1)</script>", ""),
        ("", ""),
    ],
)
async def test_open_login_page_notices(db: str, reason: str, notice: str) -> None:
    state = make_state(url=f"/login?reason={reason}")
    await state.open_login_page()
    assert state.notice == notice


async def test_open_login_page_when_logged_in_goes_home(db: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    state = make_state(url="/login", cookie=cookie_header(registered.token))
    assert redirect_target(await state.open_login_page()) == "/"


# ---- logout ------------------------------------------------------------------------------


async def test_logout_forgets_the_user_and_posts_to_logout(db: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    state = make_state(url="/", cookie=cookie_header(registered.token))
    await state.guard_private_page()
    action, fields = posted_form(await state.logout())
    assert action == "/api/v1/auth/logout"
    assert fields == {}
    assert not state.authenticated and state.user_name == ""


async def test_logout_everywhere_ends_every_session(db: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    other_device = await auth.login("ann@example.com", PASSWORD)
    state = make_state(url="/", cookie=cookie_header(registered.token))
    action, fields = posted_form(await state.logout_everywhere())
    assert action == "/api/v1/auth/logout"
    assert fields == {"everywhere": "1"}
    assert await auth.resolve_session(registered.token) is None
    assert await auth.resolve_session(other_device.token) is None
    assert not state.authenticated


async def test_logout_everywhere_asks_first_then_revokes_personal_tokens(db: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    token = (await api_tokens.create_token(registered.user.id, "script")).plaintext
    state = make_state(url="/", cookie=cookie_header(registered.token))
    # The menu only opens the confirmation, whose text names the tokens; nothing is revoked yet.
    state.set_logout_everywhere_open(True)
    assert state.logout_everywhere_open
    assert "revokes all your personal API tokens" in LOGOUT_EVERYWHERE_WARNING
    assert await api_tokens.authenticate(token) is not None
    state.set_logout_everywhere_open(False)  # Cancel
    assert await api_tokens.authenticate(token) is not None
    state.set_logout_everywhere_open(True)
    await state.logout_everywhere()
    assert not state.logout_everywhere_open
    assert await api_tokens.authenticate(token) is None
