"""Login throttling through the auth service, on SQLite and PostgreSQL, with a controlled clock.

The guesser is slowed; the real user, from their own address, is not locked out (issue 8 #4).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import pytest
from sqlalchemy import select

from chat_app.core.db import session_scope
from chat_app.models.login_records import LoginThrottleEntry
from chat_app.services import auth
from chat_app.services.errors import InvalidInput, Refused
from chat_app.services.login_throttle import DatabaseLoginThrottle
from tests.conftest import unique_email

PASSWORD = "correct horse battery"
GUESSER = "203.0.113.66"
OWNER = "198.51.100.10"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    clock = Clock()
    throttle = DatabaseLoginThrottle(clock=clock)
    # Still an lru_cache, so the suite's cache reset keeps working.
    monkeypatch.setattr(auth, "login_throttle", lru_cache(lambda: throttle))
    yield clock


async def fail(email: str, address: str, password: str = "wrong password") -> None:
    with pytest.raises(Refused) as exc:
        await auth.login(email, password, client_address=address)
    assert exc.value.message == auth.LOGIN_FAILED, exc.value.message


async def throttled(email: str, address: str, password: str = PASSWORD) -> Refused:
    with pytest.raises(Refused) as exc:
        await auth.login(email, password, client_address=address)
    assert exc.value.message.startswith("Too many failed attempts. Try again in")
    assert exc.value.retry_after is not None and exc.value.retry_after > 0
    return exc.value


async def test_a_guesser_is_slowed_more_and_more_and_the_owner_elsewhere_never(
    db: str, clock: Clock
) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    for _ in range(5):
        await fail("ann@example.com", GUESSER)
    # Even the right password waits: the guesser must not learn it was right.
    refused = await throttled("ann@example.com", GUESSER)
    assert refused.message == "Too many failed attempts. Try again in 5 seconds."
    # Every failure after the wait doubles the next wait, up to 15 minutes.
    for expected in (5, 10, 20, 40, 80, 160, 320, 640, 900, 900):
        clock.advance(expected - 1)
        assert (await throttled("ann@example.com", GUESSER)).retry_after == pytest.approx(1)
        clock.advance(1)
        await fail("ann@example.com", GUESSER)
    assert (await throttled("ann@example.com", GUESSER)).message.endswith("in 15 minutes.")
    # All along, the owner at their own address was never refused, nor delayed.
    assert (await auth.login("ANN@example.com", PASSWORD, client_address=OWNER)).user.email == (
        "ann@example.com"
    )


async def test_success_resets_the_pair_but_a_guesser_keeps_its_count(db: str, clock: Clock) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    for _ in range(4):
        await fail("ann@example.com", OWNER)
    await auth.login("ann@example.com", PASSWORD, client_address=OWNER)
    for _ in range(5):  # a fresh allowance of typos after logging in
        await fail("ann@example.com", OWNER)
    await throttled("ann@example.com", OWNER)
    # The counter is forgotten a day after the last failure.
    clock.advance(24 * 3600)
    assert await auth.login("ann@example.com", PASSWORD, client_address=OWNER)


async def test_one_address_spraying_many_accounts_is_slowed(db: str, clock: Clock) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    for _ in range(20):
        await fail(unique_email("spray"), GUESSER, "guess1234")
    refused = await throttled("ann@example.com", GUESSER)
    assert refused.retry_after == pytest.approx(5)
    # The account itself is fine from anywhere else (and with no address known at all).
    assert await auth.login("ann@example.com", PASSWORD, client_address=OWNER)
    assert await auth.login("ann@example.com", PASSWORD)


async def test_guessing_from_many_addresses_is_slowed_without_locking_the_owner_out(
    db: str, clock: Clock
) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    await auth.login("ann@example.com", PASSWORD, client_address=OWNER)  # a known address
    throttle = auth.login_throttle()
    for i in range(110):  # a botnet: one guess from each of 110 addresses
        await throttle.record_failure("ann@example.com", f"192.0.2.{i}")
    # A new address waits on the account-wide bound: 1 s doubling, never more than a minute...
    refused = await throttled("ann@example.com", "192.0.2.200")
    assert 0 < (refused.retry_after or 0) <= 60
    # ...while the owner's own address is not held up by it at all.
    assert await auth.login("ann@example.com", PASSWORD, client_address=OWNER)
    # And an owner on a new address waits at most that minute, then gets in.
    clock.advance(60)
    assert await auth.login("ann@example.com", PASSWORD, client_address="192.0.2.201")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::7"),  # one /64: one counter
        ("::ffff:203.0.113.5", "203.0.113.5"),  # IPv4-mapped IPv6 is the IPv4 address
    ],
)
async def test_address_spellings_and_ipv6_neighbours_share_a_counter(
    db: str, clock: Clock, first: str, second: str
) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    for _ in range(5):
        await fail("ann@example.com", first)
    await throttled("ann@example.com", second)


@pytest.mark.parametrize(
    "email",
    ["a" * 300 + "@example.com", "ann\x00@example.com", "\ud800@example.com", "ﬁ" * 200],
    ids=["long", "nul", "surrogate", "expands-past-254"],
)
async def test_unusable_emails_are_counted_without_a_database_error(
    db: str, clock: Clock, email: str
) -> None:
    for _ in range(5):
        await fail(email, GUESSER)
    await throttled(email, GUESSER)


async def test_admin_clears_an_account_or_an_address(db: str, clock: Clock) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    await auth.register("bob@example.com", "Bob", PASSWORD)
    for _ in range(5):
        await fail("ann@example.com", GUESSER)
    for _ in range(20):
        await fail(unique_email("spray"), "2001:db8::5")
    await throttled("ann@example.com", GUESSER)
    await throttled("bob@example.com", "2001:db8::5")

    # The email in any spelling clears that account's counters, and only those.
    assert await auth.admin_clear_throttle("  ANN@Example.COM ") >= 2
    assert await auth.login("ann@example.com", PASSWORD, client_address=GUESSER)
    await throttled("bob@example.com", "2001:db8::5")
    # An address in any spelling clears that address's counters (its whole /64 for IPv6).
    assert await auth.admin_clear_throttle("2001:DB8:0::0:9") >= 1
    assert await auth.login("bob@example.com", PASSWORD, client_address="2001:db8::5")
    assert await auth.admin_clear_throttle("nobody@example.com") == 0
    for junk in ("", "   ", "not an address"):
        with pytest.raises(InvalidInput, match="email address or an IP address"):
            await auth.admin_clear_throttle(junk)


async def test_failures_from_concurrent_attempts_all_count(db: str, clock: Clock) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    throttle = auth.login_throttle()
    await asyncio.gather(*(throttle.record_failure("ann@example.com", GUESSER) for _ in range(12)))
    async with session_scope() as session:
        entry = await session.get(LoginThrottleEntry, ("pair", "ann@example.com", GUESSER))
    assert entry is not None and entry.failures == 12


async def test_expired_rows_are_purged(db: str, clock: Clock) -> None:
    throttle = auth.login_throttle()
    for i in range(10):
        await throttle.record_failure(f"gone{i}@example.com", GUESSER)
    clock.advance(24 * 3600 + 1)
    await throttle.record_failure("late@example.com", OWNER)
    async with session_scope() as session:
        rows = (await session.execute(select(LoginThrottleEntry))).scalars().all()
    assert {r.account for r in rows if r.kind == "pair"} == {"late@example.com"}
