"""bcrypt at its real cost must not freeze the event loop (every other user's stream runs on it).

A probe coroutine sleeps 5 ms in a loop and records how late it wakes up while 20 logins run
concurrently at BCRYPT_ROUNDS=12 (~0.2 s of CPU each). If any bcrypt call ran on the loop thread,
the probe would be late by a whole hash. It also records the CPU time the loop thread itself used
between two wake-ups (``time.thread_time``): unlike lateness, that number is not inflated when
other processes compete for the machine's cores, and a hash on the loop shows up in it in full.
Run with ``pytest -s`` to see the measured numbers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from chat_app.core import security
from chat_app.core.settings import get_settings
from chat_app.services import auth
from chat_app.services.errors import Refused
from tests.conftest import unique_email

PASSWORD = "correct horse battery"
CONCURRENT_LOGINS = 20
# A few are enough to catch the dummy hash being made on the loop (a ~200 ms stall at cost 12),
# and keep the run short: every cold login makes its own dummy hash before checking it.
UNKNOWN_EMAIL_LOGINS = 4
PROBE_INTERVAL = 0.005
MAX_STALL = 0.050
# A hash on the loop stalls it by a whole hash (~200 ms at cost 12) in every run; a busy machine
# (2 cores, other jobs) adds scheduler noise only now and then. So the burst is measured up to
# ATTEMPTS times and the best run must be under MAX_STALL: the bug fails every run, while noise
# has to hit all of them. (On a machine saturated by other jobs it still can: rerun when idle.)
ATTEMPTS = 3


@pytest.fixture
def real_bcrypt_cost(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BCRYPT_ROUNDS", "12")
    get_settings.cache_clear()
    security.dummy_hash.cache_clear()  # so the unknown-email path pays the real cost too
    yield
    security.dummy_hash.cache_clear()  # later tests get a cheap one again


async def measure(work: Callable[[], Awaitable[object]]) -> tuple[float, float, float, int]:
    """(max probe lateness, max loop-thread CPU between wake-ups, wall time, probe wake-ups)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    max_late = 0.0
    max_cpu = 0.0
    wakeups = 0

    async def probe() -> None:
        nonlocal max_late, max_cpu, wakeups
        while not stop.is_set():
            before, cpu_before = loop.time(), time.thread_time()
            await asyncio.sleep(PROBE_INTERVAL)
            max_late = max(max_late, loop.time() - before - PROBE_INTERVAL)
            max_cpu = max(max_cpu, time.thread_time() - cpu_before)
            wakeups += 1

    probe_task = asyncio.create_task(probe())
    await asyncio.sleep(PROBE_INTERVAL * 4)  # the probe is running before the work starts
    started = time.perf_counter()
    try:
        await work()
    finally:
        total = time.perf_counter() - started
        stop.set()
        await probe_task
    return max_late, max_cpu, total, wakeups


async def best_of(label: str, work: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Up to ATTEMPTS runs, printed; returns the best run's (max stall, wall time).

    What is asserted is the loop thread's own CPU burst: a hash on the loop shows up there in
    full, while wall-clock lateness also counts other processes competing for the 2 cores (it is
    printed, and measured under controlled conditions by the benchmarks, not asserted here).
    """
    best: tuple[float, float, float] | None = None
    for attempt in range(1, ATTEMPTS + 1):
        max_stall, max_cpu, total, wakeups = await measure(work)
        print(
            f"\n{label} (run {attempt}): total {total * 1000:.0f} ms, "
            f"max event-loop stall {max_stall * 1000:.1f} ms, "
            f"max loop-thread CPU burst {max_cpu * 1000:.1f} ms, {wakeups} probe wake-ups"
        )
        if best is None or max_cpu < best[1]:
            best = (max_stall, max_cpu, total)
        if max_cpu < MAX_STALL:
            break
    assert best is not None
    max_stall, max_cpu, total = best
    assert max_cpu < MAX_STALL, f"the event loop itself computed for {max_cpu * 1000:.0f} ms"
    return max_stall, total


async def test_concurrent_logins_do_not_stall_the_event_loop(
    db: str, real_bcrypt_cost: None
) -> None:
    email = unique_email()
    registered = await auth.register(email, "Ann", PASSWORD)
    assert registered.user.email == email
    results: list[auth.LoggedIn] = []

    async def logins() -> None:
        results.extend(
            await asyncio.gather(*(auth.login(email, PASSWORD) for _ in range(CONCURRENT_LOGINS)))
        )

    label = f"[{db.split(':')[0]}] {CONCURRENT_LOGINS} concurrent logins at bcrypt cost 12"
    _max_stall, total = await best_of(label, logins)
    assert len(results) % CONCURRENT_LOGINS == 0
    assert all(r.user.id == registered.user.id for r in results)
    # Sanity: the work really was expensive, so a small stall means it ran off the loop.
    assert total > 0.2


async def test_unknown_email_logins_do_not_stall_the_event_loop(
    db: str, real_bcrypt_cost: None
) -> None:
    # Unknown emails are checked against a dummy hash (same cost as a real one, so timing does
    # not reveal which emails exist); making that hash must not happen on the loop either.
    # Warm up the engine first: its first connection costs CPU on the loop, bcrypt aside.
    with pytest.raises(Refused):
        await auth.login(unique_email("warm-up"), PASSWORD)

    async def logins() -> None:
        security.dummy_hash.cache_clear()  # every run makes the dummy hash afresh
        outcomes = await asyncio.gather(
            *(auth.login(unique_email("nobody"), PASSWORD) for _ in range(UNKNOWN_EMAIL_LOGINS)),
            return_exceptions=True,
        )
        assert all(isinstance(o, Refused) for o in outcomes), outcomes

    label = (
        f"[{db.split(':')[0]}] {UNKNOWN_EMAIL_LOGINS} concurrent unknown-email logins at cost 12"
    )
    await best_of(label, logins)
    assert security.dummy_hash().startswith("$2b$12$")


# ---- a login ticket is single-use, even when redeemed concurrently (issue 8 #11) -------------

RACERS = 8


async def test_concurrent_redemptions_of_one_ticket_give_exactly_one_session(db: str) -> None:
    registered = await auth.register(unique_email(), "Ann", PASSWORD)
    # Each redemption runs on its own pooled connection; on PostgreSQL the losers' inserts wait
    # for the winner's commit and then fail on the primary key.
    outcomes = await asyncio.gather(
        *(auth.exchange_login_ticket(registered.ticket) for _ in range(RACERS))
    )
    tokens = [token for token in outcomes if token is not None]
    assert len(tokens) == 1, outcomes
    assert (await auth.resolve_session(tokens[0])).id == registered.user.id  # type: ignore[union-attr]
    # Later attempts fail too, and other tickets of the same user still work once each.
    assert await auth.exchange_login_ticket(registered.ticket) is None
    other = await auth.login(registered.user.email, PASSWORD)
    assert await auth.exchange_login_ticket(other.ticket) is not None
    assert await auth.exchange_login_ticket(other.ticket) is None
