"""A tab's state is bound to the session that filled it (chat_app/state/tab_session.py).

Class-level checks: after Alice has used a tab (a conversation open, its reply followed, the
sidebar loaded, a token created), every var of every state the app defines must be back at its
default when the tab is next used by no session, by another user, or by a new login, and right
after logout; only the same session keeps it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from reflex.state import BaseState
from reflex_base.utils.format import format_ref

from chat_app.core.session_cookie import read_session_cookie
from chat_app.services import api_tokens, auth
from chat_app.state.auth import AuthState
from chat_app.state.settings import TOKEN_SECRET_ID, SettingsState
from chat_app.state.tab_session import TabSessionBinding, app_state_classes, session_fingerprint
from tests.security.harness import plain
from tests.state.test_chat_states import Tab, finished, new_chat_tab, user_token
from tests.support.fake_openai import FakeOpenAI

PASSWORD = "correct horse battery"
ALICE_TEXT = "Alice-private-question"
# Random per change: never "Alice's data", and compared only as "not the old value".
NONCES = {("StreamState", "_seq"), ("StreamState", "_claimed")}


def every_var(tab: Tab) -> dict[str, dict[str, Any]]:
    """Every var (public and server-only) of every app state in this tab, as plain JSON."""
    held: dict[str, dict[str, Any]] = {}
    for cls in app_state_classes():
        state = tab.root.get_substate(cls.get_full_name().split(".")[1:])
        held[cls.__name__] = {
            name: plain(getattr(state, name))
            for name, f in cls.__fields__.items()
            if f._owner is cls and (cls.__name__, name) not in NONCES
        }
    return held


def defaults() -> dict[str, dict[str, Any]]:
    return {
        cls.__name__: {
            name: plain(f.default_value())
            for name, f in cls.__fields__.items()
            if f._owner is cls and (cls.__name__, name) not in NONCES
        }
        for cls in app_state_classes()
    }


def settings_state(tab: Tab) -> SettingsState:
    state = tab.root.get_substate(SettingsState.get_full_name().split(".")[1:])
    assert isinstance(state, SettingsState)
    return state


async def event_arrives(tab: Tab, cookie: str) -> None:
    """The next event of this tab comes over a socket whose handshake carried ``cookie``."""
    tab.cookie = cookie
    tab.at("/")
    await TabSessionBinding().preprocess(app=None, state=tab.root, event=None)  # type: ignore[arg-type]


async def used_by_alice(model: FakeOpenAI) -> tuple[Tab, str, str]:
    """A tab where Alice chatted, followed her reply and created a token."""
    user_id, token = await user_token("Alice")
    tab = await new_chat_tab(token)
    await event_arrives(tab, tab.cookie)  # bind the tab to Alice's session
    model.configure(reply_tokens=5)
    await tab.composer.send({"message": ALICE_TEXT})
    cid = tab.conversation.cid
    await finished(user_id, cid)
    await tab.open(cid)
    secret_event = await settings_state(tab).create_token({"name": "laptop", "password": PASSWORD})
    assert tab.conversation.cid == cid and tab.sidebar.items and settings_state(tab).tokens
    return tab, token, str(secret_event)


@pytest.mark.parametrize("who", ["nobody", "another user", "alice again, new login"])
async def test_another_session_gets_an_empty_tab(model: FakeOpenAI, who: str) -> None:
    tab, _, _ = await used_by_alice(model)
    seq_before = tab.stream._seq
    if who == "nobody":
        cookie = ""
    elif who == "another user":
        _, bob_token = await user_token("Bob")
        cookie = f"chat_session={bob_token}"
    else:
        again = await auth.login(tab.auth.user_email, PASSWORD)
        cookie = f"chat_session={again.token}"
    await event_arrives(tab, cookie)
    held = every_var(tab)
    expected = defaults()
    expected["AuthState"]["_session_fingerprint"] = session_fingerprint(read_session_cookie(cookie))
    assert held == expected
    assert ALICE_TEXT not in json.dumps(held)
    # An old watcher of this tab (its sequence number) can never match again.
    assert tab.stream._seq != seq_before


async def test_the_same_session_keeps_its_tab(model: FakeOpenAI) -> None:
    tab, _, _ = await used_by_alice(model)
    before = every_var(tab)
    await event_arrives(tab, tab.cookie)
    assert every_var(tab) == before


@pytest.mark.parametrize("handler", ["logout", "logout_everywhere"])
async def test_logout_empties_the_tab_at_once(model: FakeOpenAI, handler: str) -> None:
    tab, _, _ = await used_by_alice(model)
    await getattr(tab.auth, handler)()
    held = every_var(tab)
    assert held == defaults()


async def test_a_session_that_ended_elsewhere_empties_the_tab_at_its_next_event(
    model: FakeOpenAI,
) -> None:
    tab, _, _ = await used_by_alice(model)
    user_id = tab.auth._user_id
    await auth.logout_everywhere(__import__("uuid").UUID(user_id))  # from another device
    await tab.sidebar.search_changed("tok")  # any data event re-checks the session
    held = every_var(tab)
    expected = defaults()
    # The fingerprint of the (dead) cookie is kept: the same cookie must not clear it again.
    expected["AuthState"]["_session_fingerprint"] = held["AuthState"]["_session_fingerprint"]
    assert held == expected


# ---- the token secret ------------------------------------------------------------------------


def all_state_text(root: BaseState) -> str:
    return json.dumps(
        {
            cls.__name__: {
                name: plain(getattr(root.get_substate(cls.get_full_name().split(".")[1:]), name))
                for name, f in cls.__fields__.items()
                if f._owner is cls
            }
            for cls in app_state_classes()
        },
        default=str,
    )


async def test_a_new_tokens_secret_never_enters_the_tabs_state(model: FakeOpenAI) -> None:
    user_id, token = await user_token("Alice")
    tab = await new_chat_tab(token)
    settings = settings_state(tab)
    event = await settings.create_token({"name": "laptop", "password": PASSWORD})
    [created] = await api_tokens.list_tokens(user_id)
    # The event writes the secret into the page's input; the state holds only the token's name.
    args = {name._js_expr: getattr(value, "_var_value", None) for name, value in event.args}
    secret = args["value"]
    assert secret.startswith(api_tokens.TOKEN_PREFIX)
    assert args["ref"] == format_ref(TOKEN_SECRET_ID)
    assert await api_tokens.authenticate(secret) is not None
    assert settings.new_token_name == created.name == "laptop"
    assert secret not in all_state_text(tab.root)


@pytest.mark.parametrize("password", ["", "wrong password", "\x00", 123, None])
async def test_creating_a_token_asks_for_the_password(model: FakeOpenAI, password: Any) -> None:
    user_id, token = await user_token("Alice")
    tab = await new_chat_tab(token)
    settings = settings_state(tab)
    result = await settings.create_token({"name": "laptop", "password": password})
    assert result is None
    assert settings.token_error in (auth.REAUTH_FAILED, "Enter your password to confirm.")
    assert await api_tokens.list_tokens(user_id) == []
    assert settings.new_token_name == ""


async def test_wrong_token_passwords_count_against_the_login_throttle(model: FakeOpenAI) -> None:
    user_id, token = await user_token("Alice")
    tab = await new_chat_tab(token)
    settings = settings_state(tab)
    for _ in range(12):
        await settings.create_token({"name": "x", "password": "guess"})
        if "Too many" in settings.token_error:
            break
    assert "Too many failed attempts" in settings.token_error
    await settings.create_token({"name": "x", "password": PASSWORD})
    assert "Too many failed attempts" in settings.token_error  # even the right one, for now
    assert await api_tokens.list_tokens(user_id) == []


def test_the_auth_state_is_among_the_states_reset() -> None:
    names = {cls.__name__ for cls in app_state_classes()}
    assert {"AuthState", "SettingsState", "ConversationState", "StreamState"} <= names
    assert AuthState in app_state_classes()
