"""Session checks reuse the database's answer for at most a second; ending a session in this
process takes effect at once, anywhere else within that second."""

from __future__ import annotations

import pytest

from chat_app.core.db import session_scope
from chat_app.repositories import users as users_repo
from chat_app.services import auth, session_cache
from chat_app.services.session_cache import SessionCache
from tests.conftest import unique_email

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(session_cache, "sessions", SessionCache(clock=clock))
    return clock


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every user read the session check makes."""
    seen: list[object] = []
    real = users_repo.get_by_id

    async def counting(session, user_id):
        seen.append(user_id)
        return await real(session, user_id)

    monkeypatch.setattr(users_repo, "get_by_id", counting)
    return seen


async def test_a_second_check_within_the_second_reads_nothing(db, clock, reads) -> None:
    registered = await auth.register(unique_email("a"), "Ann", PASSWORD)
    first = await auth.resolve_session(registered.token)
    again = await auth.resolve_session(registered.token)
    assert first is not None and again == first
    assert len(reads) == 1
    clock.now += 1.01
    assert await auth.resolve_session(registered.token) == first
    assert len(reads) == 2


async def test_a_change_made_elsewhere_counts_after_at_most_a_second(db, clock) -> None:
    """Another process (or the admin CLI) disables the user: this cache does not hear of it."""
    registered = await auth.register(unique_email("a"), "Ann", PASSWORD)
    assert await auth.resolve_session(registered.token) is not None
    async with session_scope() as session:
        user = await users_repo.get_by_id(session, registered.user.id)
        assert user is not None
        await users_repo.set_active(session, user, False)
    clock.now += 0.5
    assert await auth.resolve_session(registered.token) is not None  # still within the second
    clock.now += 0.51
    assert await auth.resolve_session(registered.token) is None


async def test_logout_here_takes_effect_at_once(db, clock) -> None:
    registered = await auth.register(unique_email("a"), "Ann", PASSWORD)
    phone = await auth.login(registered.user.email, PASSWORD)
    assert await auth.resolve_session(registered.token) is not None
    assert await auth.resolve_session(phone.token) is not None
    await auth.logout(registered.token)
    assert await auth.resolve_session(registered.token) is None
    assert await auth.resolve_session(phone.token) is not None


async def test_logout_everywhere_and_disabling_take_effect_at_once(db, clock) -> None:
    registered = await auth.register(unique_email("a"), "Ann", PASSWORD)
    assert await auth.resolve_session(registered.token) is not None
    await auth.logout_everywhere(registered.user.id)
    assert await auth.resolve_session(registered.token) is None

    fresh = await auth.login(registered.user.email, PASSWORD)
    assert await auth.resolve_session(fresh.token) is not None
    await auth.admin_set_active(registered.user.email, False)
    assert await auth.resolve_session(fresh.token) is None


async def test_an_answer_never_outlives_the_token(db, clock, monkeypatch) -> None:
    registered = await auth.register(unique_email("a"), "Ann", PASSWORD)
    cache = session_cache.sessions
    user = await auth.resolve_session(registered.token)
    cache.put(registered.token, user, valid_until=clock.now + 0.2)  # the token expires soon
    clock.now += 0.3
    assert cache.get(registered.token) == (False, None)


def test_the_cache_stays_bounded(monkeypatch) -> None:
    monkeypatch.setattr(session_cache, "MAX_ENTRIES", 50)
    clock = Clock()
    cache = SessionCache(clock=clock)
    for i in range(200):
        cache.put(f"token {i}", None)
    assert len(cache._entries) <= 50
    assert cache.get("token 199") == (True, None)
